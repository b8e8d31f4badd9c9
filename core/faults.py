"""Named crash points, for proving that a crash at any step loses nothing.

``STRATA_FAULT=name`` (or a comma list, each optionally ``name@N`` for the N-th time
the point is reached) makes the process die at that point exactly as a power cut or
``kill -9`` would: no ``finally`` blocks, no ``atexit``, no flushing of Python buffers.
The crash tests (``tests/e2e/test_crash*.py``) set it, run a command, and check that
the sysroot is still consistent and the same command then succeeds.

The variable is read once, at import: an unset variable costs one set lookup per point,
and a process cannot change its mind half-way through an operation. The names and where
they sit are listed in ``docs/reliability.md``.
"""

from __future__ import annotations

import os
import signal

ENV = "STRATA_FAULT"


def _parse(text: str) -> dict[str, int]:
    """``"a,b@3"`` -> ``{"a": 1, "b": 3}`` (the hit at which to die; bad counts mean 1)."""
    points: dict[str, int] = {}
    for item in text.split(","):
        name, _, count = item.strip().partition("@")
        if name:
            points[name] = int(count) if count.isdigit() and int(count) > 0 else 1
    return points


_armed: dict[str, int] = _parse(os.environ.get(ENV, ""))
_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Die at once (SIGKILL) when ``name`` is armed in ``STRATA_FAULT`` and its hit comes."""
    if name not in _armed:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= _armed[name]:
        os.kill(os.getpid(), signal.SIGKILL)
        os._exit(137)  # not reached: SIGKILL cannot be caught
