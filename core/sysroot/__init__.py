"""The sysroot: deployments of store commits, as libostree's ``ostree-sysroot-*`` files.

Deployments and their origins, the sysroot lock, boot entries and boot order, the ``/etc`` merge,
``/var`` through tmpfiles.d, staging and spare checkouts. The sysroot uses the store's public API
(:mod:`core.store`), never the reverse. :class:`Sysroot` (:mod:`.sysroot`) is the facade; its names
are re-exported here and loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.sysroot.deployment import Deployment
    from core.sysroot.sysroot import StagingInfo, Sysroot

__all__ = ["Deployment", "StagingInfo", "Sysroot"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from core.sysroot import sysroot  # noqa: PLC0415 - loaded on first use (pygit2)

        return getattr(sysroot, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
