"""The engine (install, uninstall, rebase, upgrade, reset, compose) and the CLI."""
