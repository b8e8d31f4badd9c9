"""``strata kargs``: print or change kernel arguments, like ``rpm-ostree kargs``.

A change is a new deployment of the first deployment's commit with the edited
arguments (no solver, no rpm work), staged while a deployment is booted. Edits apply
in the order given; any edit that cannot apply (deleting an absent argument) fails
the whole command before anything is written. The flag helpers are shared with
``admin deploy --karg``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from layering.cli.context import EXIT_OK, EXIT_UNCHANGED, Context

if TYPE_CHECKING:
    from core.sysroot.kargs import KargEdit

# flag -> KargOp value (core.sysroot.kargs.KargOp, imported only when a verb runs)
KARGS_FLAGS = {
    "--append": "append",
    "--append-if-missing": "append-if-missing",
    "--delete": "delete",
    "--delete-if-present": "delete-if-present",
    "--replace": "replace",
}
DEPLOY_FLAGS = {"--karg": "set", "--karg-append": "append", "--karg-delete": "delete"}


class _Collect(argparse.Action):
    """Every karg flag appends (op, argument) to one list, so edits keep their order."""

    def __call__(
        self, parser: argparse.ArgumentParser, ns: argparse.Namespace, value: Any, _opt: Any = None
    ) -> None:
        edits = list(getattr(ns, self.dest, None) or [])
        edits.append((self.const, str(value)))
        setattr(ns, self.dest, edits)


def add_flags(
    parser: argparse.ArgumentParser, flags: dict[str, str], helps: dict[str, str]
) -> None:
    for flag, op in flags.items():
        parser.add_argument(
            flag,
            dest="karg_edits",
            action=_Collect,
            const=op,
            metavar="KEY[=VALUE]",
            help=helps[op],
        )


def edits_of(args: argparse.Namespace) -> list[KargEdit]:
    from core.sysroot.kargs import KargEdit, KargOp  # noqa: PLC0415 - only when a verb runs

    pairs: Sequence[tuple[str, str]] = getattr(args, "karg_edits", None) or []
    return [KargEdit(KargOp(op), arg) for op, arg in pairs]


def _kargs(args: argparse.Namespace, ctx: Context) -> int:
    from core.sysroot import Sysroot  # noqa: PLC0415 - pygit2 only once a verb runs

    sysroot = Sysroot.open(ctx.sysroot)
    osname = sysroot.osname(ctx.osname)
    edits = edits_of(args)
    if not edits:
        deployments = [d for d in sysroot.deployments() if d.osname == osname]
        shown = next((d for d in deployments if d.booted), None) or next(
            (d for d in deployments if not d.staged), None
        )
        if shown is None:
            ctx.progress.message(f"Nothing is deployed in stateroot {osname}")
            return EXIT_OK
        print(sysroot.kargs_of(shown))
        return EXIT_OK
    with ctx.progress.step("Changing kernel arguments"):
        deployment = sysroot.change_kargs(osname, edits)
    if deployment is None:
        print("Kernel arguments unchanged.")
        return EXIT_UNCHANGED if args.unchanged_exit_77 else EXIT_OK
    state = "staged" if deployment.staged else "the default"
    print(f"Kernel arguments updated: {sysroot.kargs_of(deployment)}")
    print(f"Deployment {deployment.id} is {state}. Run 'reboot' to start using it.")
    sys.stdout.flush()
    return EXIT_OK


HELPS = {
    "append": "append an argument (even if the key is present)",
    "append-if-missing": "append an argument unless its key is present",
    "delete": "delete KEY (one value) or KEY=VALUE; an error if absent",
    "delete-if-present": "delete KEY or KEY=VALUE when present",
    "replace": "KEY=VALUE (the key has one value) or KEY=OLD=NEW",
    "set": "set KEY=VALUE, replacing every value of KEY",
}


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "kargs",
        parents=[common],
        help="print or change kernel arguments (like `rpm-ostree kargs`)",
        description="Print the kernel arguments of the booted (else default) deployment, or "
        "make a new deployment of the same commit with changed ones.",
    )
    parser.set_defaults(func=_kargs, spare_after=True)
    add_flags(parser, KARGS_FLAGS, HELPS)
    parser.add_argument(
        "--unchanged-exit-77", action="store_true", help="exit 77 when nothing changed"
    )
