"""What a layered commit is made of, as data: its plan, inputs digest and commit metadata.

The *inputhash* is rpm-ostree's "state checksum": a digest of everything that decides a
layered tree (base commit, requests, exact package actions, repo metadata). When it
equals the digest stored in the deployment we would build on, the operation has
nothing to do, and it can say so before downloading or unpacking anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.sysroot.origin import Origin
from layering.engine.origin_state import Requests
from layering.engine.summary import render_changes, render_transaction
from layering.rpm.pkgdiff import PackageDiff
from solver import Transaction

INPUTHASH_VERSION = "strata-inputhash-1"

KEY_BASE = "strata.base-checksum"
KEY_REQUESTED = "strata.requested-packages"
KEY_REQUESTED_LOCAL = "strata.requested-local-packages"
KEY_INACTIVE = "strata.inactive-requests"
KEY_LAYERED = "strata.layered-packages"
KEY_PACKAGE_DIGESTS = "strata.layered-sha256"
KEY_REMOVED = "strata.removed-base-packages"
KEY_REPLACED = "strata.replaced-base-packages"
KEY_REPOMD = "strata.repomd"
KEY_INPUTHASH = "strata.inputhash"
KEY_VERSION = "version"


@dataclass(frozen=True)
class PackageAction:
    """One package the transaction puts into the tree, identified by NEVRA and digest."""

    nevra: str
    checksum: str  # "sha256:HEX" of the .rpm file, as the repo metadata states it


def inputhash(
    *,
    base_commit: str,
    requests: Requests,
    install: Sequence[PackageAction],
    remove: Sequence[str] = (),
    replace: Sequence[tuple[str, PackageAction]] = (),
    repomd: Mapping[str, str] | Sequence[tuple[str, str]] = (),
) -> str:
    """SHA-256 over a canonical JSON of the inputs; independent of argument order."""
    repomd_items = repomd.items() if isinstance(repomd, Mapping) else repomd
    document = {
        "version": INPUTHASH_VERSION,
        "base": base_commit,
        "requested": sorted(requests.packages),
        "requested-local": sorted(str(p) for p in requests.local),
        "override-remove": sorted(requests.override_remove),
        "override-replace": sorted(str(p) for p in requests.override_replace),
        "install": sorted([a.nevra, a.checksum] for a in install),
        "remove": sorted(remove),
        "replace": sorted([old, new.nevra, new.checksum] for old, new in replace),
        "repomd": sorted([repo, digest] for repo, digest in repomd_items),
    }
    if requests.fileoverride:  # only then: every other digest stays as it was
        document["fileoverride"] = sorted(requests.fileoverride)
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class LayerInfo:
    """What a layered commit's metadata says about how it was built."""

    base_checksum: str
    requested: tuple[str, ...] = ()
    requested_local: tuple[str, ...] = ()  # NEVRAs
    inactive: tuple[str, ...] = ()
    layered: tuple[str, ...] = ()  # NEVRAs, dependencies included
    package_digests: tuple[str, ...] = ()  # header SHA-256 of each layered package tree
    removed: tuple[str, ...] = ()  # base NEVRAs removed by overrides
    replaced: tuple[str, ...] = ()  # base NEVRAs replaced by local packages
    repomd: tuple[tuple[str, str], ...] = ()
    inputhash: str = ""
    version: str = ""

    def to_metadata(self) -> dict[str, str]:
        meta = {
            KEY_BASE: self.base_checksum,
            KEY_REQUESTED: json.dumps(sorted(self.requested)),
            KEY_REQUESTED_LOCAL: json.dumps(sorted(self.requested_local)),
            KEY_INACTIVE: json.dumps(sorted(self.inactive)),
            KEY_LAYERED: json.dumps(sorted(self.layered)),
            KEY_PACKAGE_DIGESTS: json.dumps(sorted(self.package_digests)),
            KEY_REMOVED: json.dumps(sorted(self.removed)),
            KEY_REPLACED: json.dumps(sorted(self.replaced)),
            KEY_REPOMD: json.dumps(dict(sorted(self.repomd)), sort_keys=True),
            KEY_INPUTHASH: self.inputhash,
        }
        if self.version:
            meta[KEY_VERSION] = self.version
        return meta

    @classmethod
    def from_metadata(cls, meta: Mapping[str, str]) -> LayerInfo | None:
        """None for a commit that is not layered (no base checksum recorded)."""
        base = meta.get(KEY_BASE, "")
        if not base:
            return None
        return cls(
            base_checksum=base,
            requested=_json_list(meta, KEY_REQUESTED),
            requested_local=_json_list(meta, KEY_REQUESTED_LOCAL),
            inactive=_json_list(meta, KEY_INACTIVE),
            layered=_json_list(meta, KEY_LAYERED),
            package_digests=_json_list(meta, KEY_PACKAGE_DIGESTS),
            removed=_json_list(meta, KEY_REMOVED),
            replaced=_json_list(meta, KEY_REPLACED),
            repomd=tuple(sorted(_json_map(meta, KEY_REPOMD).items())),
            inputhash=meta.get(KEY_INPUTHASH, ""),
            version=meta.get(KEY_VERSION, ""),
        )


