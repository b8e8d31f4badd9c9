"""The bubblewrap sandbox, RPM scriptlets and file triggers as data."""
