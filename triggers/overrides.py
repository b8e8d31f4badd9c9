"""Per-package script overrides: a data table, not branches in code.

Some scripts are wrong to run when a tree is built offline: they act on the
running machine (regenerating an initramfs for the booted kernel), or write
caches under /var that a commit never carries. Each entry names the package
and the script, what to do instead, and why. Layering code may pass its own
table (for a site-specific fix) to ``plan_scripts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from triggers.model import DEFAULT_INTERP, Script, ScriptKind


class OverrideAction(StrEnum):
    IGNORE = "ignore"  # do not run the script at all
    REPLACE = "replace"  # run ``body`` (with ``interp``) instead


@dataclass(frozen=True)
class Override:
    action: OverrideAction
    reason: str
    body: str | None = None
    interp: tuple[str, ...] = DEFAULT_INTERP


Overrides = Mapping[tuple[str, ScriptKind], Override]

DEFAULT_OVERRIDES: Overrides = MappingProxyType(
    {
        ("kernel-core", ScriptKind.POSTTRANS): Override(
            OverrideAction.IGNORE,
            "kernel-install writes an initramfs and boot entries for the build host; "
            "the deployment writes its own boot entries",
        ),
        ("kernel", ScriptKind.POSTTRANS): Override(
            OverrideAction.IGNORE,
            "kernel-install writes an initramfs and boot entries for the build host; "
            "the deployment writes its own boot entries",
        ),
        ("microcode_ctl", ScriptKind.POST): Override(
            OverrideAction.IGNORE,
            "rebuilds the initramfs of the running kernel with dracut",
        ),
        ("man-db", ScriptKind.TRANSFILETRIGGERIN): Override(
            OverrideAction.IGNORE,
            "rebuilds the man index under /var/cache, which a commit does not carry",
        ),
        ("man-db", ScriptKind.FILETRIGGERIN): Override(
            OverrideAction.IGNORE,
            "rebuilds the man index under /var/cache, which a commit does not carry",
        ),
    }
)


def apply_override(script: Script, overrides: Overrides) -> Script | None:
    """The script to run instead of ``script``: itself, a replacement, or None (ignored)."""
    override = overrides.get((script.package, script.kind))
    if override is None:
        return script
    if override.action == OverrideAction.IGNORE:
        return None
    return Script(
        package=script.package,
        kind=script.kind,
        interp=override.interp,
        body=override.body,
        arg=script.arg,
        stdin=script.stdin,
        nevra=script.nevra,
        trigger_of=script.trigger_of,
        priority=script.priority,
    )
