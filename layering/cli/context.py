"""What every verb module shares: the exit codes, the :class:`Context` and the handler type."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from core.progress import Progress

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNCHANGED = 77


@dataclass(frozen=True)
class Context:
    """What every verb needs besides its own arguments."""

    sysroot: Path
    osname: str | None
    debug: bool
    progress: Progress


Handler = Callable[[argparse.Namespace, Context], int]
Subparsers = argparse._SubParsersAction  # the type argparse gives add_subparsers()
