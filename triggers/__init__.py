"""The bubblewrap sandbox, RPM scriptlets and file triggers as data.

``plan_scripts`` turns rpm headers into a ``ScriptPlan`` (what runs, in rpm's
order, with which input); ``run_scripts`` runs it in a bwrap sandbox over an
overlay whose upper directory collects every write. See docs/triggers.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from triggers.execute import run_scripts
from triggers.model import Script, ScriptKind, ScriptPlan
from triggers.mutability import Mutability
from triggers.overrides import DEFAULT_OVERRIDES, Override, OverrideAction, Overrides
from triggers.plan import plan_packages
from triggers.runner import Sandbox, SandboxResult
from triggers.scripts import (
    PackageInfo,
    install_order,
    read_files,
    read_header,
    read_headers,
)


def plan_scripts(
    layered: Sequence[Any],
    base: Sequence[Any],
    *,
    compose: bool = False,
    overrides: Overrides = DEFAULT_OVERRIDES,
) -> ScriptPlan:
    """The scripts to run when ``layered`` rpm headers are installed on ``base`` headers.

    Layered packages are taken in rpm's install order (dependencies first).
    ``compose=True``: every package is "layered" (building a base from nothing).
    """
    ordered = install_order([*base, *layered] if compose else list(layered))
    if compose:
        return plan_packages(read_headers(ordered), (), compose=True, overrides=overrides)
    new = read_headers(ordered)
    old = read_headers(base, files_under=())
    # Base files only matter as input of file triggers: read those under their prefixes.
    prefixes = tuple(
        sorted({p for pkg in (*new, *old) for t in pkg.file_triggers for p in t.prefixes})
    )
    old = tuple(
        replace(info, files=read_files(hdr, files_under=prefixes))
        for info, hdr in zip(old, base, strict=True)
    )
    return plan_packages(new, old, overrides=overrides)


__all__ = [
    "DEFAULT_OVERRIDES",
    "Mutability",
    "Override",
    "OverrideAction",
    "Overrides",
    "PackageInfo",
    "Sandbox",
    "SandboxResult",
    "Script",
    "ScriptKind",
    "ScriptPlan",
    "plan_packages",
    "plan_scripts",
    "read_header",
    "run_scripts",
]
