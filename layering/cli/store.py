"""The store verbs (like ``ostree``): repo init, commit, checkout, log, ls, diff, refs,
fsck, prune.

Every verb takes ``--repo PATH``; without it the sysroot's store (``--sysroot``) is used,
and ``prune`` then keeps every deployment's commit and holds the sysroot lock, as
``admin cleanup`` does. Output goes to stdout in ostree's shapes so scripts can parse it.
"""

from __future__ import annotations

import argparse
import stat
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import StoreError
from layering.cli.context import absolute_path

if TYPE_CHECKING:
    from core.store import Entry, Store
    from layering.cli.context import Context

EXIT_OK = 0
EXIT_PROBLEMS = 1


def _out(text: str) -> None:
    print(text, file=sys.stdout)


def _repo_path(args: argparse.Namespace, ctx: Context) -> Path:
    if args.repo is not None:
        return Path(args.repo)
    return ctx.sysroot / "ostree" / "repo"


def _open(args: argparse.Namespace, ctx: Context) -> Store:
    from core.store import Store  # noqa: PLC0415 - pygit2 only once a store verb runs

    return Store.open(_repo_path(args, ctx))


def _repo_init(args: argparse.Namespace, ctx: Context) -> int:
    from core.store import Store  # noqa: PLC0415 - pygit2 only once a store verb runs
    from core.store.repoconfig import RepoMode  # noqa: PLC0415 - see above

    store = Store.init(_repo_path(args, ctx), RepoMode(args.mode))
    ctx.progress.message(f"Initialized {store.mode.value} store {store.path}")
    return EXIT_OK


