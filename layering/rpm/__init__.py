"""RPM handling: headers, import into the store, path rules, the union, assembly, rpmdb, users."""
