"""``strata compose tree --repo PATH TREEFILE.yaml``: build a base commit, print its id."""

from __future__ import annotations

import argparse
import sys

from layering.cli.context import EXIT_OK, EXIT_UNCHANGED, Context, Subparsers, absolute_path


def _tree(args: argparse.Namespace, ctx: Context) -> int:
    # The parser is built for every command; what composing needs (pygit2, yaml, rpm,
    # libsolv) is imported only when it runs.
    from core.store import Store  # noqa: PLC0415
    from layering.engine import treefile as treefile_mod  # noqa: PLC0415
    from layering.engine.compose import compose_tree  # noqa: PLC0415

    # Validate the treefile before touching (or creating) anything.
    tf = treefile_mod.load(args.treefile)
    if args.sign_key is not None:
        from core.store import signing  # noqa: PLC0415 - cryptography only when signing

        signing.load_secret(args.sign_key)  # a bad key fails before the compose
    store = Store.open(args.repo)
    result = compose_tree(store, tf, progress=ctx.progress)
    if args.sign_key is not None:
        from layering.cli.remote import sign_commit  # noqa: PLC0415 - see above

        sign_commit(store, result.commit, args.sign_key)
    ctx.progress.message(f"{tf.ref} => {result.commit} ({len(result.packages)} packages)")
    print(result.commit)
    sys.stdout.flush()
    if not result.changed and args.unchanged_exit_77:
        return EXIT_UNCHANGED
    return EXIT_OK


def register(
    subparsers: Subparsers[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    text = "build base commits from packages (server side)"
    p = subparsers.add_parser("compose", parents=[common], help=text, description=text)
    sub = p.add_subparsers(dest="compose_verb", metavar="ACTION")
    sub.required = True
    text = "compose a treefile's package set into a commit on its ref; prints the commit id"
    q = sub.add_parser("tree", parents=[common], help=text, description=text)
    q.add_argument("--repo", type=absolute_path, required=True, help="the store to commit into")
    q.add_argument(
        "--unchanged-exit-77",
        action="store_true",
        help="exit 77 when the inputs match the ref's current commit",
    )
    q.add_argument(
        "--sign-key",
        type=absolute_path,
        metavar="FILE",
        help="sign the commit (ed25519 secret key)",
    )
    q.add_argument("treefile", type=absolute_path, metavar="TREEFILE.yaml")
    q.set_defaults(func=_tree)
