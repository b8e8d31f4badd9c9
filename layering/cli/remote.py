"""Publishing and remotes (like ``ostree pull-local``, ``summary``, ``sign``, ``remote``,
``pull``).

``--repo`` defaults to the sysroot's store. Pulling into the sysroot's store takes the
sysroot lock (a concurrent prune must not remove what a pull is writing).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import StoreError
from layering.cli.context import EXIT_OK

if TYPE_CHECKING:
    from core.store import Store
    from layering.cli.context import Context


def _out(text: str) -> None:
    print(text, file=sys.stdout)


def _repo_path(args: argparse.Namespace, ctx: Context) -> Path:
    return Path(args.repo) if args.repo is not None else ctx.sysroot / "ostree" / "repo"


def _open(args: argparse.Namespace, ctx: Context) -> Store:
    from core.store import Store  # noqa: PLC0415 - pygit2 only once a verb runs

    return Store.open(_repo_path(args, ctx))


@contextmanager
def _locked(args: argparse.Namespace, ctx: Context) -> Iterator[None]:
    """The sysroot lock when the store is the sysroot's, nothing for a plain store."""
    if args.repo is not None:
        yield
        return
    from core.sysroot import Sysroot  # noqa: PLC0415 - see above

    with Sysroot.open(ctx.sysroot).lock():
        yield


def _pull_local(args: argparse.Namespace, ctx: Context) -> int:
    from core.store import Store  # noqa: PLC0415 - see above
    from core.store.pulllocal import pull_local  # noqa: PLC0415 - see above

    src = Store.open(Path(args.src))
    with _locked(args, ctx):
        dst = _open(args, ctx)
        moved = pull_local(dst, src, args.refs, ctx.progress)
    for name, commit in moved.items():
        _out(f"{name} {commit}")
    return EXIT_OK


def _summary(args: argparse.Namespace, ctx: Context) -> int:
    from core.store import summary  # noqa: PLC0415 - see above

    store = _open(args, ctx)
    if args.update:
        listed = summary.update(store, args.sign_key)
    else:
        try:
            data = (store.path / summary.SUMMARY).read_bytes()
        except FileNotFoundError as err:
            raise StoreError(
                f"{store.path} has no summary", hint="write one with `strata summary --update`"
            ) from err
        listed = summary.parse(data, str(store.path / summary.SUMMARY))
    for name, entry in listed.items():
        version = f" version={entry.version}" if entry.version else ""
        _out(f"{name} {entry.commit} timestamp={entry.timestamp}{version}")
    return EXIT_OK


def _sign(args: argparse.Namespace, ctx: Context) -> int:
    from core.store import signing  # noqa: PLC0415 - cryptography only for this verb

    if args.generate_key is not None:
        secret, public = signing.generate_key(Path(args.generate_key))
        _out(f"Secret key: {secret}")
        _out(f"Public key: {public}")
        return EXIT_OK
    if args.commit is None or args.key is None:
        raise StoreError(
            "Nothing to do", hint="strata sign --repo PATH COMMIT --key FILE, or --generate-key DIR"
        )
    store = _open(args, ctx)
    commit = store.resolve(args.commit)
    sign_commit(store, commit, Path(args.key))
    _out(f"Signed {commit}")
    return EXIT_OK


def sign_commit(store: Store, commit: str, key_file: Path) -> None:
    """Add an ed25519 signature over ``commit``'s bytes (compose tree --sign-key too)."""
    from core.store import signing  # noqa: PLC0415 - see above
    from core.store.gitpack import OBJ_COMMIT  # noqa: PLC0415 - see above

    key = signing.load_secret(key_file)
    data = store.reader.read(bytes.fromhex(commit), OBJ_COMMIT)
    signing.add_commit_signature(store.objects.root, commit, signing.sign(key, data))


def _remote_add(args: argparse.Namespace, ctx: Context) -> int:
    from core.remote import transport  # noqa: PLC0415 - see above
    from core.store import repoconfig, signing  # noqa: PLC0415 - see above

    store = _open(args, ctx)
    transport.check_url(args.url)
    keys: tuple[str, ...] = ()
    if args.sign_verify_key is not None:
        keys = signing.load_public_keys(Path(args.sign_verify_key))
    options = dict(_option(item) for item in args.set)
    remote = repoconfig.Remote(args.name, args.url, bool(keys), keys, options)
    repoconfig.add_remote(store.path, remote)
    if not keys and not args.no_sign_verify:
        ctx.progress.warning(
            f"remote {args.name!r} verifies no signatures; pass --sign-verify-key FILE "
            "(or --no-sign-verify to say that is intended)"
        )
    return EXIT_OK