def _parse_metadata(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StoreError(
                f"Bad --add-metadata {item!r}", hint="write it as KEY=VALUE, e.g. version=1.2"
            )
        out[key] = value
    return out


def _commit(args: argparse.Namespace, ctx: Context) -> int:
    store = _open(args, ctx)
    metadata = _parse_metadata(args.add_metadata)
    src = Path(args.dir)
    if not src.is_dir():
        raise StoreError(f"Cannot commit {src}: not a directory", hint="pass a directory tree")
    parents = [store.refs()[args.branch]] if args.branch in store.refs() else []
    with ctx.progress.step(f"Committing {src}"):
        commit = store.commit_dir(
            src,
            branch=args.branch,
            subject=args.subject,
            metadata=metadata,
            parents=parents,
            timestamp=args.timestamp,
        )
    _out(commit)
    return EXIT_OK


def _checkout(args: argparse.Namespace, ctx: Context) -> int:
    store = _open(args, ctx)
    with ctx.progress.step(f"Checking out {args.ref}"):
        store.checkout(args.ref, Path(args.dir), hardlink=args.hardlink, subpath=args.subpath)
    return EXIT_OK


def _date(timestamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S +0000", time.gmtime(timestamp))


def _log(args: argparse.Namespace, ctx: Context) -> int:
    store = _open(args, ctx)
    for info in store.log(args.ref):
        _out(f"commit {info.id}")
        if info.parents:
            _out(f"Parent:  {info.parents[0]}")
        _out(f"Date:    {_date(info.timestamp)}")
        for key, value in sorted(info.metadata.items()):
            _out(f"Metadata: {key}={value}")
        _out("")
        for line in (info.subject or "(no subject)").splitlines():
            _out(f"    {line}")
        _out("")
    return EXIT_OK


def _format_entry(entry: Entry) -> str:
    from core.store import EntryKind  # noqa: PLC0415 - pygit2 only once a store verb runs

    type_char = {EntryKind.DIR: "d", EntryKind.SYMLINK: "l", EntryKind.FILE: "-"}[entry.kind]
    meta = entry.meta
    line = (
        f"{type_char}{stat.S_IMODE(meta.mode):05o} {meta.uid:>6} {meta.gid:>6} "
        f"{entry.size:>10} /{entry.path}"
    )
    if entry.kind is EntryKind.SYMLINK:
        line += f" -> {entry.target}"
    return line


def _ls(args: argparse.Namespace, ctx: Context) -> int:
    store = _open(args, ctx)
    path = args.path.strip("/")
    depth = path.count("/") + 1 if path else 0
    found = False
    for entry in store.walk(args.ref, path):
        found = True
        entry_depth = entry.path.count("/") + 1 if entry.path else 0
        if args.recursive or entry_depth <= depth + 1:
            _out(_format_entry(entry))
    if not found:
        raise StoreError(
            f"No such path {args.path!r} in {args.ref}",
            hint=f"list what is there with `strata ls --repo PATH {args.ref} /`",
        )
    return EXIT_OK


def _diff(args: argparse.Namespace, ctx: Context) -> int:
    store = _open(args, ctx)
    for change in store.diff(args.rev_a, args.rev_b):
        _out(f"{change.kind.value} /{change.path}")
    return EXIT_OK


def _refs(args: argparse.Namespace, ctx: Context) -> int:
    store = _open(args, ctx)
    for name, commit in store.refs(args.prefix).items():
        _out(f"{name} {commit}" if args.verbose else name)
    return EXIT_OK


def _fsck(args: argparse.Namespace, ctx: Context) -> int:
    store = _open(args, ctx)
    with ctx.progress.step(f"Verifying {store.path}"):
        problems = store.fsck()
    for problem in problems:
        _out(f"error: {problem}")
    if problems:
        ctx.progress.message(f"fsck: {len(problems)} problem(s) found")
        return EXIT_PROBLEMS
    ctx.progress.message("fsck: no problems found")
    return EXIT_OK


def _prune(args: argparse.Namespace, ctx: Context) -> int:
    if args.repo is None:
        from core.sysroot import Sysroot  # noqa: PLC0415 - only when pruning a sysroot

        sysroot = Sysroot.open(ctx.sysroot)
        with sysroot.lock():
            stats = sysroot.prune()
    else:
        store = _open(args, ctx)
        stats = store.prune()
    _out(
        f"Removed {stats.git_objects_removed} git objects and {stats.file_objects_removed} "
        f"file objects, freed {stats.bytes_freed} bytes"
    )
    return EXIT_OK


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    repo_opt = argparse.ArgumentParser(add_help=False)
    repo_opt.add_argument(
        "--repo",
        metavar="PATH",
        type=absolute_path,
        default=None,
        help="the store (default: the sysroot's)",
    )

    def verb(parent: Any, name: str, handler: Any, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(
            name, parents=[common, repo_opt], help=text, description=text
        )
        parser.set_defaults(func=handler)
        return parser

    repo = subparsers.add_parser("repo", parents=[common], help="manage a store")
    repo_verbs = repo.add_subparsers(dest="repo_verb", metavar="VERB")
    repo_verbs.required = True
    p = verb(repo_verbs, "init", _repo_init, "create an empty store (idempotent)")
    p.add_argument(
        "--mode",
        choices=("bare", "archive"),
        default="bare",
        help="bare: hardlink checkouts (default); archive: compressed objects to serve over HTTP",
    )

    p = verb(subparsers, "commit", _commit, "commit a directory tree; prints the commit id")
    p.add_argument("--branch", "-b", required=True, metavar="REF")
    p.add_argument("--subject", "-s", default="", metavar="TEXT")
    p.add_argument(
        "--add-metadata", action="append", default=[], metavar="KEY=VALUE", help="repeatable"
    )
    p.add_argument(
        "--timestamp", type=int, default=None, metavar="SECONDS", help="fixed commit time"
    )
    p.add_argument("dir", metavar="DIR")

    p = verb(subparsers, "checkout", _checkout, "check a commit out into a new directory")
    p.add_argument("--hardlink", "-H", action="store_true", help="hardlink from the store")
    p.add_argument("--subpath", default="", metavar="PATH", help="only this directory")
    p.add_argument("ref", metavar="REF")
    p.add_argument("dir", metavar="DIR")

    p = verb(subparsers, "log", _log, "show a commit and its ancestors")
    p.add_argument("ref", metavar="REF")

    p = verb(subparsers, "ls", _ls, "list a path of a commit: mode, uid, gid, size, path")
    p.add_argument("--recursive", "-R", action="store_true")
    p.add_argument("ref", metavar="REF")
    p.add_argument("path", metavar="PATH", nargs="?", default="")

    p = verb(subparsers, "diff", _diff, "added (A), modified (M), deleted (D) paths")
    p.add_argument("rev_a", metavar="REV_A")
    p.add_argument("rev_b", metavar="REV_B")

    p = verb(subparsers, "refs", _refs, "list refs")
    p.add_argument("prefix", metavar="PREFIX", nargs="?", default="")
    p.add_argument("--verbose", "-v", action="store_true", help="also print commit ids")

    verb(subparsers, "fsck", _fsck, "verify every reachable object; exit 1 naming each problem")
    verb(subparsers, "prune", _prune, "delete objects no ref (or deployment) reaches")
