"""libsolv: base package set + repositories + requests -> a frozen transaction."""