def _json_list(meta: Mapping[str, str], key: str) -> tuple[str, ...]:
    try:
        value = json.loads(meta.get(key, "[]"))
    except json.JSONDecodeError:
        return ()
    return tuple(str(v) for v in value) if isinstance(value, list) else ()


def _json_map(meta: Mapping[str, str], key: str) -> dict[str, str]:
    try:
        value = json.loads(meta.get(key, "{}"))
    except json.JSONDecodeError:
        return {}
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


@dataclass(frozen=True)
class LayerPlan:
    """A solved change and everything decided from it, before anything is written."""

    tx: Transaction  # inactive requests name local files by NEVRA
    base_pair: tuple[str, str]  # (the base built on, the new base)
    layered_before: tuple[str, ...]
    origin: Origin
    inputhash: str
    notices: tuple[str, ...]
    # the overrides of the deployment built on: the summary names what changed, not
    # every standing override again
    removed_before: tuple[str, ...] = ()  # base NEVRAs removed
    replaced_before: tuple[str, ...] = ()  # base NEVRAs replaced
    replacements_before: tuple[str, ...] = ()  # NEVRAs of the local replacements

    def transaction_text(self) -> str:
        return render_transaction(
            install=[p.nevra for p in self.tx.install],
            remove=self.tx.remove,
            replace=[(old, p.nevra) for old, p in self.tx.replace],
            inactive=self.tx.inactive,
            base=self.base_pair,
        )

    def changes_text(
        self, base_diff: PackageDiff | None, *, details: Sequence[str] = (), deployed: bool = True
    ) -> str:
        if not deployed:
            return render_changes(
                layered_before=self.layered_before,
                layered_after=[p.nevra for p in self.tx.install],
                base=self.base_pair,
                base_diff=base_diff,
                deployed=False,
            )
        replaced = [(old, p.nevra) for old, p in self.tx.replace]
        restored: list[str] = []
        if self.base_pair[0] == self.base_pair[1]:  # on a new base, its diff says it all
            overridden = {*self.tx.remove, *(old for old, _ in replaced)}
            restored = [
                n for n in (*self.removed_before, *self.replaced_before) if n not in overridden
            ]
        return render_changes(
            layered_before=self.layered_before,
            layered_after=[p.nevra for p in self.tx.install],
            base=self.base_pair,
            base_diff=base_diff,
            removed_base=[n for n in self.tx.remove if n not in self.removed_before],
            replaced_base=[(o, n) for o, n in replaced if n not in self.replacements_before],
            restored_base=restored,
            notices=self.notices,
            details=details,
        )
