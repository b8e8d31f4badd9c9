"""The layering engine: turn a change of requests (or of base) into one new deployment.

Every verb follows the same shape: lock the sysroot, read the deployment to build on
(the first one of the stateroot, so operations accumulate before a reboot), compute
the new :class:`Requests` purely (refusing nonsense before any work), then *realize*
them: solve against the base commit's rpmdb, stop early when nothing would change,
fetch and import what is not cached, assemble, commit with a fixed timestamp and
stage. Nothing a user sees changes until the final ``Sysroot.deploy``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from core.errors import SysrootError, error_context
from core.faults import fault_point
from core.progress import Progress
from core.scratch import scratch_dir
from core.store import Store
from core.sysroot import Sysroot
from core.sysroot.deployment import Deployment
from layering.engine import origin_state as rq
from layering.engine import remote_base
from layering.engine.base_context import machine_arch, tree_file_reader
from layering.engine.fetching import (
    PackageFetcher,
    RpmFileInfo,
    keep_local_rpm,
    read_rpm_file,
    restore_local_rpm,
)
from layering.engine.origin_state import (
    LocalPackage,
    RequestError,
    Requests,
    origin_for,
    requests_of,
)
from layering.engine.plan import LayerInfo, LayerPlan, PackageAction, inputhash
from layering.engine.solving import RepoChoice, SolveInput, solve_requests
from layering.engine.summary import inactive_notice, render_changes, render_transaction
from layering.rpm.assemble import assemble
from layering.rpm.headers import read_packages
from layering.rpm.importer import ImportedPackage
from layering.rpm.pkgdiff import PackageDiff, diff_packages
from solver import PackageRef, Transaction, fetch

COMMANDLINE = "@commandline"


class Outcome(StrEnum):
    DEPLOYED = "deployed"
    UNCHANGED = "unchanged"
    DRY_RUN = "dry-run"
    DOWNLOADED = "downloaded"
    UPDATE_AVAILABLE = "update-available"


@dataclass(frozen=True)
class Options:
    dry_run: bool = False
    idempotent: bool = False
    allow_inactive: bool = False
    cache_only: bool = False
    download_only: bool = False
    repos: RepoChoice = RepoChoice()  # --enablerepo, --disablerepo, --releasever
    force_replacefiles: bool = False  # what this command installs may replace others' files


@dataclass(frozen=True)
class Result:
    """What an operation did; ``text`` is for stdout, ``notices`` for stderr."""

    outcome: Outcome
    text: str
    deployment: Deployment | None = None
    notices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Current:
    """The deployment an operation builds on, and what its origin asked for."""

    deployment: Deployment
    base_ref: str
    base_commit: str
    requests: Requests
    layer: LayerInfo | None


@dataclass(frozen=True)
class _Change:
    """One requested change, before it is realized."""

    base_ref: str
    base_commit: str
    requests: Requests
    new_names: tuple[str, ...] = ()
    local_files: tuple[RpmFileInfo, ...] = ()
    check_only: bool = False
    shrinking: bool = False  # nothing new asked for: cached repo metadata is enough


class Engine:
    """The layering verbs on one stateroot of one sysroot."""

    def __init__(self, sysroot: Sysroot, osname: str | None, progress: Progress) -> None:
        self.sysroot = sysroot
        self.store: Store = sysroot.repo
        self.osname = sysroot.osname(osname)
        self.progress = progress
        self.arch = machine_arch()

    # -- reading state ---------------------------------------------------------------------

    def current(self) -> Current:
        deployment = self.sysroot.merge_deployment(self.osname)
        if deployment is None:
            raise SysrootError(
                f"No deployment of '{self.osname}' to build on",
                hint="deploy a base first: strata admin deploy REF",
            )
        info = self.store.commit_info(deployment.checksum)
        layer = LayerInfo.from_metadata(info.metadata)
        base_commit = layer.base_checksum if layer else deployment.checksum
        return Current(
            deployment=deployment,
            base_ref=deployment.origin.refspec,
            base_commit=base_commit,
            requests=requests_of(deployment.origin),
            layer=layer,
        )

    def _config_root(self) -> Path:
        """The booted deployment of this stateroot (else the first): its /etc has the repos."""
        booted = self.sysroot.booted()
        if booted is not None and booted.osname == self.osname:
            return booted.path
        return self.current().deployment.path

    def _resolve_ref(self, ref: str, opts: Options) -> str:
        """A local ref's commit; a remote's (``REMOTE:REF``) is pulled first."""
        return remote_base.fetch_base(self.store, ref, self.progress, cache_only=opts.cache_only)

    def base_package_names(self, commit: str) -> set[str]:
        return {p.name for p in read_packages(self.store, commit)}

    @contextmanager
    def _workdir(self) -> Iterator[Path]:
        """Scratch space, locked while in use (the sysroot lock sweeps what a crash left).

        Partial downloads of a crashed command go first: we hold the sysroot lock, so no
        other process is fetching into the cache; so do the store's temp objects of
        writers that died (a kill -9 while packages were imported)."""
        tmp_root = self.store.path / "tmp"
        for partial in self.download_dir.glob(".*.part"):
            partial.unlink(missing_ok=True)
        self.store.sweep_temp_objects()
        with scratch_dir(tmp_root, "strata-engine-", own_tempfiles=True) as tmp:
            yield tmp

    @property
    def download_dir(self) -> Path:
        return self.store.path / "cache" / "pkgs"

    @property
    def solver_cache(self) -> Path:
        return self.store.path / "cache" / "repomd"

    # -- verbs -----------------------------------------------------------------------------

    def install(
        self, specs: Sequence[str], opts: Options = Options(), *, uninstall: Sequence[str] = ()
    ) -> Result:
        """Names (or provides) from the repos, local ``.rpm`` files, or ``.rpm`` URLs;
        ``uninstall`` leaves the requests in the same transaction (one new deployment)."""
        with self.sysroot.lock(), self._workdir() as downloads:
            cur = self.current()
            base = (cur.base_ref, cur.base_commit)
            change = self._edit(
                cur, base, install=specs, uninstall=uninstall, downloads=downloads, opts=opts
            )
            return self._realize(cur, change, opts)

    def _edit(  # noqa: PLR0913 - the one place a verb's package edits become a change
        self,
        cur: Current,
        base: tuple[str, str],
        *,
        install: Sequence[str],
        uninstall: Sequence[str],
        downloads: Path,
        opts: Options,
    ) -> _Change:
        """The requests less ``uninstall``, plus ``install`` (names, files or URLs), as
        rpm-ostree's ``install --uninstall`` and ``rebase``/``upgrade --install/--uninstall``."""
        req = rq.remove_packages(cur.requests, uninstall, idempotent=opts.idempotent)
        names = tuple(s for s in install if not s.endswith(".rpm"))
        paths = [self._local_file(s, downloads) for s in install if s.endswith(".rpm")]
        files = tuple(read_rpm_file(p) for p in paths)
        req = rq.add_packages(req, names, idempotent=opts.idempotent)
        locals_ = [LocalPackage(f.header_sha256, f.nevra) for f in files]
        req = rq.add_local(req, locals_, idempotent=opts.idempotent)
        if opts.force_replacefiles:
            req = rq.allow_replacefiles(req, [*names, *(f.name for f in files)])
        base_ref, base_commit = base
        shrinking = bool(uninstall) and not install and base_commit == cur.base_commit
        return _Change(base_ref, base_commit, req, names, files, shrinking=shrinking)

    def _local_file(self, spec: str, downloads: Path) -> Path:
        """A path as given, or an http(s)/file URL fetched once (no digest to check)."""
        if "://" not in spec:
            return Path(spec)
        name = re.sub(r"[^A-Za-z0-9._+-]", "_", spec.rstrip("/").rsplit("/", 1)[-1])
        if name.strip(".") == "":
            name = "package.rpm"
        with self.progress.step("Downloading"):
            return fetch(spec, downloads / name)

    def uninstall(
        self, names: Sequence[str], *, remove_all: bool = False, opts: Options = Options()
    ) -> Result:
        with self.sysroot.lock():
            cur = self.current()
            if remove_all:
                req = rq.remove_all(cur.requests)
            else:
                req = rq.remove_packages(cur.requests, names, idempotent=opts.idempotent)
            change = _Change(cur.base_ref, cur.base_commit, req, shrinking=True)
            return self._realize(cur, change, opts)

    def rebase(
        self,
        ref: str,
        opts: Options = Options(),
        *,
        install: Sequence[str] = (),
        uninstall: Sequence[str] = (),
    ) -> Result:
        """A new base, keeping the requests (less ``uninstall``, plus ``install``): one
        transaction, so a layered package the new base conflicts with can go in the same
        step (rpm-ostree's issue 464)."""
        with self.sysroot.lock(), self._workdir() as downloads:
            cur = self.current()
            commit = self._resolve_ref(ref, opts)
            change = self._edit(
                cur,
                (ref, commit),
                install=install,
                uninstall=uninstall,
                downloads=downloads,
                opts=opts,
            )
            return self._realize(cur, change, opts)

    def upgrade(
        self,
        opts: Options = Options(),
        *,
        check: bool = False,
        metadata_only: bool = False,
        install: Sequence[str] = (),
        uninstall: Sequence[str] = (),
    ) -> Result:
        """``check``: say what would change; ``metadata_only`` (``--check`` of a remote
        base): only fetch the remote's newest commit object and name it."""
        with self.sysroot.lock(), self._workdir() as downloads:
            cur = self.current()
            if metadata_only and remote_base.is_remote(cur.base_ref) and not opts.cache_only:
                found = remote_base.check_remote(self.store, cur.base_ref, self.progress)
                if found.commit == cur.base_commit:
                    return Result(Outcome.UNCHANGED, "No upgrade available.")
                version = f" (version {found.version})" if found.version else ""
                return Result(
                    Outcome.UPDATE_AVAILABLE, f"Update available: {found.commit}{version}"
                )
            commit = self._resolve_ref(cur.base_ref, opts)
            edited = self._edit(
                cur,
                (cur.base_ref, commit),
                install=install,
                uninstall=uninstall,
                downloads=downloads,
                opts=opts,
            )
            change = dataclasses.replace(edited, check_only=check, shrinking=False)
            result = self._realize(cur, change, opts)
        if result.outcome is Outcome.UNCHANGED:
            return dataclasses.replace(result, text="No upgrade available.")  # rpm-ostree's words
        return result

    def reset(self, opts: Options = Options()) -> Result:
        with self.sysroot.lock():
            cur = self.current()
            return self._realize(cur, _Change(cur.base_ref, cur.base_commit, Requests()), opts)

    def override_remove(self, names: Sequence[str], opts: Options = Options()) -> Result:
        with self.sysroot.lock():
            cur = self.current()
            base = self.base_package_names(cur.base_commit)
            req = rq.add_override_remove(cur.requests, names, base)
            change = _Change(cur.base_ref, cur.base_commit, req, shrinking=True)
            return self._realize(cur, change, opts)

    def override_replace(self, files: Sequence[str], opts: Options = Options()) -> Result:
        with self.sysroot.lock():
            cur = self.current()
            infos = tuple(read_rpm_file(Path(f)) for f in files)
            base = read_packages(self.store, cur.base_commit)
            pkgs = [LocalPackage(i.header_sha256, i.nevra) for i in infos]
            names, nevras = {p.name for p in base}, {p.nevra for p in base}
            req = rq.add_override_replace(cur.requests, pkgs, names, nevras)
            change = _Change(cur.base_ref, cur.base_commit, req, local_files=infos)
            return self._realize(cur, change, opts)

    def override_reset(
        self, names: Sequence[str], *, reset_all: bool = False, opts: Options = Options()
    ) -> Result:
        with self.sysroot.lock():
            cur = self.current()
            req = rq.reset_overrides(cur.requests, names, reset_all=reset_all)
            change = _Change(cur.base_ref, cur.base_commit, req, shrinking=True)
            return self._realize(cur, change, opts)

    def rollback(self) -> Result:
        with self.sysroot.lock():
            pending = [
                d for d in self.sysroot.deployments() if d.staged and d.osname == self.osname
            ]
            deployment = self.sysroot.rollback(self.osname)
        if pending:
            text = (
                f"Discarded the pending deployment '{pending[0].checksum}.{pending[0].serial}'; "
                f"'{deployment.checksum}.{deployment.serial}' stays the default."
            )
            return Result(Outcome.DEPLOYED, text, deployment)
        text = f"Moving '{deployment.checksum}.{deployment.serial}' to be first deployment\n"
        return Result(Outcome.DEPLOYED, text + "Run 'reboot' to start using it.", deployment)

    # -- realizing a change ----------------------------------------------------------------

    def _realize(self, cur: Current, change: _Change, opts: Options) -> Result:
        if change.requests.empty:
            return self._deploy_base(cur, change, opts)
        with self._workdir() as work:
            return self._layer(cur, change, opts, work)

    def _unchanged(self, notices: Sequence[str] = ()) -> Result:
        return Result(Outcome.UNCHANGED, "No changes.", notices=tuple(notices))

    def _deploy_base(self, cur: Current, change: _Change, opts: Options) -> Result:
        """Nothing layered any more: the new deployment is the base commit itself."""
        origin = origin_for(change.base_ref, change.requests, cur.deployment.origin)
        before = cur.layer.layered if cur.layer else ()
        base_pair = (cur.base_commit, change.base_commit)
        if (
            cur.deployment.checksum == change.base_commit
            and cur.deployment.origin.without_transient() == origin
        ):
            return self._unchanged()
        if opts.dry_run or change.check_only:
            text = render_transaction(install=(), base=base_pair)
            outcome = Outcome.DRY_RUN if opts.dry_run else Outcome.UPDATE_AVAILABLE
            return Result(outcome, text)
        with self.progress.step("Staging"):
            deployment = self.sysroot.deploy(self.osname, change.base_commit, origin)
        same_base = base_pair[0] == base_pair[1]
        text = render_changes(
            layered_before=before,
            layered_after=(),
            base=base_pair,
            base_diff=self._base_diff(base_pair),
            restored_base=(*cur.layer.removed, *cur.layer.replaced)
            if cur.layer and same_base
            else (),
        )
        return Result(Outcome.DEPLOYED, text, deployment)

    def _base_diff(self, base_pair: tuple[str, str]) -> PackageDiff | None:
        """What a new base changes, package by package (None when the base stays)."""
        old, new = base_pair
        if old == new:
            return None
        nevras = [[p.nevra for p in read_packages(self.store, c)] for c in (old, new)]
        return diff_packages(*nevras)

    def _local_paths(self, change: _Change, work: Path) -> dict[str, Path]:
        """Header digest -> an .rpm file for every local package the requests name."""
        given = {f.header_sha256: f.path for f in change.local_files}
        out: dict[str, Path] = {}
        for pkg in (*change.requests.local, *change.requests.override_replace):
            out[pkg.sha256] = given.get(pkg.sha256) or restore_local_rpm(
                self.store, pkg.sha256, pkg.nevra, work
            )
        return out

    def _solve(self, change: _Change, locals_: dict[str, Path], opts: Options) -> Transaction:
        inp = SolveInput(
            self.store, self._config_root(), self.solver_cache, self.arch, self.progress, opts.repos
        )
        return solve_requests(
            inp,
            change.base_commit,
            change.requests,
            locals_,
            cache_only=opts.cache_only,
            shrinking=change.shrinking,
        )

    def _inactive_notices(self, cur: Current, change: _Change, tx: Transaction) -> list[str]:
        """Notices for requests the base satisfies (``_plan`` refuses a new one unless
        --allow-inactive)."""
        was_inactive = set(cur.layer.inactive) if cur.layer else set()
        new_requests = {*change.new_names, *(f.nevra for f in change.local_files)}
        notices = []
        for request, nevra in tx.inactive:
            if request in new_requests:
                notices.append(inactive_notice(request, nevra))
            elif request not in was_inactive and cur.base_commit != change.base_commit:
                notices.append(inactive_notice(request, nevra, now=True))
        return notices

    def _plan(self, cur: Current, change: _Change, opts: Options, work: Path) -> LayerPlan:
        """Solve the change and decide everything about the new commit; write nothing."""
        locals_ = self._local_paths(change, work)
        with error_context("Resolving"):
            tx = self._solve(change, locals_, opts)
        # Local files appear under their (temporary) path: name them by NEVRA instead.
        labels = {
            str(path.resolve()): pkg.nevra
            for pkg in change.requests.local
            for sha, path in locals_.items()
            if sha == pkg.sha256
        }
        tx = dataclasses.replace(
            tx, inactive=tuple((labels.get(r, r), nevra) for r, nevra in tx.inactive)
        )
        new_requests = {*change.new_names, *(f.nevra for f in change.local_files)}
        refused = [(r, n) for r, n in tx.inactive if r in new_requests]
        if refused and not opts.allow_inactive:
            raise RequestError(
                inactive_notice(*refused[0]), hint="use --allow-inactive to request it anyway"
            )
        install = tuple(PackageAction(p.nevra, p.checksum) for p in tx.install)
        replacements = tuple((old, PackageAction(p.nevra, p.checksum)) for old, p in tx.replace)
        return LayerPlan(
            tx=tx,
            base_pair=(cur.base_commit, change.base_commit),
            layered_before=cur.layer.layered if cur.layer else (),
            removed_before=cur.layer.removed if cur.layer else (),
            replaced_before=cur.layer.replaced if cur.layer else (),
            replacements_before=tuple(p.nevra for p in cur.requests.override_replace),
            origin=origin_for(change.base_ref, change.requests, cur.deployment.origin),
            inputhash=inputhash(
                base_commit=change.base_commit,
                requests=change.requests,
                install=install,
                remove=tx.remove,
                replace=replacements,
                repomd=tx.repomd,
            ),
            notices=(*tx.warnings, *self._inactive_notices(cur, change, tx)),
        )

    def _layer(self, cur: Current, change: _Change, opts: Options, work: Path) -> Result:
        plan = self._plan(cur, change, opts, work)
        if opts.dry_run:
            return Result(Outcome.DRY_RUN, plan.transaction_text(), notices=plan.notices)
        if (
            cur.layer is not None
            and cur.layer.inputhash == plan.inputhash
            and cur.deployment.origin.without_transient() == plan.origin
        ):
            return self._unchanged(plan.notices)
        if change.check_only:
            text = plan.changes_text(self._base_diff(plan.base_pair), deployed=False)
            return Result(Outcome.UPDATE_AVAILABLE, text or "Updates available.")
        return self._apply(change, plan, opts, work)

    def _apply(self, change: _Change, plan: LayerPlan, opts: Options, work: Path) -> Result:
        """Fetch, import, assemble, commit and stage what ``plan`` decided."""
        tx = plan.tx
        fetcher = PackageFetcher(
            self.store,
            download_dir=self.download_dir,
            read_tree_file=tree_file_reader(self._config_root(), self.store, change.base_commit),
            progress=self.progress,
            cache_only=opts.cache_only,
        )
        wanted = [*tx.install, *(p for _, p in tx.replace)]
        remote = [p for p in wanted if p.repo != COMMANDLINE]
        if opts.download_only:
            with self.progress.step("Downloading"), error_context("Downloading"):
                paths, _imported = fetcher.download(remote)
            text = (
                f"Downloaded {fetcher.fetched} of {len(remote)} packages (the others were cached)."
            )
            return Result(Outcome.DOWNLOADED, text, notices=plan.notices)
        # One durability point for everything written until the commit (package
        # imports, their refs, the layered commit): a syncfs per ref would wait on
        # every dirty page of the filesystem each time.
        with self.store.batch():
            with error_context("Fetching packages"):
                obtained = fetcher.obtain(remote)
                fault_point("engine-after-import")
                fetched = iter(obtained.packages)
                imported = [
                    self._import_local(fetcher, p) if p.repo == COMMANDLINE else next(fetched)
                    for p in wanted
                ]
            commit = self._build_commit(change, plan, imported, work)
        fault_point("engine-after-commit")
        with self.progress.step("Staging"):
            deployment = self.sysroot.deploy(self.osname, commit, plan.origin)
        details = []
        if obtained.cached or obtained.downloaded:
            details.append(f"Packages: {obtained.cached} cached, {obtained.downloaded} downloaded")
        text = plan.changes_text(self._base_diff(plan.base_pair), details=details)
        return Result(Outcome.DEPLOYED, text, deployment, plan.notices)

    def _import_local(self, fetcher: PackageFetcher, pkg: PackageRef) -> ImportedPackage:
        path = Path(pkg.location)
        info = read_rpm_file(path)
        keep_local_rpm(self.store, info)
        return fetcher.import_file(path, f"sha256:{info.file_sha256}")

    def _build_commit(
        self, change: _Change, plan: LayerPlan, packages: Sequence[ImportedPackage], work: Path
    ) -> str:
        tx = plan.tx
        base_info = self.store.commit_info(change.base_commit)
        removals = (*tx.remove, *(old for old, _ in tx.replace))
        assembly = work / "assemble"
        assembly.mkdir()
        with error_context("Assembling"):
            tree = assemble(
                self.store,
                change.base_commit,
                packages,
                remove=removals,
                base_root=self._base_root(change.base_commit),
                admin_etc=self.current().deployment.path / "etc",
                workdir=assembly,
                progress=self.progress,
                replacefiles=frozenset(change.requests.fileoverride),
            )
        inactive = tuple(r for r, _ in tx.inactive)
        layer = LayerInfo(
            base_checksum=change.base_commit,
            requested=change.requests.packages,
            requested_local=tuple(p.nevra for p in change.requests.local),
            inactive=inactive,
            layered=tuple(p.nevra for p in tx.install),
            package_digests=tuple(p.sha256 for p in packages),
            removed=tx.remove,
            replaced=tuple(old for old, _ in tx.replace),
            repomd=tx.repomd,
            inputhash=plan.inputhash,
            version=base_info.metadata.get("version", ""),
        )
        subject = f"Layered on {change.base_commit[:12]}"
        with self.progress.step("Committing"), error_context("Committing"):
            return self.store.commit_tree(
                tree,
                subject=subject,
                metadata=layer.to_metadata(),
                parents=(change.base_commit,),
                timestamp=base_info.timestamp,
            )

    def _base_root(self, base_commit: str) -> Path | None:
        """A deployment checked out from the base commit itself saves a checkout."""
        for deployment in self.sysroot.deployments():
            if deployment.checksum == base_commit and deployment.path.is_dir():
                return deployment.path
        return None