def _option(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    allowed = ("timeout", "connections", "retries")
    if not sep or key not in allowed or not value.isdigit():
        raise StoreError(
            f"Bad --set {item!r}", hint=f"use KEY=NUMBER with KEY one of {', '.join(allowed)}"
        )
    return key, value


def _remote_list(args: argparse.Namespace, ctx: Context) -> int:
    from core.store import repoconfig  # noqa: PLC0415 - see above

    store = _open(args, ctx)
    for remote in repoconfig.remotes(store.path).values():
        _out(f"{remote.name} {remote.url}" if args.show_urls else remote.name)
    return EXIT_OK


def _remote_delete(args: argparse.Namespace, ctx: Context) -> int:
    from core.store import repoconfig  # noqa: PLC0415 - see above

    store = _open(args, ctx)
    if args.if_exists and args.name not in repoconfig.remotes(store.path):
        return EXIT_OK
    repoconfig.delete_remote(store.path, args.name)
    return EXIT_OK


def _remote_refs(args: argparse.Namespace, ctx: Context) -> int:
    from core.remote.pull import remote_summary  # noqa: PLC0415 - see above

    store = _open(args, ctx)
    for name, entry in remote_summary(store, args.name).items():
        _out(f"{args.name}:{name} {entry.commit}" if args.verbose else f"{args.name}:{name}")
    return EXIT_OK


def _pull(args: argparse.Namespace, ctx: Context) -> int:
    from core.remote.pull import PullOptions, pull, split_refspec  # noqa: PLC0415 - see above

    remote, refs = split_refspec(args.remote, args.refs)
    opts = PullOptions(commit_only=args.commit_metadata_only, timeout=args.timeout)
    with _locked(args, ctx) if args.repo is None else nullcontext():
        store = _open(args, ctx)
        for ref in refs:
            result = pull(store, remote, ref, ctx.progress, opts)
            _out(f"{remote}:{ref} {result.commit}")
    return EXIT_OK


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    repo_opt = argparse.ArgumentParser(add_help=False)
    repo_opt.add_argument(
        "--repo", metavar="PATH", default=None, help="the store (default: the sysroot's)"
    )

    def verb(parent: Any, name: str, handler: Any, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = parent.add_parser(
            name, parents=[common, repo_opt], help=text, description=text
        )
        parser.set_defaults(func=handler)
        return parser

    p = verb(subparsers, "pull-local", _pull_local, "copy commits between local stores")
    p.add_argument("src", metavar="SRC", help="the store to copy from")
    p.add_argument("refs", nargs="+", metavar="REF")

    p = verb(subparsers, "summary", _summary, "the index of refs a client reads first")
    p.add_argument("--update", "-u", action="store_true", help="regenerate it")
    p.add_argument("--sign-key", type=Path, metavar="FILE", help="sign it with this key")

    p = verb(subparsers, "sign", _sign, "sign a commit (ed25519), or make a key pair")
    p.add_argument("commit", nargs="?", metavar="COMMIT")
    p.add_argument("--key", metavar="FILE", help="the secret key (strata-sign.key)")
    p.add_argument(
        "--generate-key", metavar="DIR", help="write DIR/strata-sign.key and DIR/strata-sign.pub"
    )

    p = subparsers.add_parser("remote", parents=[common], help="manage remotes")
    sub = p.add_subparsers(dest="remote_verb", metavar="ACTION")
    sub.required = True
    q = verb(sub, "add", _remote_add, "add a remote: NAME URL")
    q.add_argument("name", metavar="NAME")
    q.add_argument("url", metavar="URL", help="http://, https:// or file:// URL of a store")
    keys = q.add_mutually_exclusive_group()
    keys.add_argument("--sign-verify-key", metavar="FILE", help="trusted ed25519 public key(s)")
    keys.add_argument("--no-sign-verify", action="store_true", help="trust it unsigned")
    q.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="timeout (seconds), connections, retries",
    )
    q = verb(sub, "list", _remote_list, "list remotes")
    q.add_argument("--show-urls", "-u", action="store_true", help="also print URLs")
    q = verb(sub, "delete", _remote_delete, "delete a remote")
    q.add_argument("--if-exists", action="store_true", help="no error if it does not exist")
    q.add_argument("name", metavar="NAME")
    q = verb(sub, "refs", _remote_refs, "list the refs a remote publishes (its summary)")
    q.add_argument("--verbose", "-v", action="store_true", help="also print commit ids")
    q.add_argument("name", metavar="NAME")

    p = verb(subparsers, "pull", _pull, "fetch commits from a remote, verified and resumable")
    p.add_argument("remote", metavar="REMOTE", help="a remote name, or REMOTE:REF")
    p.add_argument("refs", nargs="*", metavar="REF")
    p.add_argument(
        "--commit-metadata-only", action="store_true", help="only the commit, no ref moves"
    )
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS", help="per request")
