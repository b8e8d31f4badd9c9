"""The sysroot: a store plus deployments, boot entries, staging and the shared ``/var``.

Layout and semantics follow libostree (see ``docs/architecture.md``, "On disk"). The
boot entries are the source of truth for which deployments exist and in which order;
``run/ostree/staged-deployment`` adds the one waiting for the next boot. Every change of
the boot order is written beside the live configuration and switched by one symlink
rename, so a crash at any point leaves the previous default bootable; whatever a crash
leaves behind (temp dirs, unreferenced deployments) is removed by the next mutating
command before it does anything else.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.atomic import TEMP_PREFIX, rename_durable, syncfs, temp_name, write_text
from core.errors import ConfigError, StrataError, SysrootError, error_context
from core.faults import fault_point
from core.metacopy import remove_tree
from core.scratch import sweep
from core.store import PruneStats, Store
from core.sysroot import bootorder, kargs, spare, staging
from core.sysroot.bootloader import (
    BootPlan,
    cleanup_boot,
    find_kernel,
    read_entries,
    write_boot_config,
)
from core.sysroot.deployment import Deployment, DeploymentKey, check_osname
from core.sysroot.etcmerge import Change, build_etc, config_diff, normalize_etc
from core.sysroot.lock import sysroot_lock
from core.sysroot.origin import Origin
from core.sysroot.spare import StagingInfo
from core.sysroot.textdecode import read_text
from core.sysroot.tmpfiles import apply_tmpfiles, read_config, read_ids, tree_source

__all__ = ["Change", "Deployment", "Origin", "StagingInfo", "Sysroot", "TmpfilesResult"]

# Top-level directories `ostree admin init-fs` creates (mode), harmless on a plain dir.
_TOPLEVEL = {
    "boot": 0o755,
    "dev": 0o755,
    "home": 0o755,
    "proc": 0o555,
    "root": 0o700,
    "run": 0o755,
    "sys": 0o555,
    "sysroot": 0o755,
    "tmp": 0o1777,
    "var": 0o755,
}
_VAR_SKELETON = {"tmp": 0o1777, "lib": 0o755, "log": 0o755}


@dataclass(frozen=True)
class TmpfilesResult:
    """What applying tmpfiles.d to ``/var`` did, for the CLI to report."""

    created: tuple[str, ...]
    warnings: tuple[str, ...]


class Sysroot:
    """One sysroot directory (``/`` on a real host)."""

    # A removed deployment goes to the spare trash (one rename), removed by the next
    # spare builder's sweep, instead of being unlinked while the command runs. Set by
    # the CLI when a background builder follows every mutating command.
    defer_removals = False

    def __init__(
        self, path: Path, repo: Store, cmdline: staging.CmdlineSource | None = None
    ) -> None:
        self.path = path
        self.repo = repo
        # where the booted deployment's ostree= is read; None: a directory sysroot
        self.cmdline = cmdline
        self.last_tmpfiles = TmpfilesResult((), ())
        self.last_staging = StagingInfo()

    # -- creation and opening ---------------------------------------------------------

    @classmethod
    def init_fs(cls, path: Path, *, karg_defaults: Sequence[str] = ()) -> Sysroot:
        path.mkdir(parents=True, exist_ok=True)
        for name, mode in _TOPLEVEL.items():
            if not os.path.lexists(path / name):
                (path / name).mkdir(mode=0o700)
                os.chmod(path / name, mode)
        (path / "ostree" / "deploy").mkdir(parents=True, exist_ok=True)
        repo = Store.init(path / "ostree" / "repo")
        if karg_defaults:
            kargs.write_defaults(path / "ostree", karg_defaults)
        return cls(path, repo)

    @classmethod
    def open(cls, path: Path, *, cmdline: staging.CmdlineSource | None = None) -> Sysroot:
        """``cmdline``: the kernel command line's source; on the running root (``/``) it is
        ``/proc/cmdline`` unless given."""
        if not (path / "ostree" / "repo").is_dir() or not (path / "ostree" / "deploy").is_dir():
            if not path.is_dir():
                raise SysrootError(
                    f"Sysroot {path} does not exist",
                    hint=f"pass --sysroot DIR, or create one with `strata admin init-fs {path}`",
                )
            raise SysrootError(
                f"{path} is not a sysroot (no ostree/repo and ostree/deploy in it)",
                hint="pass --sysroot DIR for a sysroot made by `strata admin init-fs DIR`",
            )
        if cmdline is None and path.resolve() == Path("/"):
            cmdline = staging.proc_cmdline
        return cls(path, Store.open(path / "ostree" / "repo"), cmdline)

    @contextmanager
    def lock(self) -> Iterator[None]:
        """The sysroot lock; taking it also removes scratch dirs a crashed command left."""
        with sysroot_lock(self.path / "ostree" / "lock"):
            sweep(self.repo.path / "tmp")
            yield

    # -- stateroots ----------------------------------------------------------------------

    def _root_dir(self, osname: str) -> Path:
        return self.path / "ostree" / "deploy" / osname

    def _deploy_dir(self, osname: str) -> Path:
        return self._root_dir(osname) / "deploy"

    def _key_path(self, key: DeploymentKey) -> Path:
        return self._deploy_dir(key.osname) / key.dirname

    def _origin_path(self, key: DeploymentKey) -> Path:
        return self._deploy_dir(key.osname) / f"{key.dirname}.origin"

    def stateroots(self) -> list[str]:
        base = self.path / "ostree" / "deploy"
        return sorted(n for n in os.listdir(base) if (base / n / "deploy").is_dir())

    def var_dir(self, osname: str) -> Path:
        return self._root_dir(osname) / "var"

    def os_init(self, osname: str, *, karg_defaults: Sequence[str] = ()) -> None:
        check_osname(osname)
        for arg in karg_defaults:
            kargs.check_arg(arg)
        with self.lock():
            if karg_defaults:
                (self._root_dir(osname)).mkdir(parents=True, exist_ok=True)
                kargs.write_defaults(self._root_dir(osname), karg_defaults)
            root = self._root_dir(osname)
            (root / "deploy").mkdir(parents=True, exist_ok=True)
            var = root / "var"
            var.mkdir(exist_ok=True)
            for name, mode in _VAR_SKELETON.items():
                if not os.path.lexists(var / name):
                    (var / name).mkdir(mode=0o700)
                    os.chmod(var / name, mode)

    def osname(self, requested: str | None) -> str:
        roots = self.stateroots()
        if requested is not None:
            if requested not in roots:
                check_osname(requested)  # a hint to os-init a name it refuses helps nobody
                raise SysrootError(
                    f"Unknown stateroot {requested!r} in {self.path}",
                    hint=f"run `strata --sysroot {self.path} admin os-init {requested}`",
                )
            return requested
        if len(roots) == 1:
            return roots[0]
        if not roots:
            raise SysrootError(
                f"No stateroot in {self.path}",
                hint=f"run `strata --sysroot {self.path} admin os-init OS`",
            )
        raise SysrootError(
            f"Several stateroots in {self.path}: {', '.join(roots)}",
            hint="choose one with --os NAME",
        )

    # -- reading deployments ---------------------------------------------------------------

    def _read_origin(self, key: DeploymentKey) -> Origin:
        path = self._origin_path(key)
        try:
            text = read_text(path, error=ConfigError, hint="fix or restore the .origin file")
        except FileNotFoundError:
            raise ConfigError(
                f"Deployment {key.id} has no origin file {path}",
                hint="undeploy it or restore the .origin file",
            ) from None
        try:
            return Origin.from_ini(text)
        except ConfigError as err:
            raise err.with_context(f"Reading {path}") from err

    def _listing(
        self, problems: list[str] | None = None
    ) -> tuple[list[tuple[DeploymentKey, bool]], dict[DeploymentKey, str], bool]:
        """(key, staged) in boot order, kargs per key, and whether every entry resolved."""
        entries = read_entries(self.path, problems)
        complete = all(e.target is not None for e in entries)
        kargs: dict[DeploymentKey, str] = {}
        order: list[tuple[DeploymentKey, bool]] = []
        for entry in entries:
            key = entry.target
            if key is not None and key not in kargs and self._key_path(key).is_dir():
                kargs[key] = entry.kargs
                order.append((key, False))
        staged = staging.read_staged(self.path)
        if staged is not None and staged.key not in kargs and self._key_path(staged.key).is_dir():
            kargs[staged.key] = staged.kargs
            order.insert(0, (staged.key, True))
        return order, kargs, complete

    def deployments(self, problems: list[str] | None = None) -> list[Deployment]:
        """In boot order. ``problems`` (for ``status``, which must always work): what
        cannot be read (a boot entry, an origin, the booted record) is noted there and
        shown as far as it can be, instead of raising."""
        order, _kargs, _complete = self._listing(problems)
        booted = staging.read_booted_state(self.path, self.cmdline, problems)
        out = []
        for index, (key, staged) in enumerate(order):
            try:
                origin = self._read_origin(key)
            except ConfigError as err:
                if problems is None:
                    raise
                problems.append(str(err).splitlines()[0])
                origin = Origin(refspec="(unreadable origin)", layered=False)
            out.append(
                Deployment(
                    osname=key.osname,
                    checksum=key.checksum,
                    serial=key.serial,
                    index=index,
                    staged=staged,
                    booted=key == booted,
                    pinned=origin.pinned,
                    origin=origin,
                    path=self._key_path(key),
                )
            )
        return out

    def booted(self) -> Deployment | None:
        return next((d for d in self.deployments() if d.booted), None)

    def merge_deployment(self, osname: str) -> Deployment | None:
        """The deployment a new one builds on: the first of the stateroot (pending first)."""
        return next((d for d in self.deployments() if d.osname == osname), None)

    def _etc_source(self, deployments: Sequence[Deployment], osname: str) -> Deployment | None:
        """Whose ``/etc`` a new deployment inherits: the booted one, else the default."""
        for d in deployments:
            if d.booted and d.osname == osname:
                return d
        return next((d for d in deployments if d.osname == osname and not d.staged), None)

    def _by_index(self, index: int) -> tuple[list[Deployment], Deployment]:
        deployments = self.deployments()
        if not 0 <= index < len(deployments):
            raise SysrootError(
                f"No deployment with index {index} (there are {len(deployments)})",
                hint="`strata admin status` lists them, index 0 first",
            )
        return deployments, deployments[index]

    # -- writing ---------------------------------------------------------------------------

    def _write_origin(self, key: DeploymentKey, origin: Origin) -> None:
        write_text(self._origin_path(key), origin.to_ini())

    def _write_boot(self, keys: Sequence[DeploymentKey], kargs: dict[DeploymentKey, str]) -> None:
        plans = []
        for key in keys:
            try:
                version = self.repo.commit_info(key.checksum).metadata.get("version", "")
            except StrataError:
                version = ""
            plans.append(BootPlan(key, self._key_path(key), kargs.get(key, ""), version))
        write_boot_config(self.path, plans)

    def _remove_deployment(self, key: DeploymentKey) -> None:
        self._origin_path(key).unlink(missing_ok=True)
        fault_point("undeploy-after-origin")
        path = self._key_path(key)
        if not (self.defer_removals and path.is_dir() and spare.discard(self.path, path)):
            remove_tree(path)

    def _allocate(self, osname: str, checksum: str) -> DeploymentKey:
        """libostree's serial: one more than the highest of this commit in the stateroot."""
        serial = 0
        for name in os.listdir(self._deploy_dir(osname)):
            key = DeploymentKey.from_dirname(osname, name)
            if key is not None and key.checksum == checksum:
                serial = max(serial, key.serial + 1)
        return DeploymentKey(osname, checksum, serial)

    def _checkout(self, key: DeploymentKey, merge: Deployment | None) -> Path:
        """Check the commit out under a temp name, build ``/etc``, rename into place."""
        final = self._key_path(key)
        tmp = final.parent / temp_name(final)
        try:
            self.last_staging = spare.write_tree(self.path, self.repo, key.checksum, tmp)
            normalize_etc(tmp)
            build_etc(tmp, merge.path if merge else None)
            (tmp / "var").mkdir(mode=0o755, exist_ok=True)
            syncfs(tmp)
            fault_point("deploy-before-rename")
            rename_durable(tmp, final)
        except BaseException:
            remove_tree(tmp)
            raise
        return final

    def prepare_spare(self, commit: str | None = None, *, lock_fd: int | None = None) -> str | None:
        """Check ``commit`` (default: the first deployment's) out as a spare for the next
        deployment to patch (:mod:`core.sysroot.spare`). Takes no sysroot lock: meant to run in
        the background. The commit prepared; None if another builder runs or nothing is
        deployed. ``lock_fd``: the builder lock, already held (``spare.hold_build_lock``)
        by the caller, who closes it."""
        if commit is None:
            first = next(iter(self.deployments()), None)
            if first is None:
                return None
            commit = first.checksum
        with error_context(f"Preparing a spare checkout of {commit}"):
            commit = self.repo.resolve(commit)
            done = spare.prepare(self.path, self.repo, commit, lock_fd=lock_fd)
            return commit if done else None

    def _cleanup_leftovers(self) -> None:
        """Remove what an interrupted command left: temp dirs, unreferenced deployments."""
        order, _kargs, complete = self._listing()
        live = {key for key, _staged in order}
        staged = staging.read_staged(self.path)
        if staged is not None and (staged.key, True) not in order:
            staging.clear_staged(self.path)  # finalized before a crash, or never completed
        for osname in self.stateroots():
            deploy_dir = self._deploy_dir(osname)
            for name in os.listdir(deploy_dir):
                base = name.removesuffix(".origin")
                key = DeploymentKey.from_dirname(osname, base)
                if name.startswith(TEMP_PREFIX) or (
                    complete and key is not None and key not in live
                ):
                    remove_tree(deploy_dir / name)
        cleanup_boot(self.path)

    def deploy(
        self,
        osname: str,
        commit: str,
        origin: Origin,
        *,
        karg_edits: Sequence[kargs.KargEdit] = (),
    ) -> Deployment:
        """Check ``commit`` out as the new first deployment (staged while one is booted).
        Its kernel arguments are the first deployment's (else the sysroot's defaults), with
        the tree's kargs.d changes and ``karg_edits`` applied (:mod:`core.sysroot.kargs`)."""
        with self.lock(), error_context(f"Deploying {commit}"):
            osname = self.osname(osname)
            checksum = self.repo.resolve(commit)
            self._cleanup_leftovers()
            current = self.deployments()
            _order, all_kargs, _complete = self._listing()
            key = self._allocate(osname, checksum)
            merge = self._etc_source(current, osname)
            first = next((d for d in current if d.osname == osname), None)
            old_staged = next((d for d in current if d.staged), None)
            committed = False
            try:
                self._checkout(key, merge)
                new_kargs = kargs.for_new_deployment(
                    all_kargs.get(first.key, "") if first else None,
                    self.default_kargs(osname),
                    first.path if first else None,
                    self._key_path(key),
                    karg_edits,
                )
                fault_point("deploy-before-origin")
                self._write_origin(key, origin.without_transient())
                if any(d.booted for d in current):
                    fault_point("deploy-before-staged")
                    staging.write_staged(self.path, staging.StagedState(key, new_kargs))
                    fault_point("deploy-after-staged")
                    committed = True
                    if old_staged is not None:
                        self._remove_deployment(old_staged.key)
                else:
                    self._finalize(key, new_kargs, current, all_kargs)
                    committed = True
            except BaseException:
                if not committed and not self._is_live(key):
                    self._remove_deployment(key)
                raise
            return self._find(key)

    def default_kargs(self, osname: str) -> tuple[str, ...]:
        """The first deployment's arguments: ``os-init --karg``, else ``init-fs --karg``."""
        return kargs.read_defaults(self._root_dir(osname)) or kargs.read_defaults(
            self.path / "ostree"
        )

    def kargs_of(self, deployment: Deployment) -> str:
        """A deployment's kernel arguments (its boot entry's options without ``ostree=``)."""
        return self._listing()[1].get(deployment.key, "")

    def change_kargs(self, osname: str, edits: Sequence[kargs.KargEdit]) -> Deployment | None:
        """A new deployment of the first deployment's commit with edited kernel arguments
        (rpm-ostree's ``kargs``); None when the edits change nothing. Bad edits (deleting
        an absent argument) fail before anything is written."""
        with self.lock(), error_context("Changing kernel arguments"):
            osname = self.osname(osname)
            first = self.merge_deployment(osname)
            if first is None:
                raise SysrootError(
                    f"Nothing is deployed in stateroot {osname}",
                    hint=f"run `strata --sysroot {self.path} admin deploy REF` first",
                )
            if find_kernel(first.path) is None:
                raise SysrootError(
                    f"Deployment {first.id} has no kernel (no usr/lib/modules/KVER/vmlinuz "
                    "in its tree), so it has no kernel arguments to change",
                    hint="deploy a base that carries a kernel package",
                )
            old = kargs.KernelArgs.parse(self.kargs_of(first))
            if old.edit(edits) == old:
                return None
            return self.deploy(osname, first.checksum, first.origin, karg_edits=edits)

    def _is_live(self, key: DeploymentKey) -> bool:
        order, _kargs, _complete = self._listing()
        return any(k == key for k, _staged in order)

    def _finalize(
        self,
        key: DeploymentKey,
        new_kargs: str,
        current: Sequence[Deployment],
        kargs: dict[DeploymentKey, str],
    ) -> None:
        keys = bootorder.retained(key, current)
        fault_point("finalize-before-boot")
        self._write_boot(keys, {**kargs, key: new_kargs})
        fault_point("finalize-after-boot-swap")
        staging.clear_staged(self.path)
        for d in current:
            if d.key not in keys:
                self._remove_deployment(d.key)
        fault_point("finalize-before-boot-cleanup")
        cleanup_boot(self.path)

    def _find(self, key: DeploymentKey) -> Deployment:
        for d in self.deployments():
            if d.key == key:
                return d
        raise SysrootError(f"Deployment {key.id} vanished", hint="run `strata admin status`")

    def finalize_staged(self) -> Deployment | None:
        """Merge ``/etc`` against the booted ``/etc`` as it is now; make the staged default."""
        with self.lock(), error_context("Finalizing staged deployment"):
            self._cleanup_leftovers()
            current = self.deployments()
            staged = next((d for d in current if d.staged), None)
            if staged is None:
                return None
            _order, kargs, _complete = self._listing()
            merge = self._etc_source(current, staged.osname)
            build_etc(staged.path, merge.path if merge else None)
            syncfs(staged.path)
            self._finalize(staged.key, kargs.get(staged.key, ""), current, kargs)
            return self._find(staged.key)

    def simulate_reboot(self) -> Deployment:
        """Finalize, record the default as booted, and apply its tmpfiles.d to ``/var``."""
        with self.lock(), error_context("Simulating a reboot"):
            if self.cmdline is not None:
                raise SysrootError(
                    f"{self.path} is the running root: the kernel command line names what booted",
                    hint="simulate-reboot is for directory sysroots (--sysroot DIR)",
                )
            self.finalize_staged()
            deployments = self.deployments()
            if not deployments:
                raise SysrootError(
                    f"Nothing is deployed in {self.path}",
                    hint=f"run `strata --sysroot {self.path} admin deploy REF` first",
                )
            default = deployments[0]
            staging.write_booted(self.path, default.key)
            self.last_tmpfiles = self.apply_tmpfiles(default)
            return self._find(default.key)

    def apply_tmpfiles(self, deployment: Deployment) -> TmpfilesResult:
        """Create what the deployment's tmpfiles.d asks for in the stateroot's ``/var``."""
        lines, warnings = read_config(deployment.path)
        var = self.var_dir(deployment.osname)
        var.mkdir(parents=True, exist_ok=True)
        users = read_ids(deployment.path, "passwd")
        groups = read_ids(deployment.path, "group")
        created, more = apply_tmpfiles(lines, var, users, groups, tree_source(deployment.path))
        return TmpfilesResult(tuple(created), tuple(warnings + more))

    def rollback(self, osname: str) -> Deployment:
        with self.lock(), error_context("Rolling back"):
            osname = self.osname(osname)
            self._cleanup_leftovers()
            current = self.deployments()
            _order, kargs, _complete = self._listing()
            staged = next((d for d in current if d.staged and d.osname == osname), None)
            if staged is not None:
                # The pending deployment is discarded; the booted one stays the default.
                staging.clear_staged(self.path)
                self._remove_deployment(staged.key)
                default = next(d for d in self.deployments() if d.osname == osname)
                return default
            keys = bootorder.rollback_order(current, osname)
            self._write_boot(keys, kargs)
            return self._find(keys[0])

    def undeploy(self, index: int) -> None:
        with self.lock(), error_context(f"Undeploying index {index}"):
            self._cleanup_leftovers()
            current, target = self._by_index(index)
            self._drop(current, [target])

    def _drop(self, current: Sequence[Deployment], victims: Sequence[Deployment]) -> None:
        for victim in victims:
            if victim.booted:
                raise SysrootError(
                    f"Cannot undeploy the booted deployment {victim.id}",
                    hint="boot into another deployment first (`strata rollback`)",
                )
        gone = {v.key for v in victims}
        if any(v.staged for v in victims):
            staging.clear_staged(self.path)
        if any(not v.staged for v in victims):
            _order, kargs, _complete = self._listing()
            keep = [d.key for d in current if not d.staged and d.key not in gone]
            self._write_boot(keep, kargs)
        for key in gone:
            self._remove_deployment(key)
        cleanup_boot(self.path)

    def set_pinned(self, index: int, pinned: bool) -> None:
        with self.lock():
            _current, target = self._by_index(index)
            if target.staged:
                raise SysrootError(
                    f"Cannot pin the staged deployment {target.id}",
                    hint="finalize it first (`strata admin finalize-staged`)",
                )
            if target.pinned != pinned:
                self._write_origin(target.key, target.origin.with_pinned(pinned))

    def cleanup(self, *, pending: bool = False, rollback: bool = False) -> list[str]:
        """Remove leftovers (and the pending/rollback deployments), prune the store;
        returns the ids of the deployments removed."""
        with self.lock(), error_context("Cleaning up"):
            self._cleanup_leftovers()
            current = self.deployments()
            victims: list[Deployment] = []
            for osname in sorted({d.osname for d in current}):
                pend, back = bootorder.pending_and_rollback(current, osname)
                victims += (pend if pending else []) + (back if rollback else [])
            if victims:
                self._drop(current, victims)
            self.prune()
            return [v.id for v in victims]

    def prune(self) -> PruneStats:
        """Prune the store, keeping every deployment's commit (and every ref); spares of
        other commits go first, so no spare outlives the objects it links."""
        keep = sorted({d.checksum for d in self.deployments()})
        spare.drop(self.path, set(keep))
        stats = self.repo.prune(extra_roots=keep)
        # again: a builder may have renamed a spare in while the store was pruned (it
        # checks its commit under the spare lock, so the ones after this are alive)
        spare.drop(self.path, set(keep))
        return stats

    def config_diff(self) -> list[tuple[str, str]]:
        deployments = self.deployments()
        target = next((d for d in deployments if d.booted), None)
        target = target or next((d for d in deployments if not d.staged), None)
        if target is None:
            raise SysrootError(
                f"Nothing is deployed in {self.path}", hint="run `strata admin deploy REF` first"
            )
        return [(str(change), path) for change, path in config_diff(target.path)]
