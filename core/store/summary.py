"""The repository *summary*: the small index of refs a client reads before anything else.

``REPO/summary`` is JSON (libostree's is a GVariant with the same content)::

    {"refs": {"os/x86_64/base": {"commit": "...", "timestamp": 86400, "version": "41.1"}},
     "timestamp": 1700000000, "version": 1}

``REPO/summary.sig`` holds ed25519 signatures over the summary's exact bytes (as
:mod:`core.store.signing` encodes them). Remote refs (``REMOTE:REF``) are not listed:
a summary describes what this repository publishes.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core import atomic
from core.errors import StoreError
from core.store import refs, signing

if TYPE_CHECKING:
    from core.store.repo import Store

SUMMARY = "summary"
SUMMARY_SIG = "summary.sig"
FORMAT = 1
MAX_SUMMARY = 64 << 20


@dataclass(frozen=True)
class RefEntry:
    commit: str
    timestamp: int
    version: str = ""


def build(store: Store) -> bytes:
    entries: dict[str, dict[str, object]] = {}
    for name, commit in store.refs().items():
        if ":" in name:
            continue
        info = store.commit_info(commit)
        entry: dict[str, object] = {"commit": commit, "timestamp": info.timestamp}
        if info.metadata.get("version"):
            entry["version"] = info.metadata["version"]
        entries[name] = entry
    doc = {"refs": entries, "timestamp": int(time.time()), "version": FORMAT}
    return json.dumps(doc, sort_keys=True, indent=1).encode() + b"\n"


def update(store: Store, sign_key: Path | None = None) -> dict[str, RefEntry]:
    """Write ``summary`` (and ``summary.sig`` when signing, else remove a stale one)."""
    data = build(store)
    key = signing.load_secret(sign_key) if sign_key is not None else None
    sig_path = store.path / SUMMARY_SIG
    if key is not None:
        atomic.write_bytes(sig_path, signing.encode_signatures([signing.sign(key, data)]))
    else:
        sig_path.unlink(missing_ok=True)
    atomic.write_bytes(store.path / SUMMARY, data)
    return parse(data, str(store.path / SUMMARY))


def parse(data: bytes, what: str) -> dict[str, RefEntry]:
    """The refs of a summary; StoreError (naming ``what``) for anything malformed."""
    try:
        doc = json.loads(data)
        if not isinstance(doc, dict) or doc.get("version") != FORMAT:
            raise ValueError(f"not a version {FORMAT} summary")
        listed = doc.get("refs")
        if not isinstance(listed, dict):
            raise ValueError("no refs")
        out: dict[str, RefEntry] = {}
        for name, entry in listed.items():
            refs.check_ref_name(name)
            if ":" in name or not isinstance(entry, dict):
                raise ValueError(f"bad entry for {name!r}")
            commit = entry.get("commit")
            if not isinstance(commit, str) or len(commit) != 40:
                raise ValueError(f"bad commit for {name!r}")
            bytes.fromhex(commit)
            stamp = entry.get("timestamp", 0)
            version = entry.get("version", "")
            if not isinstance(stamp, int) or not isinstance(version, str):
                raise ValueError(f"bad metadata for {name!r}")
            out[name] = RefEntry(commit, stamp, version)
    except (ValueError, UnicodeDecodeError, StoreError) as err:
        raise StoreError(
            f"Malformed summary {what}: {err}".splitlines()[0],
            hint="regenerate it on the server with `strata summary --repo PATH --update`",
        ) from err
    return dict(sorted(out.items()))
