"""What every verb module shares: the exit codes, the :class:`Context` and the handler type."""

from __future__ import annotations

import argparse
import os
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


def absolute_path(text: str) -> Path:
    """An argparse ``type`` for paths: made absolute once, at parsing, so a relative
    ``--sysroot`` or ``--repo`` means the same directory to every step (and to rpm and
    libsolv, which resolve against whatever directory they run in)."""
    return Path(os.path.abspath(text))


Handler = Callable[[argparse.Namespace, Context], int]
Subparsers = argparse._SubParsersAction  # the type argparse gives add_subparsers()
