"""How a filesystem entry's metadata is encoded in git, and which names a tree may hold.

Every regular file and symlink becomes a git blob holding a small canonical *header*
(kind, full mode, uid, gid, size, sha256 of the content, sorted xattrs, symlink target),
not the file's bytes: git never compresses large payloads, and the blob id covers both
content and metadata. The bytes live in the uncompressed file store, named by that blob
id. A directory's own metadata is a header blob under the reserved name
:data:`DIRMETA_NAME` inside its git tree, so the tree id covers it and empty directories
exist naturally. The encoding is text, one field per line, in a fixed order, so
``git cat-file -p`` is readable and the encoding is canonical (decode∘encode = identity,
which fsck checks).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass
from urllib.parse import quote, unquote

from core.errors import StoreError
from core.store.types import EntryKind, FileMeta

MAGIC = b"strata-meta 1\n"
DIRMETA_NAME = ".strata-dirmeta"
GIT_FILE = 0o100644
GIT_LINK = 0o120000
GIT_TREE = 0o040000
_XATTR_SAFE = "._-@:+"


@dataclass(frozen=True)
class Header:
    """A decoded metadata blob."""

    kind: EntryKind
    meta: FileMeta
    size: int = 0
    sha256: str = ""  # regular files only
    target: str | None = None  # symlinks only


def _target_bytes(target: str) -> bytes:
    return target.encode("utf-8", "surrogateescape")


def encode(header: Header) -> bytes:
    meta = header.meta
    lines = [
        f"kind {header.kind.value}",
        f"mode {meta.mode:07o}",
        f"uid {meta.uid}",
        f"gid {meta.gid}",
    ]
    if header.kind is EntryKind.FILE:
        lines += [f"size {header.size}", f"sha256 {header.sha256}"]
    elif header.kind is EntryKind.SYMLINK:
        assert header.target is not None
        lines.append(f"target {_target_bytes(header.target).hex()}")
    for name, value in meta.xattrs:
        lines.append(f"xattr {quote(name, safe=_XATTR_SAFE)} {value.hex()}")
    return MAGIC + ("\n".join(lines) + "\n").encode()


def file_header(meta: FileMeta, size: int, sha256: str) -> bytes:
    return encode(Header(EntryKind.FILE, meta, size, sha256))


def symlink_header(meta: FileMeta, target: str) -> bytes:
    return encode(Header(EntryKind.SYMLINK, meta, len(_target_bytes(target)), target=target))


def dir_header(meta: FileMeta) -> bytes:
    return encode(Header(EntryKind.DIR, meta))


_KIND_TYPE = {
    EntryKind.FILE: stat.S_IFREG,
    EntryKind.SYMLINK: stat.S_IFLNK,
    EntryKind.DIR: stat.S_IFDIR,
}


def decode(data: bytes, what: str = "metadata blob") -> Header:
    """Parse a header; StoreError (naming ``what``) unless it is canonical."""
    try:
        if not data.startswith(MAGIC):
            raise ValueError("bad magic")
        fields: dict[str, str] = {}
        xattrs: list[tuple[str, bytes]] = []
        for line in data[len(MAGIC) :].decode("ascii").splitlines():
            key, _, value = line.partition(" ")
            if key == "xattr":
                name, _, hexval = value.partition(" ")
                xattrs.append((unquote(name), bytes.fromhex(hexval)))
            else:
                fields[key] = value
        kind = EntryKind(fields["kind"])
        meta = FileMeta(
            int(fields["uid"]), int(fields["gid"]), int(fields["mode"], 8), tuple(xattrs)
        )
        if stat.S_IFMT(meta.mode) != _KIND_TYPE[kind]:
            raise ValueError("mode type bits disagree with kind")
        if kind is EntryKind.FILE:
            header = Header(kind, meta, int(fields["size"]), fields["sha256"])
        elif kind is EntryKind.SYMLINK:
            target = bytes.fromhex(fields["target"]).decode("utf-8", "surrogateescape")
            header = Header(kind, meta, len(_target_bytes(target)), target=target)
        else:
            header = Header(kind, meta)
        if encode(header) != data:
            raise ValueError("not in canonical form")
    except (ValueError, KeyError, UnicodeDecodeError) as err:
        raise StoreError(
            f"Corrupt {what}: {err}",
            hint="run `strata fsck` to list damaged objects",
        ) from err
    return header


def check_name(name: str, where: str = "") -> None:
    """Refuse names that could escape a directory or that the store reserves."""
    bad = not name or name in (".", "..") or "/" in name or "\0" in name or name == DIRMETA_NAME
    if bad:
        place = f" in {where!r}" if where else ""
        raise StoreError(
            f"Refusing hostile or reserved file name {name!r}{place}",
            hint="names must not be empty, '.', '..', contain '/' or NUL, "
            f"or be the reserved {DIRMETA_NAME!r}",
        )


def split_path(path: str) -> list[str]:
    """``"usr/bin/x"`` -> ``["usr", "bin", "x"]``; ``""`` or ``"/"`` -> ``[]`` (the root).

    One leading/trailing slash is tolerated; every component is checked by :func:`check_name`.
    """
    stripped = path.strip("/")
    if not stripped:
        return []
    parts = stripped.split("/")
    for part in parts:
        check_name(part, path)
    return parts
