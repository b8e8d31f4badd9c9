"""The layering engine: requests, planning, fetching, compose, cleanup."""
