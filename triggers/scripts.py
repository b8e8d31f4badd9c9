"""Read scriptlets, triggers and file triggers out of rpm headers, into plain data.

Everything after this module works on frozen dataclasses, so the ordering and
matching rules (``plan.py``) are testable without building a single RPM.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import rpm

from triggers.model import DEFAULT_INTERP, ScriptKind

# rpmScriptFlags (rpm/rpmscript.h); the Python bindings do not export them.
SCRIPT_FLAG_EXPAND = 1 << 0  # body is macro-expanded at install time
SCRIPT_FLAG_QFORMAT = 1 << 1  # body is header-queryformat-expanded at install time

DEFAULT_FILE_TRIGGER_PRIORITY = 1000000


@dataclass(frozen=True)
class Scriptlet:
    kind: ScriptKind
    interp: tuple[str, ...]
    body: str | None


@dataclass(frozen=True)
class TriggerCondition:
    """One package an old-style trigger watches: name plus optional version range."""

    name: str
    flags: int  # RPMSENSE_LESS/GREATER/EQUAL bits
    version: str  # "[epoch:]version[-release]", "" for any


@dataclass(frozen=True)
class PackageTrigger:
    """An old-style ``%triggerin -- a, b >= 2`` of one package."""

    interp: tuple[str, ...]
    body: str | None
    conditions: tuple[TriggerCondition, ...]


@dataclass(frozen=True)
class FileTrigger:
    """A ``%filetriggerin``/``%transfiletriggerin`` on path prefixes."""

    kind: ScriptKind
    interp: tuple[str, ...]
    body: str | None
    prefixes: tuple[str, ...]
    priority: int


@dataclass(frozen=True)
class PackageInfo:
    """What planning needs to know about one package."""

    name: str
    epoch: int | None
    version: str
    release: str
    arch: str
    files: tuple[str, ...] = ()
    scripts: tuple[Scriptlet, ...] = ()
    triggers: tuple[PackageTrigger, ...] = ()
    file_triggers: tuple[FileTrigger, ...] = ()

    @property
    def nevra(self) -> str:
        epoch = f"{self.epoch}:" if self.epoch else ""
        return f"{self.name}-{epoch}{self.version}-{self.release}.{self.arch}"

    @property
    def evr(self) -> tuple[str, str, str]:
        return (str(self.epoch or 0), self.version, self.release)

    def script(self, kind: ScriptKind) -> Scriptlet | None:
        return next((s for s in self.scripts if s.kind == kind), None)


_SCRIPT_TAGS = (
    (ScriptKind.PRE, "PREIN"),
    (ScriptKind.POST, "POSTIN"),
    (ScriptKind.POSTTRANS, "POSTTRANS"),
)


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _interp(value: Any) -> tuple[str, ...]:
    """An interpreter tag: a string array (with arguments) or one string."""
    parts = [_text(v) for v in _list(value)]
    if len(parts) == 1:
        parts = parts[0].split()
    return tuple(parts)


def _expand(hdr: Any, body: str, flags: int) -> str:
    if flags & SCRIPT_FLAG_QFORMAT:
        body = _text(hdr.format(body))
    if flags & SCRIPT_FLAG_EXPAND:
        body = _text(rpm.expand(body))
    return body


def _tag(name: str) -> int:
    return int(getattr(rpm, f"RPMTAG_{name}"))


def _scriptlets(hdr: Any) -> tuple[Scriptlet, ...]:
    found = []
    for kind, tag in _SCRIPT_TAGS:
        body = hdr[_tag(tag)]
        prog = _interp(hdr[_tag(f"{tag}PROG")])
        if body is None and not prog:
            continue
        text = None if body is None else _expand(hdr, _text(body), hdr[_tag(f"{tag}FLAGS")] or 0)
        found.append(Scriptlet(kind=kind, interp=prog or DEFAULT_INTERP, body=text))
    return tuple(found)


def _triggers(hdr: Any) -> tuple[PackageTrigger, ...]:
    bodies = _list(hdr[_tag("TRIGGERSCRIPTS")])
    progs = _list(hdr[_tag("TRIGGERSCRIPTPROG")])
    flags_by_script = _list(hdr[_tag("TRIGGERSCRIPTFLAGS")])
    names = _list(hdr[_tag("TRIGGERNAME")])
    versions = _list(hdr[_tag("TRIGGERVERSION")])
    senses = _list(hdr[_tag("TRIGGERFLAGS")])
    index = _list(hdr[_tag("TRIGGERINDEX")])
    conditions: dict[int, list[TriggerCondition]] = {}
    for name, version, sense, i in zip(names, versions, senses, index, strict=False):
        if int(sense) & rpm.RPMSENSE_TRIGGERIN:
            cond = TriggerCondition(_text(name), int(sense), _text(version))
            conditions.setdefault(int(i), []).append(cond)
    found = []
    for i in sorted(conditions):
        body = _text(bodies[i]) if i < len(bodies) else ""
        flags = int(flags_by_script[i]) if i < len(flags_by_script) else 0
        prog = _interp(progs[i]) if i < len(progs) else ()
        found.append(
            PackageTrigger(
                interp=prog or DEFAULT_INTERP,
                body=_expand(hdr, body, flags) if body else None,
                conditions=tuple(conditions[i]),
            )
        )
    return tuple(found)


def _file_triggers(hdr: Any, prefix: str, kind: ScriptKind) -> tuple[FileTrigger, ...]:
    bodies = _list(hdr[_tag(f"{prefix}SCRIPTS")])
    progs = _list(hdr[_tag(f"{prefix}SCRIPTPROG")])
    flags_by_script = _list(hdr[_tag(f"{prefix}SCRIPTFLAGS")])
    names = _list(hdr[_tag(f"{prefix}NAME")])
    senses = _list(hdr[_tag(f"{prefix}FLAGS")])
    index = _list(hdr[_tag(f"{prefix}INDEX")])
    priorities = _list(hdr[_tag(f"{prefix}PRIORITIES")])
    prefixes: dict[int, list[str]] = {}
    for name, sense, i in zip(names, senses, index, strict=False):
        if int(sense) & rpm.RPMSENSE_TRIGGERIN:
            prefixes.setdefault(int(i), []).append(_text(name))
    found = []
    for i in sorted(prefixes):
        body = _text(bodies[i]) if i < len(bodies) else ""
        flags = int(flags_by_script[i]) if i < len(flags_by_script) else 0
        prog = _interp(progs[i]) if i < len(progs) else ()
        priority = int(priorities[i]) if i < len(priorities) else DEFAULT_FILE_TRIGGER_PRIORITY
        found.append(
            FileTrigger(
                kind=kind,
                interp=prog or DEFAULT_INTERP,
                body=_expand(hdr, body, flags) if body else None,
                prefixes=tuple(prefixes[i]),
                priority=priority,
            )
        )
    return tuple(found)


def read_header(hdr: Any, *, files_under: tuple[str, ...] | None = None) -> PackageInfo:
    """Turn one ``rpm.hdr`` into a ``PackageInfo``, with the files of
    :func:`read_files` (all of them when ``files_under`` is None)."""
    epoch = hdr[rpm.RPMTAG_EPOCH]
    return PackageInfo(
        name=_text(hdr[rpm.RPMTAG_NAME]),
        epoch=None if epoch is None else int(epoch),
        version=_text(hdr[rpm.RPMTAG_VERSION]),
        release=_text(hdr[rpm.RPMTAG_RELEASE]),
        arch=_text(hdr[rpm.RPMTAG_ARCH] or "noarch"),
        files=read_files(hdr, files_under=files_under),
        scripts=_scriptlets(hdr),
        triggers=_triggers(hdr),
        file_triggers=(
            _file_triggers(hdr, "FILETRIGGER", ScriptKind.FILETRIGGERIN)
            + _file_triggers(hdr, "TRANSFILETRIGGER", ScriptKind.TRANSFILETRIGGERIN)
        ),
    )


def read_files(hdr: Any, *, files_under: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """The files of ``hdr``; with ``files_under``, only those starting with one of these
    prefixes. A base package's files only ever reach a plan as the input of a file
    trigger, so the prefixes of every file trigger in play are all that is needed, and
    a base of 100k files is not turned into 100k Python strings for nothing."""
    names = _list(hdr[rpm.RPMTAG_FILENAMES]) if _may_have_files(hdr, files_under) else []
    if files_under:
        wanted = tuple(p.encode("utf-8", "surrogateescape") for p in files_under)
        names = [f for f in names if f.startswith(wanted if isinstance(f, bytes) else files_under)]
    return tuple(_text(f) for f in names)


def _may_have_files(hdr: Any, files_under: tuple[str, ...] | None) -> bool:
    """Whether any file of ``hdr`` can start with one of ``files_under``, judged from its
    directory names alone (a few per package, where file names are thousands)."""
    if files_under is None:
        return True
    for value in _list(hdr[rpm.RPMTAG_DIRNAMES]):
        d = _text(value)
        if d.startswith(files_under) or any(p.startswith(d) for p in files_under):
            return True
    return False


def read_headers(
    hdrs: Sequence[Any], *, files_under: tuple[str, ...] | None = None
) -> tuple[PackageInfo, ...]:
    return tuple(read_header(h, files_under=files_under) for h in hdrs)


def install_order(hdrs: Sequence[Any]) -> list[Any]:
    """``hdrs`` in the order rpm would install them (dependencies first).

    An install-only transaction set orders by requires/provides without opening
    any database; ties keep the given order.
    """
    ts = rpm.TransactionSet("/")
    ts.setVSFlags(rpm._RPMVSF_NOSIGNATURES | rpm._RPMVSF_NODIGESTS)
    for i, hdr in enumerate(hdrs):
        ts.addInstall(hdr, i, "i")
    ts.order()
    return [hdrs[te.Key()] for te in ts]
