"""``strata admin``: the sysroot verbs, like ``ostree admin``.

init-fs and os-init (both may set the first deployment's kernel arguments), deploy (with
--karg edits), finalize-staged, simulate-reboot, config-diff, pin, undeploy, cleanup and
status. Each handler takes (args, ctx) and returns an exit code; the sysroot
methods take the sysroot lock themselves.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from layering.cli.kargs import DEPLOY_FLAGS, HELPS, add_flags, edits_of

if TYPE_CHECKING:
    from core.sysroot import Deployment, Sysroot
    from layering.cli.context import Context


def _out(text: str) -> None:
    print(text, file=sys.stdout)


def _open(ctx: Context) -> Sysroot:
    from core.sysroot import Sysroot  # noqa: PLC0415 - pygit2 only once a verb runs

    return Sysroot.open(ctx.sysroot)


def _init_fs(args: argparse.Namespace, ctx: Context) -> int:
    from core.sysroot import Sysroot  # noqa: PLC0415 - pygit2 only once a verb runs

    sysroot = Sysroot.init_fs(Path(args.dir), karg_defaults=args.karg or ())
    ctx.progress.message(f"Initialized sysroot {sysroot.path}")
    return 0


def _os_init(args: argparse.Namespace, ctx: Context) -> int:
    sysroot = _open(ctx)
    sysroot.os_init(args.osname_arg, karg_defaults=args.karg or ())
    ctx.progress.message(f"ostree/deploy/{args.osname_arg} initialized as OSTree root")
    return 0


def _deploy(args: argparse.Namespace, ctx: Context) -> int:
    from core.sysroot.origin import Origin  # noqa: PLC0415 - configparser only for this verb

    sysroot = _open(ctx)
    osname = sysroot.osname(ctx.osname)
    with sysroot.lock():
        ref = args.ref
        if ":" in ref:  # REMOTE:REF: pull it first; the origin keeps the refspec
            from layering.engine.remote_base import fetch_base  # noqa: PLC0415 - see above

            ref = fetch_base(sysroot.repo, args.ref, ctx.progress, cache_only=args.cache_only)
        with ctx.progress.step(f"Deploying {args.ref}"):
            deployment = sysroot.deploy(
                osname, ref, Origin(args.ref, layered=False), karg_edits=edits_of(args)
            )
    state = "staged for the next boot" if deployment.staged else "the new default"
    _out(f"Deployed {deployment.id} ({state})")
    return 0


def _finalize(args: argparse.Namespace, ctx: Context) -> int:
    sysroot = _open(ctx)
    deployment = sysroot.finalize_staged()
    if deployment is None:
        ctx.progress.message("No staged deployment")
    else:
        _out(f"Finalized {deployment.id}; it is the default for the next boot")
    return 0


def _simulate_reboot(args: argparse.Namespace, ctx: Context) -> int:
    sysroot = _open(ctx)
    deployment = sysroot.simulate_reboot()
    for warning in sysroot.last_tmpfiles.warnings:
        ctx.progress.warning(f"tmpfiles.d: {warning}")
    _out(f"Booted {deployment.id}")
    return 0


def _config_diff(args: argparse.Namespace, ctx: Context) -> int:
    for letter, path in _open(ctx).config_diff():
        _out(f"{letter}    {path}")
    return 0


def _pin(args: argparse.Namespace, ctx: Context) -> int:
    sysroot = _open(ctx)
    for index in args.index:
        sysroot.set_pinned(index, not args.unpin)
        _out(f"Deployment {index} is {'no longer ' if args.unpin else ''}pinned")
    return 0


def _undeploy(args: argparse.Namespace, ctx: Context) -> int:
    sysroot = _open(ctx)
    deployments = sysroot.deployments()
    in_range = 0 <= args.index < len(deployments)
    victim = deployments[args.index].id if in_range else str(args.index)
    sysroot.undeploy(args.index)
    _out(f"Deleted deployment {victim}")
    return 0


def _cleanup(args: argparse.Namespace, ctx: Context) -> int:
    for removed in _open(ctx).cleanup(pending=args.pending, rollback=args.rollback):
        _out(f"Removed deployment {removed}")
    return 0


def _prepare_spare(args: argparse.Namespace, ctx: Context) -> int:
    from layering.cli import spare_jobs  # noqa: PLC0415 - pygit2 only once a verb runs

    sysroot = _open(ctx)
    lock_fd = None
    if args.background:
        lock_fd = spare_jobs.inherited_lock(ctx.sysroot)
        spare_jobs.lower_priority()
    done = spare_jobs.prepare_now(sysroot, lock_fd=lock_fd)
    if args.background:
        return 0
    if done.commit is None:
        ctx.progress.message("Nothing is deployed: no spare checkout to prepare")
    elif done.built:
        _out(f"Spare checkout of {done.commit} ready ({done.seconds:.2f}s)")
    else:
        _out(f"Spare checkout of {done.commit} was ready")
    return 0


def _labels(deployments: Sequence[Deployment]) -> dict[int, str]:
    """ostree's markers: staged, pending (before booted), rollback (after booted)."""
    booted = next((d for d in deployments if d.booted), None)
    labels = {}
    for d in deployments:
        if d.staged:
            labels[d.index] = "staged"
        elif booted is not None and d.osname == booted.osname and d.index != booted.index:
            labels[d.index] = "pending" if d.index < booted.index else "rollback"
    return labels


