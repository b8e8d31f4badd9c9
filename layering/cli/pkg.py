"""The layering verbs of the CLI: install, uninstall, rebase, upgrade, rollback, reset,
override, status, cleanup.

Handlers parse nothing themselves and print only what the engine returns: results on
stdout, notices on stderr. Exit 77 means "nothing changed" when the user asked for it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from layering.cli.context import EXIT_OK, EXIT_UNCHANGED, EXIT_USAGE, Context, Subparsers

if TYPE_CHECKING:
    from core.sysroot import Sysroot
    from layering.engine.engine import Engine, Options, Result

# The parser is built for every command, so the engine (pygit2, rpm, libsolv, the fetcher:
# most of a command's start-up time) is imported only by the handlers that use it.


def _sysroot(ctx: Context) -> Sysroot:
    from core.sysroot import Sysroot  # noqa: PLC0415 - see above

    return Sysroot.open(ctx.sysroot)


def _engine(ctx: Context) -> Engine:
    from layering.engine.engine import Engine  # noqa: PLC0415 - see above

    return Engine(_sysroot(ctx), ctx.osname, ctx.progress)


def _options(args: argparse.Namespace) -> Options:
    from layering.engine.engine import Options  # noqa: PLC0415 - see above
    from layering.engine.solving import RepoChoice  # noqa: PLC0415 - see above

    return Options(
        dry_run=getattr(args, "dry_run", False),
        idempotent=getattr(args, "idempotent", False),
        allow_inactive=getattr(args, "allow_inactive", False),
        cache_only=getattr(args, "cache_only", False),
        download_only=getattr(args, "download_only", False),
        force_replacefiles=getattr(args, "force_replacefiles", False),
        repos=RepoChoice(
            toggles=tuple(getattr(args, "repo_toggles", None) or ()),
            releasever=getattr(args, "releasever", None),
        ),
    )


def _finish(result: Result, args: argparse.Namespace, ctx: Context) -> int:
    from layering.engine.engine import Outcome  # noqa: PLC0415 - see above

    if result.outcome is not Outcome.DEPLOYED:
        for notice in result.notices:
            ctx.progress.warning(notice)
    if result.text:
        print(result.text)
    sys.stdout.flush()
    if result.outcome is Outcome.UNCHANGED and getattr(args, "unchanged_exit_77", False):
        return EXIT_UNCHANGED
    return EXIT_OK


def _install(args: argparse.Namespace, ctx: Context) -> int:
    result = _engine(ctx).install(args.packages, _options(args), uninstall=args.uninstall or ())
    return _finish(result, args, ctx)


def _uninstall(args: argparse.Namespace, ctx: Context) -> int:
    if not args.packages and not args.all:
        print("strata uninstall: name packages to uninstall, or --all", file=sys.stderr)
        return EXIT_USAGE
    engine = _engine(ctx)
    result = engine.uninstall(args.packages, remove_all=args.all, opts=_options(args))
    return _finish(result, args, ctx)


def _rebase(args: argparse.Namespace, ctx: Context) -> int:
    edits = {"install": args.install or (), "uninstall": args.uninstall or ()}
    return _finish(_engine(ctx).rebase(args.ref, _options(args), **edits), args, ctx)


def _upgrade(args: argparse.Namespace, ctx: Context) -> int:
    edits = {"install": args.install or (), "uninstall": args.uninstall or ()}
    if args.trigger_automatic_update_policy:
        return _automatic(args, ctx)
    check = args.check or args.preview
    metadata_only = args.check and not args.preview  # a remote base: its commit object only
    result = _engine(ctx).upgrade(_options(args), check=check, metadata_only=metadata_only, **edits)
    code = _finish(result, args, ctx)
    if check and code == EXIT_OK:
        from layering.engine.engine import Outcome  # noqa: PLC0415 - see above

        if result.outcome is Outcome.UNCHANGED:
            return EXIT_UNCHANGED  # rpm-ostree: `upgrade --check` exits 77 with no update
    return code


def _automatic(args: argparse.Namespace, ctx: Context) -> int:
    """What the timer runs: the policy of /etc/strata/strata.conf decides (exit 0 unless
    the update itself fails, so a quiet day is not a failed unit)."""
    from layering.engine import autoupdate  # noqa: PLC0415 - see above

    engine = _engine(ctx)
    path = autoupdate.config_path(engine.sysroot, engine.osname)
    policy = autoupdate.read_policy(path)
    if policy is autoupdate.Policy.NONE:
        print("Automatic updates are not enabled (AutomaticUpdatePolicy=none); exiting.")
        return EXIT_OK
    result = engine.upgrade(
        _options(args),
        check=policy is autoupdate.Policy.CHECK,
        metadata_only=policy is autoupdate.Policy.CHECK,
    )
    _finish(result, args, ctx)
    return EXIT_OK


def _rollback(args: argparse.Namespace, ctx: Context) -> int:
    return _finish(_engine(ctx).rollback(), args, ctx)


def _reset(args: argparse.Namespace, ctx: Context) -> int:
    return _finish(_engine(ctx).reset(_options(args)), args, ctx)


def _override_remove(args: argparse.Namespace, ctx: Context) -> int:
    return _finish(_engine(ctx).override_remove(args.packages, _options(args)), args, ctx)


def _override_replace(args: argparse.Namespace, ctx: Context) -> int:
    return _finish(_engine(ctx).override_replace(args.packages, _options(args)), args, ctx)


def _override_reset(args: argparse.Namespace, ctx: Context) -> int:
    if not args.packages and not args.all:
        print("strata override reset: name packages, or --all", file=sys.stderr)
        return EXIT_USAGE
    engine = _engine(ctx)
    result = engine.override_reset(args.packages, reset_all=args.all, opts=_options(args))
    return _finish(result, args, ctx)


def _status(args: argparse.Namespace, ctx: Context) -> int:
    from layering.cli import status as status_mod  # noqa: PLC0415 - see above

    sysroot = _sysroot(ctx)
    if ctx.osname is not None:
        sysroot.osname(ctx.osname)  # `--os typo` is an error, not "(none)"
    problems: list[str] = []
    records = status_mod.collect(sysroot, ctx.osname, problems)
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps(status_mod.to_json(records), indent=2))
    else:
        busy = status_mod.lock_holder(sysroot.path / "ostree" / "lock")
        print(status_mod.to_text(records, verbose=args.verbose, busy_pid=busy))
    return EXIT_OK


def _cleanup(args: argparse.Namespace, ctx: Context) -> int:
    from layering.engine import cleanup as cleaning  # noqa: PLC0415 - see above

    sysroot = _sysroot(ctx)
    report = cleaning.CleanupReport()
    with sysroot.lock():
        with ctx.progress.step("Pruning"):
            # Deployments go first, so their packages count as unused below.
            removed = sysroot.cleanup(pending=args.pending, rollback=args.rollback)
        caches = []
        if args.repomd:
            for name in ("repomd", "pkgs"):
                if cleaning.drop_dir(sysroot.repo.path / "cache" / name):
                    caches.append(f"cache/{name}")
        if args.base:
            with ctx.progress.step("Removing unused package caches"):
                report = cleaning.drop_unused_packages(sysroot)
                sysroot.prune()
            caches += cleaning.drop_checkouts(sysroot)
    report = cleaning.CleanupReport(
        report.package_refs, report.local_refs, tuple(caches), tuple(removed)
    )
    print(report.text())
    return EXIT_OK


def _flag(parser: argparse.ArgumentParser, name: str, text: str) -> None:
    parser.add_argument(name, action="store_true", help=text)


class _RepoToggle(argparse.Action):
    """--enablerepo/--disablerepo into one ordered list, as dnf applies them in order
    (``--disablerepo='*' --enablerepo=mine``); a value may list several ids, comma-separated."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        items = list(getattr(namespace, self.dest, None) or ())
        for pattern in str(values).split(","):
            if not pattern.strip():
                parser.error(f"{option_string}: empty repo id")
            items.append((self.const, pattern.strip()))
        setattr(namespace, self.dest, items)


