"""libsolv problems -> sentences a user understands, each with what to do about it.

libsolv reports *rules* ("package foo requires bar >= 2.0, but none of the
providers can be installed"). Layering adds one fact libsolv does not phrase:
base packages are locked. So a provider that would replace a base package is
named as such, with the two ways out (a newer base, or an override).
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable

import solv

_S = solv.Solver
_SAME_NAME = (_S.SOLVER_RULE_PKG_SAME_NAME, _S.SOLVER_RULE_PKG_IMPLICIT_OBSOLETES)


def nevra(s: solv.XSolvable) -> str:
    """``name-[epoch:]version-release.arch`` as rpm prints it."""
    return f"{s.name}-{s.evr}.{s.arch}"


class ProblemWriter:
    """Renders the problems of one solve; knows which solvables are the locked base."""

    def __init__(
        self, pool: solv.Pool, locked: Collection[int], removing: Collection[int] = ()
    ) -> None:
        self.pool = pool
        self.locked = set(locked)
        self.removing = set(removing)
        self.installed = pool.installed

    # --- helpers -------------------------------------------------------------------------
    def _is_base(self, s: solv.XSolvable | None) -> bool:
        return s is not None and self.installed is not None and s.repo == self.installed

    def _who(self, s: solv.XSolvable) -> str:
        return f"base package {nevra(s)}" if self._is_base(s) else nevra(s)

    def _base_same_name(self, s: solv.XSolvable) -> list[solv.XSolvable]:
        """Locked base packages that installing ``s`` would have to replace."""
        if self.installed is None or self._is_base(s):
            return []
        return [
            b
            for b in self.installed.solvables
            if b.nameid == s.nameid and b.id in self.locked and b.id != s.id
        ]

    @staticmethod
    def _lock_hint(names: Iterable[str]) -> str:
        joined = " ".join(sorted(set(names)))
        return (
            f"base packages are not changed by layering: rebase to a newer base, "
            f"or `strata override replace` {joined}"
        )

    # --- one rule ------------------------------------------------------------------------
    def _requires(self, s: solv.XSolvable, dep: solv.Dep) -> tuple[str, str | None]:
        providers = self.pool.whatprovides(dep)
        blocked = {b.id: b for p in providers for b in self._base_same_name(p)}
        if blocked:
            has = ", ".join(sorted(nevra(b) for b in blocked.values()))
            names = {b.name for b in blocked.values()}
            return (
                f"{nevra(s)} requires {dep}, but the base has {has}",
                self._lock_hint(names),
            )
        removed_names = {self.pool.solvables[i].nameid for i in self.removing}
        if providers and all(p.nameid in removed_names for p in providers):
            gone = ", ".join(sorted(nevra(p) for p in providers if p.id in self.removing))
            keep = " ".join(sorted({p.name for p in providers}))
            # a layered package is not the base's to remove: it goes with its request
            also = (
                f"override-remove {s.name} as well"
                if self._is_base(s)
                else f"`strata uninstall` {s.name} (or the request that brings it) first"
            )
            return (
                f"{self._who(s)} requires {dep}, which only {gone} provides, and "
                f"`override remove` removes it",
                f"{also}, or keep {keep}",
            )
        if not providers:
            return (
                f"{nevra(s)} requires {dep}, which nothing in the base or the enabled "
                "repositories provides",
                "enable a repository that provides it, or add the RPM that does",
            )
        listed = ", ".join(sorted(nevra(p) for p in providers)[:5])
        return (
            f"{self._who(s)} requires {dep}, but none of its providers ({listed}) can be layered",
            None,
        )

    def rule(self, info: solv.Ruleinfo) -> tuple[str, str | None]:  # noqa: PLR0911
        """One rule as ``(sentence, hint or None)``."""
        t, s, o, dep = info.type, info.solvable, info.othersolvable, info.dep
        if t in (_S.SOLVER_RULE_PKG_NOTHING_PROVIDES_DEP, _S.SOLVER_RULE_PKG_REQUIRES):
            return self._requires(s, dep)
        if t in (_S.SOLVER_RULE_PKG_SAME_NAME, _S.SOLVER_RULE_PKG_IMPLICIT_OBSOLETES):
            new, old = (o, s) if self._is_base(s) else (s, o)
            if self._is_base(old):
                return (
                    f"{nevra(new)} would replace {self._who(old)}",
                    self._lock_hint([old.name]),
                )
            return (
                f"{nevra(s)} and {nevra(o)} cannot both be layered",
                "request only one version of the package",
            )
        if t == _S.SOLVER_RULE_PKG_CONFLICTS:
            if self._is_base(s) or self._is_base(o):
                base, new = (s, o) if self._is_base(s) else (o, s)
                return (
                    f"{self._who(s)} conflicts with {dep} provided by {self._who(o)}",
                    f"{nevra(new)} cannot be layered on this base as long as {nevra(base)} is "
                    f"in it: `strata override remove` {base.name}, or leave {new.name} out",
                )
            return (
                f"{nevra(s)} conflicts with {dep} provided by {nevra(o)}",
                "these cannot be layered together: drop one of the requests",
            )
        if t in (_S.SOLVER_RULE_PKG_OBSOLETES, _S.SOLVER_RULE_PKG_INSTALLED_OBSOLETES):
            if self._is_base(o):
                return (
                    f"{nevra(s)} obsoletes {dep}, which would remove {self._who(o)}",
                    f"base packages are not changed by layering: `strata override remove` "
                    f"{o.name} first, or leave {s.name} out",
                )
            if self._is_base(s):
                return (
                    f"{self._who(s)} obsoletes {dep} provided by {nevra(o)}",
                    f"{o.name} cannot be layered on this base",
                )
            return (
                f"{nevra(s)} obsoletes {dep} provided by {nevra(o)}",
                "these cannot be layered together: drop one of the requests",
            )
        if t == _S.SOLVER_RULE_PKG_NOT_INSTALLABLE:
            if not self.pool.isknownarch(s.archid):
                return (
                    f"{nevra(s)} is built for {s.arch}, which this system cannot run",
                    "pick the package built for this architecture",
                )
            return (f"{nevra(s)} is not installable (a broken package)", None)
        if t == _S.SOLVER_RULE_PKG_SELF_CONFLICT:
            return (f"{nevra(s)} conflicts with itself ({dep})", "the package is broken")
        if t in (_S.SOLVER_RULE_JOB_NOTHING_PROVIDES_DEP, _S.SOLVER_RULE_JOB_UNKNOWN_PACKAGE):
            return (f"no package provides {dep}", None)
        return (info.problemstr(), None)

    # --- one problem ---------------------------------------------------------------------
    def _is_missing(self, info: solv.Ruleinfo) -> bool:
        """A requirement nothing at all provides."""
        requires = (_S.SOLVER_RULE_PKG_NOTHING_PROVIDES_DEP, _S.SOLVER_RULE_PKG_REQUIRES)
        return (
            info.type in requires
            and info.solvable is not None
            and info.dep is not None
            and not self.pool.whatprovides(info.dep)
        )

    def _missing(self, infos: Iterable[solv.Ruleinfo]) -> dict[int, list[str]]:
        """solvable id -> its requirements nothing provides, in rule order."""
        out: dict[int, list[str]] = {}
        for info in infos:
            if self._is_missing(info):
                deps = out.setdefault(info.solvable.id, [])
                if str(info.dep) not in deps:
                    deps.append(str(info.dep))
        return out

    def problem(self, problem: solv.Problem) -> str:
        """A problem as one line: the main reason, the chain behind it, then the hints."""
        main = problem.findproblemrule().info()
        infos = [main]
        for rule in problem.findallproblemrules():
            for info in rule.allinfos():
                if info.type in (_S.SOLVER_RULE_JOB, _S.SOLVER_RULE_UPDATE):
                    continue
                infos.append(info)
        # Say the requested package's trouble first, then what its dependencies ran into.
        provided: set[int] = set()
        for info in infos:
            if info.type == _S.SOLVER_RULE_PKG_REQUIRES and info.dep is not None:
                provided.update(p.id for p in self.pool.whatprovides(info.dep))
        infos.sort(key=lambda i: i.solvable is not None and i.solvable.id in provided)
        sentences: list[str] = []
        hints: list[str] = []
        missing = self._missing(infos)
        for info in infos:
            hint: str | None
            if info.solvable is not None and info.solvable.id in missing:
                sentence, hint = _nothing_provides(info.solvable, missing.pop(info.solvable.id))
            elif self._is_missing(info):
                continue  # named above with the package's other missing requirements
            else:
                sentence, hint = self.rule(info)
            if hint in hints and info.type in _SAME_NAME:
                continue  # the base lock was already named by the main reason
            if sentence not in sentences:
                sentences.append(sentence)
            if hint and hint not in hints:
                hints.append(hint)
        text = "; ".join(sentences)
        return f"{text}: {'; '.join(hints)}" if hints else text


def _nothing_provides(s: solv.XSolvable, deps: list[str]) -> tuple[str, str]:
    """One sentence for all of a package's missing requirements: python needs
    python-libs and libpython2.7.so.1.0, one line names both."""
    if len(deps) == 1:
        what, hint = deps[0], "enable a repository that provides it, or add the RPM that does"
    else:
        what = ", ".join(deps[:-1]) + f" and {deps[-1]}"
        hint = "enable repositories that provide them, or add the RPMs that do"
    sentence = (
        f"{nevra(s)} requires {what}, which nothing in the base or the enabled "
        "repositories provides"
    )
    return sentence, hint


def suggest(word: str, names: Iterable[str], n: int = 3) -> list[str]:
    """Close matches of ``word`` among package names, best first."""
    base = word.split(maxsplit=1)[0] if word.split() else word
    return difflib.get_close_matches(base, sorted(set(names)), n=n, cutoff=0.75)


def unknown_request(request: str, names: Iterable[str], versions: list[str]) -> str:
    """The sentence for a request nothing matches."""
    if versions:
        shown = ", ".join(versions[:5])
        return (
            f"No package matches '{request}'; available versions: {shown}: "
            "relax the version, or enable a repository that has it"
        )
    close = suggest(request, names)
    if close:
        return f"No package matches '{request}'; did you mean: {', '.join(close)}?"
    return f"No package matches '{request}': check the spelling, or enable a repository that has it"
