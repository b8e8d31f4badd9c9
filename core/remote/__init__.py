"""Remotes: fetching commits from a store served as static files (libostree's pull).

:mod:`.transport` speaks HTTP (and ``file://``) with retries, timeouts and a strict
redirect policy; :mod:`.pull` walks a remote commit and fetches what the local store lacks,
verifying each object against its id before it is used.
"""