def _edit_flags(parser: argparse.ArgumentParser, *, install: bool = True) -> None:
    """rpm-ostree's package edits riding along another change, in the same transaction."""
    if install:
        parser.add_argument(
            "--install",
            action="append",
            metavar="PKG",
            help="also layer PKG (a name or .rpm file) in the same transaction; repeatable",
        )
    parser.add_argument(
        "--uninstall",
        action="append",
        metavar="PKG",
        help="also remove the layered request PKG in the same transaction; repeatable",
    )


def _repo_flags(parser: argparse.ArgumentParser) -> None:
    for name, action in (("--enablerepo", "enable"), ("--disablerepo", "disable")):
        parser.add_argument(
            name,
            dest="repo_toggles",
            action=_RepoToggle,
            const=action,
            metavar="ID",
            help=f"{action} repos whose id matches ID (a glob) for this operation only",
        )
    parser.add_argument(
        "--releasever",
        metavar="V",
        type=_releasever,
        help="$releasever of the repo files for this operation",
    )


def _releasever(value: str) -> str:
    if not value or any(c.isspace() or c in "/$" for c in value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a release version (one word)")
    return value


def _change_flags(
    parser: argparse.ArgumentParser, *, full: bool = False, fetching: bool = False
) -> None:
    _flag(parser, "--dry-run", "print the transaction, change nothing")
    _flag(parser, "--unchanged-exit-77", "exit 77 when nothing changed")
    _flag(parser, "--cache-only", "use only cached repo metadata and packages")
    if full:
        _flag(parser, "--idempotent", "do nothing for requests already (not) present")
        _flag(parser, "--allow-inactive", "allow requests the base already provides")
    if full or fetching:
        _flag(parser, "--download-only", "download packages, do not deploy")


def register(
    subparsers: Subparsers[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    def verb(name: str, text: str) -> argparse.ArgumentParser:
        return subparsers.add_parser(name, parents=[common], help=text, description=text)

    p = verb("install", "layer packages (names or .rpm files) on the base")
    p.add_argument("packages", nargs="+", metavar="PKG")
    _change_flags(p, full=True)
    _edit_flags(p, install=False)
    _flag(p, "--force-replacefiles", "let these packages replace files others provide")
    _repo_flags(p)
    p.set_defaults(func=_install, spare_after=True)

    p = verb("uninstall", "remove layered packages")
    p.add_argument("packages", nargs="*", metavar="PKG")
    _flag(p, "--all", "remove every layered package")
    _change_flags(p, full=True)
    _repo_flags(p)
    p.set_defaults(func=_uninstall, spare_after=True)

    p = verb("rebase", "switch to another base ref, keeping the layered packages")
    p.add_argument("ref", metavar="REF")
    _change_flags(p, full=True)
    _edit_flags(p)
    _repo_flags(p)
    p.set_defaults(func=_rebase, spare_after=True)

    p = verb("upgrade", "newest commit of the base ref and newest layered packages")
    _flag(p, "--check", "only report whether an update is available")
    _flag(p, "--preview", "only print what an upgrade would change, package by package")
    _flag(
        p,
        "--trigger-automatic-update-policy",
        "do what AutomaticUpdatePolicy in /etc/strata/strata.conf says (none, check, stage)",
    )
    _change_flags(p, full=True)
    _edit_flags(p)
    _repo_flags(p)
    p.set_defaults(func=_upgrade, spare_after=True)

    p = verb("rollback", "make the previous deployment the default again")
    p.set_defaults(func=_rollback, spare_after=True)

    p = verb("reset", "drop every layered package and override")
    _change_flags(p)
    p.set_defaults(func=_reset, spare_after=True)

    _register_override(verb("override", "remove or replace packages of the base"), common)

    p = verb("status", "the deployments, their bases and layered packages")
    _flag(p, "--json", "machine-readable output")
    _flag(p, "--verbose", "more detail")
    p.set_defaults(func=_status)

    p = verb("cleanup", "drop deployments and caches no longer needed")
    # rpm-ostree's short forms too: `cleanup -p`, `-r`, `-b`, `-m`
    p.add_argument(
        "--base", "-b", action="store_true", help="drop package caches no deployment uses"
    )
    p.add_argument("--pending", "-p", action="store_true", help="drop the pending deployment")
    p.add_argument("--rollback", "-r", action="store_true", help="drop the rollback deployment")
    p.add_argument(
        "--repomd", "-m", action="store_true", help="drop cached repo metadata and downloads"
    )
    p.set_defaults(func=_cleanup)


def _register_override(p: argparse.ArgumentParser, common: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="override_verb", metavar="ACTION")
    sub.required = True
    o = sub.add_parser("remove", parents=[common], help="remove base packages")
    o.add_argument("packages", nargs="+", metavar="PKG")
    _change_flags(o)
    _repo_flags(o)
    o.set_defaults(func=_override_remove, spare_after=True)
    o = sub.add_parser("replace", parents=[common], help="replace base packages by local RPMs")
    o.add_argument("packages", nargs="+", metavar="FILE.rpm")
    _change_flags(o)
    _repo_flags(o)
    o.set_defaults(func=_override_replace, spare_after=True)
    o = sub.add_parser("reset", parents=[common], help="undo overrides")
    o.add_argument("packages", nargs="*", metavar="PKG")
    _flag(o, "--all", "undo every override")
    _change_flags(o)
    _repo_flags(o)
    o.set_defaults(func=_override_reset, spare_after=True)
