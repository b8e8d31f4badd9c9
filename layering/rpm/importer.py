"""Import an RPM into the store once, as its own tree under ``strata/pkg/<header-sha256>``.

The payload is read with rpm's own archive reader (so every compression rpm
supports works), but nothing is ever unpacked on disk: each entry is written into
the store through a TreeEditor, so a hostile symlink in the payload cannot redirect a
later write. Metadata comes from the header, never from the cpio stream.

Package trees are independent of any base, so a cached tree can be reused on every
base and a rebase never unpacks again. Two consequences, both undone by
:mod:`layering.rpm.assemble` once the target tree's passwd/group are known:

* entries owned by a user or group other than root are stored as root with their
  setuid/setgid bits cleared (the header still names the real owner);
* the commit is made with a fixed timestamp and no parent, so one RPM imports to the
  same commit id in every store.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import rpm

from core.errors import PackageError, StoreError
from core.faults import fault_point
from core.store import FileMeta, Store, TreeEditor
from layering.rpm import filecaps, pathrules, tmpfiles
from layering.rpm.headers import Header, header_from_head, nevra, transaction_set

PKG_REF_PREFIX = "strata/pkg/"
IMPORT_TIMESTAMP = 0
# Bump when the import rules change so that old caches are not reused.
IMPORT_VERSION = "3"
_DIGEST_ALGOS = {1: "md5", 2: "sha1", 8: "sha256", 9: "sha384", 10: "sha512", 11: "sha224"}
_IN_MEMORY = 16 << 20


@dataclass(frozen=True)
class ImportedPackage:
    sha256: str  # header SHA-256: the cache key
    nevra: str
    name: str
    commit: str
    tree: str
    header: bytes  # hdr.unload(): what the rpmdb and the triggers read
    head: bytes = b""  # the file up to the payload: lead, signature, header (for justdb)

    def hdr(self) -> Header:
        """The header as an rpm.hdr object."""
        return rpm.hdr(self.header)


@dataclass(frozen=True)
class PackageFile:
    """One path of a package as its header describes it (mode and owner names are rpm's)."""

    path: str  # absolute, as in the payload
    mode: int  # full st_mode
    user: str
    group: str
    flags: int  # RPMFILE_* (config, ghost, doc, ...)
    caps: str
    linkto: str
    index: int
    color: int = 0  # rpm file colour: 1 ELF32, 2 ELF64 (multilib)
    size: int = 0

    @property
    def kind(self) -> pathrules.Kind:
        if stat.S_ISDIR(self.mode):
            return pathrules.Kind.DIR
        if stat.S_ISLNK(self.mode):
            return pathrules.Kind.SYMLINK
        return pathrules.Kind.FILE

    @property
    def ghost(self) -> bool:
        return bool(self.flags & rpm.RPMFILE_GHOST)


def ref_name(sha256: str) -> str:
    return PKG_REF_PREFIX + sha256


def cache_key(sha256: str, *, compose: bool = False) -> str:
    """The package-cache key of a header digest (compose imports follow other rules)."""
    return hashlib.sha256(f"compose:{sha256}".encode()).hexdigest() if compose else sha256


def header_sha256(hdr: Header) -> str:
    """RPMTAG_SHA256HEADER when rpmbuild recorded it, else the digest of the header blob."""
    value = hdr[rpm.RPMTAG_SHA256HEADER]
    if value:
        return value.decode() if isinstance(value, bytes) else str(value)
    return hashlib.sha256(hdr.unload()).hexdigest()


def package_files(hdr: Header) -> list[PackageFile]:
    """Every path the header lists (ghosts included), in header order."""
    out = []
    for f in rpm.files(hdr):
        out.append(
            PackageFile(
                path=f.name,
                mode=f.mode,
                user=f.user or "root",
                group=f.group or "root",
                flags=f.fflags,
                caps=f.caps or "",
                linkto=f.linkto or "",
                index=f.fx,
                color=f.color or 0,
                size=f.size or 0,
            )
        )
    return out


def cached_package(store: Store, sha256: str) -> ImportedPackage | None:
    """The cached import of the package whose header digest is ``sha256``, if any."""
    try:
        info = store.commit_info(store.resolve(ref_name(sha256)))
    except StoreError:  # no such ref (one lookup, not a listing of every cached package)
        return None
    meta = info.metadata
    if meta.get("strata.import-version") != IMPORT_VERSION:
        return None
    head = base64.b64decode(meta["strata.rpmhead"])
    return ImportedPackage(
        sha256=sha256,
        nevra=meta["strata.nevra"],
        name=meta["strata.name"],
        commit=info.id,
        tree=info.tree,
        header=bytes(header_from_head(head).unload()),
        head=head,
    )


def import_rpm(store: Store, path: Path, *, compose: bool = False) -> ImportedPackage:
    """Import ``path`` (or return the cached import); PackageError leaves no ref behind.

    ``compose=True`` applies the base-building path rules (the filesystem package's
    top-level directories and symlinks are accepted); the cache key then differs, as
    the same RPM imports to a different tree.
    """
    with ExitStack() as stack:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as err:
            raise PackageError(f"cannot read {path}: {err.strerror}") from err
        stack.callback(os.close, fd)
        ts = stack.enter_context(transaction_set(Path(stack.enter_context(_tempdir()))))
        try:
            hdr = ts.hdrFromFdno(fd)
        except rpm.error as err:
            raise PackageError(
                f"{path.name} is corrupt or not an RPM: cannot read its header ({err})",
                hint="download it again",
            ) from err
        label = nevra(hdr)
        sha = header_sha256(hdr)
        key = cache_key(sha, compose=compose)
        cached = cached_package(store, key)
        if cached is not None:
            return cached
        payload_offset = os.lseek(fd, 0, os.SEEK_CUR)
        head = os.pread(fd, payload_offset, 0)
        _verify_payload(fd, payload_offset, hdr, path)
        os.lseek(fd, payload_offset, os.SEEK_SET)
        editor = store.edit(None)
        try:
            _write_payload(editor, fd, hdr, label, compose=compose, spool=stack)
        except StoreError as err:  # e.g. a payload entry below a payload symlink
            raise PackageError(
                f"{label} has a payload Strata refuses: {err}",
                hint="the package is malformed or hostile; do not install it",
            ) from err
        tree = editor.write()
    header_blob = bytes(hdr.unload())
    name = _str(hdr[rpm.RPMTAG_NAME])
    with store.batch():  # one durability point for the commit and its ref
        commit = store.commit_tree(
            tree,
            subject=f"Import {label}",
            metadata={
                "strata.nevra": label,
                "strata.name": name,
                "strata.sha256": sha,
                "strata.compose": "true" if compose else "false",
                "strata.import-version": IMPORT_VERSION,
                "strata.rpmhead": base64.b64encode(head).decode(),
            },
            timestamp=IMPORT_TIMESTAMP,
        )
        fault_point("import-before-ref")
        store.set_ref(ref_name(key), commit)
    return ImportedPackage(
        sha256=key, nevra=label, name=name, commit=commit, tree=tree, header=header_blob, head=head
    )


def _str(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _tempdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="strata-import-")


def _verify_payload(fd: int, offset: int, hdr: Header, path: Path) -> None:
    """Compare the payload with RPMTAG_PAYLOADDIGEST (the digest of the compressed bytes).

    rpm's archive reader would only notice corruption the decompressor happens to
    catch; a truncated or altered download must be refused before anything is stored.
    """
    digests = hdr[rpm.RPMTAG_PAYLOADDIGEST]
    if not digests:
        return  # packages older than rpm 4.14 carry none; the header digest still held
    algo = _DIGEST_ALGOS.get(hdr[rpm.RPMTAG_PAYLOADDIGESTALGO] or 8)
    if algo is None:
        return
    h = hashlib.new(algo)
    os.lseek(fd, offset, os.SEEK_SET)
    while chunk := os.read(fd, 1 << 20):
        h.update(chunk)
    expected = _str(digests[0])
    if h.hexdigest() != expected:
        raise PackageError(
            f"{path.name} ({nevra(hdr)}) is corrupt: payload digest mismatch",
            hint="download it again",
        )


def _meta_for(f: PackageFile) -> FileMeta:
    """Package-tree metadata: root-owned, set[ug]id only for root (see the module doc)."""
    mode = f.mode
    if (f.user != "root" or f.group != "root") and stat.S_ISREG(mode):
        mode &= ~(stat.S_ISUID | stat.S_ISGID)
    xattrs: tuple[tuple[str, bytes], ...] = ()
    if f.caps and stat.S_ISREG(mode):
        value = filecaps.to_xattr(f.caps)
        if value is not None:
            xattrs = ((filecaps.XATTR, value),)
    return FileMeta(uid=0, gid=0, mode=mode, xattrs=xattrs)


_PARENT_META = FileMeta(uid=0, gid=0, mode=stat.S_IFDIR | 0o755)


def _ensure_parents(
    editor: TreeEditor, path: str, made: set[str], leaves: set[str], label: str
) -> None:
    """Create missing parent directories; a parent the payload placed as a file or symlink
    means an entry below a symlink, which rpm would follow: refused."""
    parts = path.split("/")[:-1]
    for i in range(1, len(parts) + 1):
        parent = "/".join(parts[:i])
        if parent in leaves:
            raise PackageError(
                f"{label} places /{path} below /{parent}, which it ships as a file or symlink",
                hint="the package is malformed or hostile; do not install it",
            )
        if parent not in made:
            editor.put_dir(parent, _PARENT_META)
            made.add(parent)


def _archive(fd: int, hdr: Header, label: str) -> Iterator[tuple[Any, Any]]:
    """(rpm.file, the archive positioned at its content) for each entry that has content."""
    compressor = _str(hdr[rpm.RPMTAG_PAYLOADCOMPRESSOR] or "gzip")
    try:
        rfd = rpm.fd(os.dup(fd), "r", flags=compressor)
        archive = rpm.files(hdr).archive(rfd, write=False)
        for f in archive:
            if archive.hascontent():
                yield f, archive
        archive.close()
    except (rpm.error, OSError) as err:
        raise PackageError(
            f"{label}: cannot read the payload ({err})", hint="download the package again"
        ) from err


@dataclass
class _Layout:
    """What the structure pass placed, and the regular files still waiting for content."""

    made: set[str]
    leaves: set[str]
    lines: list[tmpfiles.TmpfilesLine]
    regular: dict[int, tuple[str, PackageFile]]


def _write_payload(
    editor: TreeEditor, fd: int, hdr: Header, label: str, *, compose: bool, spool: ExitStack
) -> None:
    """Place the structure (directories, symlinks, tmpfiles lines) from the header, checking
    every path first; then stream regular files in as the archive yields their content."""
    layout = _place_structure(editor, hdr, label, compose=compose)
    _stream_files(editor, fd, hdr, label, regular=layout.regular, spool=spool)
    if layout.lines:
        conf = tmpfiles.conf_name(_str(hdr[rpm.RPMTAG_NAME]))
        _ensure_parents(editor, conf, layout.made, layout.leaves, label)
        editor.put_file(
            conf,
            tmpfiles.render(layout.lines, package=label),
            FileMeta(uid=0, gid=0, mode=stat.S_IFREG | 0o644),
        )


def _place_structure(editor: TreeEditor, hdr: Header, label: str, *, compose: bool) -> _Layout:
    files = package_files(hdr)
    placements = {
        f.index: pathrules.place(f.path, f.kind, package=label, compose=compose) for f in files
    }
    layout = _Layout(set(), set(), [], {})
    for f in sorted(files, key=lambda f: placements[f.index].path or f.path):
        where = placements[f.index]
        if where.action == pathrules.Action.TMPFILES:
            where = _var_entry(f, where, layout)
        if where.action in (pathrules.Action.DROP, pathrules.Action.TMPFILES) or f.ghost:
            continue
        _ensure_parents(editor, where.path, layout.made, layout.leaves, label)
        if where.path in layout.leaves or (
            where.path in layout.made and f.kind != pathrules.Kind.DIR
        ):
            raise PackageError(
                f"{label} ships /{where.path} twice (as {f.path} and another path)",
                hint="the package is malformed; do not install it",
            )
        if where.link:  # compose: /home, /opt, ... become links into /var
            editor.put_symlink(where.path, where.link, FileMeta(0, 0, stat.S_IFLNK | 0o777))
            layout.leaves.add(where.path)
            layout.lines.append(_tmpfiles_line(f, where))
        elif f.kind == pathrules.Kind.DIR:
            editor.put_dir(where.path, _meta_for(f))
            layout.made.add(where.path)
        elif f.kind == pathrules.Kind.SYMLINK:
            editor.put_symlink(where.path, f.linkto, _meta_for(f))
            layout.leaves.add(where.path)
        elif stat.S_ISREG(f.mode):
            layout.regular[f.index] = (where.path, f)
            layout.leaves.add(where.path)
        else:
            raise PackageError(
                f"{label} contains {f.path}, a device or fifo, which cannot be layered",
                hint="device nodes belong to the running system, not to a package tree",
            )
        if where.var_link:
            target = "/" + where.path
            layout.lines.append(tmpfiles.TmpfilesLine("L", where.var_link, target=target))
        if where.opt_link:
            target = "/usr/lib" + where.opt_link  # /opt/X -> /usr/lib/opt/X
            layout.lines.append(tmpfiles.TmpfilesLine("L", where.opt_link, target=target))
    return layout


def _stream_files(
    editor: TreeEditor,
    fd: int,
    hdr: Header,
    label: str,
    *,
    regular: dict[int, tuple[str, PackageFile]],
    spool: ExitStack,
) -> None:
    # Hardlinked files carry their content once, on one member of the set.
    members: dict[int, list[int]] = {}
    for f in rpm.files(hdr):
        members.setdefault(f.inode, []).append(f.fx)
    for f, archive in _archive(fd, hdr, label):
        targets = [regular.pop(i) for i in members.get(f.inode, [f.fx]) if i in regular]
        if not targets:
            continue
        data: bytes | BinaryIO
        if f.size <= _IN_MEMORY:
            data = archive.read()
        else:
            tmp = spool.enter_context(tempfile.TemporaryFile(prefix="strata-import-"))  # noqa: SIM115
            while chunk := archive.read(1 << 20):
                tmp.write(chunk)
            data = tmp
        for path, pf in targets:
            if not isinstance(data, bytes):
                data.seek(0)
            editor.put_file(path, data, _meta_for(pf))
    for path, pf in regular.values():  # entries the archive gave no content: empty files
        editor.put_file(path, b"", _meta_for(pf))


def _var_entry(f: PackageFile, where: pathrules.Placement, layout: _Layout) -> pathrules.Placement:
    """A /var or /run entry: a tmpfiles line, plus a factory copy for a file with content
    (then placed like any file); a ghost file is not created, as rpm creates none."""
    if where.tmpfiles == "f" and f.ghost:
        return pathrules.Placement(pathrules.Action.DROP)
    if where.tmpfiles == "f" and f.size > 0:
        return _factory_copy(f, layout)
    layout.lines.append(_tmpfiles_line(f, where))
    return where


def _factory_copy(f: PackageFile, layout: _Layout) -> pathrules.Placement:
    """A regular file with content under /var: its content is kept (as the file itself,
    root-owned) under usr/share/factory and a ``C`` line copies it into /var at boot."""
    path = "/" + f.path.strip("/")
    factory = f"{pathrules.FACTORY}{path}"
    layout.lines.append(
        tmpfiles.TmpfilesLine("C", path, f.mode, f.user, f.group, target="/" + factory)
    )
    return pathrules.Placement(pathrules.Action.PLACE, factory)


def _tmpfiles_line(f: PackageFile, where: pathrules.Placement) -> tmpfiles.TmpfilesLine:
    path = where.tmpfiles_path or "/" + f.path.strip("/")
    if where.tmpfiles in ("d", "f"):
        return tmpfiles.TmpfilesLine(where.tmpfiles, path, f.mode, f.user, f.group)
    return tmpfiles.TmpfilesLine("L", path, target=f.linkto)