def _status_json(sysroot: Sysroot, deployments: Sequence[Deployment]) -> dict[str, Any]:
    out = []
    for d in deployments:
        info = sysroot.repo.commit_info(d.checksum)
        out.append(
            {
                "id": d.id,
                "index": d.index,
                "osname": d.osname,
                "checksum": d.checksum,
                "serial": d.serial,
                "origin": d.origin.refspec,
                "booted": d.booted,
                "staged": d.staged,
                "pinned": d.pinned,
                "path": str(d.path),
                "version": str(info.metadata.get("version", "")),
                "timestamp": info.timestamp,
            }
        )
    return {"deployments": out}


def _status(args: argparse.Namespace, ctx: Context) -> int:
    sysroot = _open(ctx)
    deployments = sysroot.deployments()
    if args.json:
        _out(json.dumps(_status_json(sysroot, deployments), indent=2))
        return 0
    if not deployments:
        _out("No deployments.")
        return 0
    labels = _labels(deployments)
    for d in deployments:
        marker = "*" if d.booted else " "
        label = f" ({labels[d.index]})" if d.index in labels else ""
        _out(f"{marker} {d.osname} {d.checksum}.{d.serial}{label}")
        version = sysroot.repo.commit_info(d.checksum).metadata.get("version")
        if version:
            _out(f"    Version: {version}")
        if d.pinned:
            _out("    Pinned: yes")
        key = "baserefspec" if d.origin.layered else "refspec"
        _out(f"    origin {key}: {d.origin.refspec}")
    return 0


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    admin = subparsers.add_parser(
        "admin", parents=[common], help="manage the sysroot (like `ostree admin`)"
    )
    verbs = admin.add_subparsers(dest="admin_verb", metavar="VERB")
    verbs.required = True

    def verb(name: str, handler: Any, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = verbs.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        parser.set_defaults(func=handler)
        return parser

    first = "kernel argument of the first deployment (repeat for more), e.g. root=/dev/vda"
    p = verb("init-fs", _init_fs, "create an empty sysroot layout with an empty store")
    p.add_argument("dir", metavar="DIR")
    p.add_argument("--karg", action="append", metavar="KEY[=VALUE]", help=first)
    p = verb("os-init", _os_init, "create a stateroot (its deploy dir and shared /var)")
    p.add_argument("osname_arg", metavar="OS")
    p.add_argument("--karg", action="append", metavar="KEY[=VALUE]", help=first)
    p = verb("deploy", _deploy, "deploy a commit as is (staged while something is booted)")
    p.set_defaults(spare_after=True)
    p.add_argument("ref", metavar="REF", help="a local ref, a commit, or REMOTE:REF (pulled first)")
    p.add_argument(
        "--cache-only", action="store_true", help="deploy REMOTE:REF as last pulled (no network)"
    )
    add_flags(p, DEPLOY_FLAGS, HELPS)
    p = verb("finalize-staged", _finalize, "merge /etc and make the staged deployment the default")
    p.set_defaults(spare_after=True)
    p = verb(
        "simulate-reboot",
        _simulate_reboot,
        "finalize, record the default deployment as booted, apply its tmpfiles.d to /var",
    )
    p.set_defaults(spare_after=True)
    verb("config-diff", _config_diff, "/etc changes of the booted deployment vs its defaults")
    p = verb("pin", _pin, "keep a deployment whatever new ones arrive")
    p.add_argument("index", metavar="INDEX", type=int, nargs="+")
    p.add_argument("--unpin", "-u", action="store_true", help="remove the pin instead")
    p = verb("undeploy", _undeploy, "delete the deployment at INDEX")
    p.set_defaults(spare_after=True)
    p.add_argument("index", metavar="INDEX", type=int)
    p = verb("cleanup", _cleanup, "remove leftovers (and pending/rollback), prune the store")
    p.add_argument("--pending", "-p", action="store_true", help="also the pending deployment")
    p.add_argument("--rollback", "-r", action="store_true", help="also the rollback deployment")
    p = verb(
        "prepare-spare",
        _prepare_spare,
        "check the default deployment's commit out ahead, for the next staging to patch"
        " (waits for a builder already at work)",
    )
    p.add_argument("--background", action="store_true", help=argparse.SUPPRESS)
    p = verb("status", _status, "list deployments in boot order, like `ostree admin status`")
    p.add_argument("--json", action="store_true", help="machine-readable output")
