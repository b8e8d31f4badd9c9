"""Which scripts run, in which order, with which input: rpm's rules applied to a union.

Layering installs packages on top of a base that already ran its scripts, so
only the layered packages' install scripts run, in rpm's order:

1. every ``%pre`` (install order),
2. per package: its ``%post``, then the old-style ``%triggerin`` it sets off or
   that fire on it, then the ``%filetriggerin`` its files set off,
3. every ``%posttrans``,
4. every ``%transfiletriggerin`` (base and layered) whose prefixes match a
   layered file.

A file trigger is fed every matching path of the whole tree (base and layered
files), sorted, one per line: the trigger (ldconfig, an icon cache) rebuilds
state that covers the whole tree, so it must see all of it. Removal-side
scripts never run: see docs/triggers.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import rpm

from triggers.model import LUA, Script, ScriptKind, ScriptPlan
from triggers.overrides import DEFAULT_OVERRIDES, Overrides, apply_override
from triggers.scripts import FileTrigger, PackageInfo, TriggerCondition


def _split_evr(text: str) -> tuple[str, str, str | None]:
    epoch, _, rest = text.rpartition(":") if ":" in text else ("0", "", text)
    version, dash, release = rest.partition("-")
    return (epoch or "0", version, release if dash else None)


def condition_matches(cond: TriggerCondition, pkg: PackageInfo) -> bool:
    """Does ``pkg`` satisfy ``name [op version]`` of an old-style trigger?"""
    if cond.name != pkg.name:
        return False
    sense = cond.flags & (rpm.RPMSENSE_LESS | rpm.RPMSENSE_GREATER | rpm.RPMSENSE_EQUAL)
    if not cond.version or not sense:
        return True
    epoch, version, release = _split_evr(cond.version)
    mine = pkg.evr if release is not None else (pkg.evr[0], pkg.evr[1], "")
    cmp = rpm.labelCompare(mine, (epoch, version, release or ""))
    return bool(
        (cmp < 0 and sense & rpm.RPMSENSE_LESS)
        or (cmp == 0 and sense & rpm.RPMSENSE_EQUAL)
        or (cmp > 0 and sense & rpm.RPMSENSE_GREATER)
    )


def matching_paths(prefixes: Iterable[str], paths: Iterable[str]) -> tuple[str, ...]:
    """Paths starting with any prefix (a plain string prefix, as rpm matches)."""
    heads = tuple(prefixes)
    return tuple(sorted({p for p in paths if p.startswith(heads)}))


class _Planner:
    def __init__(self, layered: Sequence[PackageInfo], base: Sequence[PackageInfo]) -> None:
        self.layered = tuple(layered)
        self.base = tuple(base)
        self.tree_files = tuple(f for pkg in (*self.base, *self.layered) for f in pkg.files)
        self.out: list[Script] = []

    def emit(
        self,
        pkg: PackageInfo,
        kind: ScriptKind,
        interp: tuple[str, ...],
        body: str | None,
        *,
        arg: tuple[int, ...] = (1,),
        stdin: tuple[str, ...] = (),
        trigger_of: str = "",
        priority: int = 0,
    ) -> None:
        if body is None and interp[:1] == (LUA,):
            return  # an empty Lua scriptlet does nothing
        self.out.append(
            Script(
                package=pkg.name,
                kind=kind,
                interp=interp,
                body=body,
                arg=arg,
                stdin=stdin,
                nevra=pkg.nevra,
                trigger_of=trigger_of,
                priority=priority,
            )
        )

    def install_scripts(self, pkg: PackageInfo, kind: ScriptKind) -> None:
        found = pkg.script(kind)
        if found is not None:
            self.emit(pkg, kind, found.interp, found.body)

    def old_triggers(self, new: PackageInfo, installed: Sequence[PackageInfo]) -> None:
        # Triggers of packages already there that ``new`` sets off ...
        for owner in installed:
            if owner is new:
                continue
            for trig in owner.triggers:
                if any(condition_matches(c, new) for c in trig.conditions):
                    self.emit(
                        owner,
                        ScriptKind.TRIGGERIN,
                        trig.interp,
                        trig.body,
                        arg=(1, 1),
                        trigger_of=new.name,
                    )
        # ... then ``new``'s own triggers on packages already there (itself included).
        for trig in new.triggers:
            hit = next(
                (p for p in installed for c in trig.conditions if condition_matches(c, p)),
                None,
            )
            if hit is not None:
                self.emit(
                    new,
                    ScriptKind.TRIGGERIN,
                    trig.interp,
                    trig.body,
                    arg=(1, 1),
                    trigger_of=hit.name,
                )

    def file_triggers(
        self,
        owners: Sequence[PackageInfo],
        kind: ScriptKind,
        fired_by: Sequence[str],
        own_fired_by: Sequence[str] | None,
        new: PackageInfo | None,
    ) -> None:
        """Fire ``kind`` triggers of ``owners`` whose prefixes match ``fired_by``.

        The package just installed (``new``) matches its own triggers against
        ``own_fired_by`` instead: every layered file present so far, as rpm runs
        a new package's file triggers on what is already installed.
        """
        fired: list[tuple[int, int, PackageInfo, FileTrigger]] = []
        for order, owner in enumerate(owners):
            for trig in owner.file_triggers:
                if trig.kind != kind:
                    continue
                candidates = own_fired_by if owner is new and own_fired_by is not None else fired_by
                if matching_paths(trig.prefixes, candidates):
                    fired.append((-trig.priority, order, owner, trig))
        for _, _, owner, trig in sorted(fired, key=lambda item: (item[0], item[1])):
            paths = matching_paths(trig.prefixes, self.tree_files)
            self.emit(owner, kind, trig.interp, trig.body, stdin=paths, priority=trig.priority)

    def plan(self) -> list[Script]:
        for pkg in self.layered:
            self.install_scripts(pkg, ScriptKind.PRE)
        installed: list[PackageInfo] = list(self.base)
        layered_files: list[str] = []
        for pkg in self.layered:
            installed.append(pkg)
            layered_files.extend(pkg.files)
            self.install_scripts(pkg, ScriptKind.POST)
            self.old_triggers(pkg, installed)
            self.file_triggers(installed, ScriptKind.FILETRIGGERIN, pkg.files, layered_files, pkg)
        for pkg in self.layered:
            self.install_scripts(pkg, ScriptKind.POSTTRANS)
        self.file_triggers(installed, ScriptKind.TRANSFILETRIGGERIN, layered_files, None, None)
        return self.out


def plan_packages(
    layered: Sequence[PackageInfo],
    base: Sequence[PackageInfo] = (),
    *,
    compose: bool = False,
    overrides: Overrides = DEFAULT_OVERRIDES,
) -> ScriptPlan:
    """The plan for installing ``layered`` (in install order) on top of ``base``.

    ``compose=True`` builds a tree from nothing: every package counts as layered.
    """
    if compose:
        layered = (*base, *(p for p in layered if p not in base))
        base = ()
    scripts: list[Script] = []
    ignored: list[str] = []
    for script in _Planner(layered, base).plan():
        kept = apply_override(script, overrides)
        if kept is None:
            ignored.append(script.label)
        else:
            scripts.append(kept)
    return ScriptPlan(scripts=tuple(scripts), ignored=tuple(ignored))
