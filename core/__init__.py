"""The content-addressed store (pygit2) and the sysroot. Knows nothing about RPM."""
