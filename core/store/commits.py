"""The commit object format: git's, with the metadata as a JSON trailer in the message.

Author and committer are fixed and the timestamp is explicit, so the same tree, parents,
subject, metadata and timestamp always give the same commit id (reproducible composes
and package imports). The metadata trailer is the message's last paragraph, a single line
``Strata-Metadata: {...}`` of sorted, compact JSON, so the commit id covers it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from core.errors import StoreError
from core.store.types import CommitInfo

IDENT = b"Strata <strata@localhost>"
TRAILER = "\n\nStrata-Metadata: "


def encode_commit(
    tree: str,
    parents: Sequence[str],
    subject: str,
    metadata: Mapping[str, str],
    timestamp: int,
) -> bytes:
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str) or not key:
            raise StoreError(
                f"Commit metadata must map non-empty strings to strings, got {key!r}: {value!r}"
            )
    if timestamp < 0:
        raise StoreError(f"Commit timestamp must not be negative, got {timestamp}")
    lines = [b"tree " + tree.encode()]
    lines += [b"parent " + parent.encode() for parent in parents]
    stamp = b"%d +0000" % timestamp
    lines.append(b"author " + IDENT + b" " + stamp)
    lines.append(b"committer " + IDENT + b" " + stamp)
    trailer = json.dumps(dict(metadata), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    message = subject.rstrip("\n") + TRAILER + trailer + "\n"
    return b"\n".join(lines) + b"\n\n" + message.encode("utf-8", "surrogateescape")


def decode_commit(commit_id: str, data: bytes) -> CommitInfo:
    head, sep, body = data.partition(b"\n\n")
    tree = ""
    parents: list[str] = []
    timestamp = 0
    for line in head.split(b"\n"):
        key, _, value = line.partition(b" ")
        if key == b"tree":
            tree = value.decode()
        elif key == b"parent":
            parents.append(value.decode())
        elif key == b"committer":
            parts = value.rsplit(b" ", 2)
            if len(parts) == 3 and parts[1].isdigit():
                timestamp = int(parts[1])
    if not tree or not sep:
        raise StoreError(f"Commit {commit_id} is malformed", hint="run `strata fsck`")
    message = body.decode("utf-8", "surrogateescape")
    subject, found, trailer = message.rpartition(TRAILER)
    metadata: dict[str, str] = {}
    if found:
        try:
            loaded = json.loads(trailer)
        except json.JSONDecodeError as err:
            raise StoreError(f"Commit {commit_id} has malformed metadata: {err}") from err
        metadata = {str(k): str(v) for k, v in loaded.items()}
    else:
        subject = message.rstrip("\n")
    return CommitInfo(commit_id, tree, tuple(parents), subject, timestamp, metadata)
