"""The core decision: a ready pool + requests -> a frozen ``Transaction`` or every problem.

This works on any libsolv pool whose installed repo is the base, so logic tests
can build the pool from text (``solver.testtags``) while ``solve()`` builds it
from a real rpmdb and rpm-md repositories.

Layering never changes the base by accident: every base package is locked
except those named by an override. A request the base already satisfies is
*inactive* rather than an error, so it can come back into force on a later
base that drops the package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import solv

from core.errors import FetchError, SolveError
from solver.labels import check_label
from solver.problems import ProblemWriter, nevra, unknown_request
from solver.types import PackageRef, Speed, Transaction

_SEL = solv.Selection
_JOB = solv.Job
COMMANDLINE = "@commandline"
_REQUEST_FLAGS = (
    _SEL.SELECTION_NAME
    | _SEL.SELECTION_PROVIDES
    | _SEL.SELECTION_REL
    | _SEL.SELECTION_CANON
    | _SEL.SELECTION_DOTARCH
    | _SEL.SELECTION_GLOB
)


@dataclass(frozen=True)
class RepoSource:
    """How packages of one repo are fetched: the base URL they are relative to, and trust."""

    baseurl: str = ""
    gpgcheck: bool = False
    gpgkeys: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()  # the repo's other mirrors, tried in order when it fails
    speed: Speed = Speed()


@dataclass(frozen=True)
class LocalFile:
    """A local RPM added to the ``@commandline`` repo."""

    path: str
    checksum: str = ""


@dataclass(frozen=True)
class PoolInput:
    """Everything ``solve_pool`` needs besides the pool: requests and how to describe results."""

    install: tuple[str, ...] = ()
    local: Mapping[int, LocalFile] = field(default_factory=dict)  # solvable id -> file
    override_remove: tuple[str, ...] = ()
    override_replace: Mapping[int, LocalFile] = field(default_factory=dict)
    sources: Mapping[str, RepoSource] = field(default_factory=dict)  # repo id -> source


def _join_url(base: str, href: str) -> str:
    if not base:
        return href
    return base.rstrip("/") + "/" + href.lstrip("/")


def package_ref(s: solv.XSolvable, inp: PoolInput) -> PackageRef:
    """The frozen description of a chosen solvable: where it comes from, how to verify it."""
    evr = s.evr
    epoch = 0
    where = f"repo {s.repo.name!r}: a package"
    if ":" in evr:
        e, evr = evr.split(":", 1)
        if not (e.isascii() and e.isdigit()):
            raise FetchError(
                f"{where} has the epoch {e!r}, not a number",
                hint="the repository or a mirror is broken or hostile; refresh its metadata",
            )
        epoch = int(e)
    version, _, release = evr.rpartition("-")
    for what, value in (("name", s.name), ("version", version), ("release", release)):
        check_label(value, what, error=FetchError, where=where)
    check_label(s.arch, "arch", error=FetchError, where=where)
    local = inp.local.get(s.id) or inp.override_replace.get(s.id)
    if local is not None:
        return PackageRef(
            name=s.name,
            epoch=epoch,
            version=version,
            release=release,
            arch=s.arch,
            nevra=nevra(s),
            repo=COMMANDLINE,
            location=local.path,
            checksum=local.checksum,
        )
    source = inp.sources.get(s.repo.name, RepoSource())
    location = s.lookup_location()  # [href, medianr], or only medianr when there is no href
    if isinstance(location, list | tuple):
        location = location[0]
    if not isinstance(location, str):
        location = ""
    mediabase = s.lookup_str(solv.SOLVABLE_MEDIABASE)
    chk = s.lookup_checksum(solv.SOLVABLE_CHECKSUM)
    return PackageRef(
        name=s.name,
        epoch=epoch,
        version=version,
        release=release,
        arch=s.arch,
        nevra=nevra(s),
        repo=s.repo.name,
        location=_join_url(mediabase or source.baseurl, location) if location else "",
        checksum=f"{chk.typestr()}:{chk.hex()}" if chk else "",
        gpgcheck=source.gpgcheck,
        gpgkeys=source.gpgkeys,
        speed=source.speed,
        size=s.lookup_num(solv.SOLVABLE_DOWNLOADSIZE),
        mirrors=tuple(_join_url(m, location) for m in source.mirrors)
        if location and not mediabase
        else (),
    )


class _Planner:
    """Builds the job list and collects the problems found before libsolv runs."""

    def __init__(self, pool: solv.Pool, inp: PoolInput) -> None:
        self.pool = pool
        self.inp = inp
        self.installed = list(pool.installed.solvables) if pool.installed else []
        self.jobs: list[solv.Job] = []
        self.problems: list[str] = []
        self.inactive: list[tuple[str, str]] = []
        self.unlocked: set[int] = set()
        self.removing: set[int] = set()

    def _base_by_name(self, name: str) -> list[solv.XSolvable]:
        return [s for s in self.installed if s.name == name]

    def overrides(self) -> None:
        for name in self.inp.override_remove:
            sel = self.pool.select(
                name,
                _SEL.SELECTION_NAME | _SEL.SELECTION_CANON | _SEL.SELECTION_INSTALLED_ONLY,
            )
            found = [s for s in sel.solvables() if s.repo == self.pool.installed]
            if not found:
                self.problems.append(
                    f"override remove: '{name}' is not a package of the base: "
                    "only base packages can be removed by override (`strata override reset` "
                    "to drop the override)"
                )
                continue
            for s in found:
                self.unlocked.add(s.id)
                self.removing.add(s.id)
                self.jobs.append(self.pool.Job(_JOB.SOLVER_ERASE | _JOB.SOLVER_SOLVABLE, s.id))
        for sid, local in sorted(self.inp.override_replace.items()):
            s = self.pool.solvables[sid]
            olds = self._base_by_name(s.name)
            if not olds:
                self.problems.append(
                    f"override replace: {nevra(s)} ({local.path}) replaces nothing: the base "
                    f"has no package named {s.name}; use `strata install` to add new packages"
                )
                continue
            self.unlocked.update(o.id for o in olds)
            self.jobs.append(self.pool.Job(_JOB.SOLVER_INSTALL | _JOB.SOLVER_SOLVABLE, sid))

    def _active_base(self, found: Sequence[solv.XSolvable]) -> solv.XSolvable | None:
        base = sorted(
            (s for s in found if s.repo == self.pool.installed and s.id not in self.unlocked),
            key=nevra,
        )
        return base[0] if base else None

    def requests(self) -> None:
        names: list[str] | None = None
        for request in self.inp.install:
            flags = _REQUEST_FLAGS | (_SEL.SELECTION_FILELIST if request.startswith("/") else 0)
            sel = self.pool.select(request, flags)
            found = list(sel.solvables())
            if not found:
                if names is None:
                    names = sorted({s.name for s in self.pool.solvables_iter()})
                self.problems.append(unknown_request(request, names, self._versions(request)))
                continue
            provider = self._active_base(found)
            if provider is not None:
                self.inactive.append((request, nevra(provider)))
                continue
            self.jobs += self._obsoleters(found) or sel.jobs(_JOB.SOLVER_INSTALL)
        for sid, local in sorted(self.inp.local.items()):
            s = self.pool.solvables[sid]
            same = [b for b in self._base_by_name(s.name) if b.evrid == s.evrid]
            same = [b for b in same if b.archid == s.archid and b.id not in self.unlocked]
            if same:
                self.inactive.append((local.path, nevra(same[0])))
                continue
            self.jobs.append(self.pool.Job(_JOB.SOLVER_INSTALL | _JOB.SOLVER_SOLVABLE, sid))

    def _obsoleters(self, found: Sequence[solv.XSolvable]) -> list[solv.Job]:
        """When every candidate is obsoleted by another available package, ask for that one.

        dnf does the same ("oldtool is obsoleted by newtool, trying to install
        newtool instead"): a renamed package keeps working under its old name.
        """
        key = solv.SOLVABLE_OBSOLETES
        replacing: set[int] = set()
        for s in found:
            by = [
                o.id
                for o in self.pool.whatmatchessolvable(key, s)
                if o.repo != self.pool.installed and o.nameid != s.nameid
            ]
            if not by:
                return []
            replacing.update(by)
        what = self.pool.towhatprovides(sorted(replacing))
        return [self.pool.Job(_JOB.SOLVER_INSTALL | _JOB.SOLVER_SOLVABLE_ONE_OF, what)]

    def _versions(self, request: str) -> list[str]:
        """For ``foo >= 9`` when foo exists but no version fits: what there is."""
        parts = request.split()
        if len(parts) < 2:
            return []
        sel = self.pool.select(parts[0], _SEL.SELECTION_NAME)
        return sorted({nevra(s) for s in sel.solvables()})

    def locks(self) -> list[int]:
        locked = [s.id for s in self.installed if s.id not in self.unlocked]
        self.jobs += [self.pool.Job(_JOB.SOLVER_LOCK | _JOB.SOLVER_SOLVABLE, i) for i in locked]
        return locked


def solve_pool(pool: solv.Pool, inp: PoolInput) -> Transaction:
    """Solve ``inp`` on ``pool`` (whose installed repo is the base); ``SolveError`` lists all."""
    planner = _Planner(pool, inp)
    planner.overrides()
    planner.requests()
    locked = planner.locks()
    solver = pool.Solver()
    solver.set_flag(solv.Solver.SOLVER_FLAG_ALLOW_DOWNGRADE, 1)  # only overrides can act on it
    problems = solver.solve(planner.jobs)
    writer = ProblemWriter(pool, locked, planner.removing)
    messages = planner.problems + [writer.problem(p) for p in problems]
    if messages:
        count = len(messages)
        raise SolveError(
            f"cannot resolve the requested packages ({count} problem{'s' * (count != 1)})",
            problems=tuple(messages),
            hint="nothing was changed; fix the problems above and run the command again",
        )
    trans = solver.transaction()
    kept = {s.id for s in trans.keptsolvables()} if pool.installed else set()
    erased = sorted((s for s in planner.installed if s.id not in kept), key=nevra)
    new = sorted(trans.newsolvables(), key=nevra)
    replaced: list[tuple[str, PackageRef]] = []
    install: list[PackageRef] = []
    replaced_ids: set[int] = set()
    for s in new:
        ref = package_ref(s, inp)
        if s.id in inp.override_replace:
            for old in erased:
                if old.nameid == s.nameid:
                    replaced.append((nevra(old), ref))
                    replaced_ids.add(old.id)
        else:
            install.append(ref)
    return Transaction(
        install=tuple(install),
        inactive=tuple(planner.inactive),
        remove=tuple(nevra(s) for s in erased if s.id not in replaced_ids),
        replace=tuple(sorted(replaced, key=lambda pair: pair[0])),
    )
