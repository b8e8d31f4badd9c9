"""The ``strata`` command line: argparse, one module per group of verbs.

Each verb module exposes ``register(subparsers, common)``; a verb's handler takes the
parsed arguments and a :class:`Context` and returns an exit code. Only this module
turns :class:`core.errors.StrataError` into messages and exit codes.

Every command builds the whole parser, so verb modules import what their handlers use
(pygit2, rpm, libsolv, yaml, the engine) inside the handlers: ``strata --help`` and a usage
error then cost the interpreter and argparse, and each verb loads only its own machinery
(tests/unit/test_cli_startup.py keeps it so).
"""

from __future__ import annotations

import argparse
import errno
import os
import select
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from core.errors import StrataError
from core.progress import JsonProgress, Progress, TextProgress
from core.settings import check_environment
from layering.cli import admin, compose, db, kargs, pkg, remote, store
from layering.cli.context import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    Context,
    Handler,
    absolute_path,
)

if TYPE_CHECKING:
    from layering.cli.spare_jobs import SpareMode


def _add_globals(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    def default(value: object) -> object:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument(
        "--sysroot",
        type=absolute_path,
        default=default(Path("/")),
        help="operate on the sysroot at DIR",
    )
    parser.add_argument("--os", dest="osname", default=default(None), help="the stateroot")
    parser.add_argument(
        "--debug", action="store_true", default=default(False), help="full tracebacks"
    )
    parser.add_argument(
        "--json-progress",
        action="store_true",
        default=default(False),
        help="progress as JSON lines on stderr",
    )


# The verb modules, in help order; each exposes ``register(subparsers, common)``.
VERB_MODULES: tuple[ModuleType, ...] = (store, remote, compose, admin, pkg, kargs, db)


class _Version(argparse.Action):
    """``strata --version``: the installed package's version (read only when asked)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            text = version("strata")
        except PackageNotFoundError:
            text = "unknown (not installed as a package)"
        print(f"strata {text}")
        parser.exit(0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="strata",
        description="Hybrid image/package system for immutable Linux hosts.",
    )
    parser.add_argument("--version", action=_Version)
    _add_globals(parser, suppress=False)
    common = argparse.ArgumentParser(add_help=False)
    _add_globals(common, suppress=True)
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    subparsers.required = True
    for module in VERB_MODULES:
        module.register(subparsers, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code) if isinstance(exit_.code, int) else EXIT_USAGE
    progress: Progress = JsonProgress() if args.json_progress else TextProgress()
    ctx = Context(sysroot=args.sysroot, osname=args.osname, debug=args.debug, progress=progress)
    handler: Handler = args.func
    try:
        check_environment()  # a malformed setting fails before anything is read or changed
        spare = _spare_mode(args)
        code = handler(args, ctx)
        sys.stdout.flush()  # a reader that went away is seen here, not at interpreter exit
        if spare is not None and code == EXIT_OK:
            from layering.cli.spare_jobs import after_command  # noqa: PLC0415 - mutating verbs only

            after_command(ctx.sysroot, spare)
        return code
    except StrataError as err:
        if args.debug:
            _print_traceback()
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except OSError as err:
        if isinstance(err, BrokenPipeError) and _stdout_reader_gone():
            # `strata db list | head`: the reader has what it wanted. End quietly, as a C
            # tool killed by SIGPIPE does (the shell sees 128 + SIGPIPE); never flush again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 128 + signal.SIGPIPE
        return _os_error(err, args.debug)


def _os_error(err: OSError, debug: bool) -> int:
    # The system refused a write or read no library call turned into a StrataError
    # (a full disk while writing objects, most often): say so, never a traceback.
    if debug:
        _print_traceback()
    print(f"error: {os_error_text(err)}", file=sys.stderr)
    return EXIT_ERROR


def _stdout_reader_gone() -> bool:
    """Whether standard output is a pipe nobody reads any more (poll reports POLLERR
    on such a pipe's write end); a broken pipe of our own, to a script, is an error."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError):
        return False


def _spare_mode(args: argparse.Namespace) -> SpareMode | None:
    """How to replace the spare checkout after this verb (None: it changes no deployment).
    Read before the verb runs, so a bad ``STRATA_SPARE`` fails with nothing changed."""
    if not getattr(args, "spare_after", False):
        return None
    if any(getattr(args, flag, False) for flag in ("dry_run", "download_only", "check")):
        return None
    from layering.cli.spare_jobs import before_command  # noqa: PLC0415 - mutating verbs only

    return before_command()


def _print_traceback() -> None:
    import traceback  # noqa: PLC0415 - only --debug on an error needs it; keeps start-up short

    traceback.print_exc()


def os_error_text(err: OSError) -> str:
    """What failed and on which file, with a hint; full and read-only disks get their own."""
    where = f" ({err.filename})" if err.filename else ""
    what = f"{err.strerror or err}{where}"
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        hint = "free space on that filesystem (or run `strata cleanup --base`) and retry"
    elif err.errno == errno.EROFS:
        hint = "the sysroot must be writable: remount it read-write, or use --sysroot"
    else:
        hint = "run again with --debug to see where it happened"
    return f"{what}\n  hint: {hint}; a half-done change is cleaned up by the next command"
