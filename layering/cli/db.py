"""``strata db list`` and ``strata db diff``: the packages of commits, read from their rpmdb.

Both read a commit's own rpmdb from the store (never the host's), so they work on
any commit: a deployment, a composed base, a package-cache commit. Without a rev
they default as rpm-ostree does: ``list`` the booted deployment (else the default
one), ``diff`` the booted deployment against the pending (first) one, and with one
rev the booted deployment against that rev.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from core.errors import ConfigError
from layering.cli.context import EXIT_OK, Context, Subparsers, absolute_path

if TYPE_CHECKING:
    from core.store import Store

# The parser is built for every command, so rpm and pygit2 are imported only by the
# functions that use them.


def _store_and_defaults(args: argparse.Namespace, ctx: Context) -> tuple[Store, list[str]]:
    """The store to read, and the default revs: [booted-or-default, pending]."""
    if args.repo is not None:
        from core.store import Store  # noqa: PLC0415 - see the top of the module

        return Store.open(args.repo), []
    from core.sysroot import Sysroot  # noqa: PLC0415 - see the top of the module

    sysroot = Sysroot.open(ctx.sysroot)
    deployments = sysroot.deployments()
    if ctx.osname is not None:
        sysroot.osname(ctx.osname)  # a stateroot that does not exist is an error
        deployments = [d for d in deployments if d.osname == ctx.osname]
    if not deployments:
        return sysroot.repo, []
    booted = next((d for d in deployments if d.booted), None)
    current = booted or (deployments[1] if len(deployments) > 1 else deployments[0])
    listed = booted or deployments[0]
    return sysroot.repo, [listed.checksum, current.checksum, deployments[0].checksum]


def _need_rev(what: str) -> ConfigError:
    return ConfigError(
        f"db {what}: no revision given and no deployment to default to",
        hint="name a ref or commit (e.g. 'strata db list --repo PATH REF')",
    )


def _list(args: argparse.Namespace, ctx: Context) -> int:
    from layering.rpm.headers import read_packages  # noqa: PLC0415 - see the top of the module

    store, defaults = _store_and_defaults(args, ctx)
    revs = list(args.revs) or defaults[:1]
    if not revs:
        raise _need_rev("list")
    for rev in revs:
        commit = store.resolve(rev)
        if len(revs) > 1:
            print(f"{rev} ({commit}):")
        for pkg in sorted(read_packages(store, commit), key=lambda p: p.nevra):
            print(f"  {pkg.nevra}" if len(revs) > 1 else pkg.nevra)
    return EXIT_OK


def _diff(args: argparse.Namespace, ctx: Context) -> int:
    from layering.rpm.headers import read_packages  # noqa: PLC0415 - see the top of the module
    from layering.rpm.pkgdiff import diff_packages, render_diff  # noqa: PLC0415 - as above

    store, defaults = _store_and_defaults(args, ctx)
    if args.rev_a is not None and args.rev_b is not None:
        rev_a, rev_b = args.rev_a, args.rev_b
    elif args.rev_a is not None:
        if not defaults:
            raise _need_rev("diff")
        rev_a, rev_b = defaults[0], args.rev_a
    else:
        if not defaults:
            raise _need_rev("diff")
        rev_a, rev_b = defaults[1], defaults[2]
    commit_a, commit_b = store.resolve(rev_a), store.resolve(rev_b)
    print(f"ostree diff commit from: {rev_a} ({commit_a})")
    print(f"ostree diff commit to:   {rev_b} ({commit_b})")
    diff = diff_packages(
        (p.nevra for p in read_packages(store, commit_a)),
        (p.nevra for p in read_packages(store, commit_b)),
    )
    print("\n".join(render_diff(diff)) if not diff.empty else "No package changes.")
    return EXIT_OK


def register(
    subparsers: Subparsers[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    text = "query the rpm database of commits"
    p = subparsers.add_parser("db", parents=[common], help=text, description=text)
    sub = p.add_subparsers(dest="db_verb", metavar="ACTION")
    sub.required = True
    repo_help = "read this store directly instead of the sysroot's"
    text = "the packages (NEVRAs) of commits; default: the booted, else the default deployment"
    q = sub.add_parser("list", parents=[common], help=text, description=text)
    q.add_argument("--repo", type=absolute_path, default=None, help=repo_help)
    q.add_argument("revs", nargs="*", metavar="REV")
    q.set_defaults(func=_list)
    text = "added, removed, upgraded and downgraded packages between two commits"
    q = sub.add_parser("diff", parents=[common], help=text, description=text)
    q.add_argument("--repo", type=absolute_path, default=None, help=repo_help)
    q.add_argument("rev_a", nargs="?", metavar="REV_A")
    q.add_argument("rev_b", nargs="?", metavar="REV_B")
    q.set_defaults(func=_diff)
