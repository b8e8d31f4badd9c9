"""Reading rpm headers: from a package file, from an rpmdb directory, from a commit.

rpm's Python bindings read their database location from the global ``_dbpath``
macro, and Debian's rpm otherwise falls back to ``~/.rpmdb``. Every access here
therefore goes through :func:`rpm_macros`, which sets the macros for exactly the
duration of one operation, so nothing ever touches the host's database.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rpm

from core.errors import PackageError
from core.store import Store
from solver.labels import check_label

RPMDB_DIR = "usr/lib/sysimage/rpm"
LEGACY_RPMDB_DIR = "usr/share/rpm"

# Header and payload digests are checked; signatures are the fetcher's business
# (gpgcheck per repo), and an unknown key must not make rpm print NOKEY warnings.
VSFLAGS = rpm._RPMVSF_NOSIGNATURES

Header = Any  # rpm.hdr; the bindings ship no type information


@dataclass(frozen=True)
class PackageInfo:
    """One installed package as users name it."""

    name: str
    epoch: int | None
    version: str
    release: str
    arch: str
    nevra: str

    @classmethod
    def from_header(cls, hdr: Header) -> PackageInfo:
        return cls(
            name=_text(hdr[rpm.RPMTAG_NAME]),
            epoch=hdr[rpm.RPMTAG_EPOCH],
            version=_text(hdr[rpm.RPMTAG_VERSION]),
            release=_text(hdr[rpm.RPMTAG_RELEASE]),
            arch=_text(hdr[rpm.RPMTAG_ARCH] or "noarch"),
            nevra=nevra(hdr),
        )

    @property
    def evr(self) -> tuple[str, str, str]:
        """For rpm.labelCompare."""
        return (str(self.epoch or 0), self.version, self.release)


def _text(value: str | bytes) -> str:
    # rpm returns str for text tags; a crafted header may still carry other bytes.
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def identity(hdr: Header) -> tuple[str, int, str, str, str]:
    """(name, epoch, version, release, arch) of a header, each checked to be a plain label.

    These fields end up in file names, refs, origin files and ``status``: a header
    whose name is ``../../x`` or holds a newline is refused as hostile.
    """
    fields = tuple(
        _text(hdr[tag] or "")
        for tag in (rpm.RPMTAG_NAME, rpm.RPMTAG_VERSION, rpm.RPMTAG_RELEASE, rpm.RPMTAG_ARCH)
    )
    for what, value in zip(("name", "version", "release", "arch"), fields, strict=True):
        check_label(value, what)
    name, version, release, arch = fields
    return name, int(hdr[rpm.RPMTAG_EPOCH] or 0), version, release, arch


def nevra(hdr: Header) -> str:
    """ "name-[epoch:]version-release.arch", the form status and db list print."""
    epoch = hdr[rpm.RPMTAG_EPOCH]
    evr = f"{epoch}:" if epoch else ""
    arch = _text(hdr[rpm.RPMTAG_ARCH] or "noarch")
    name, ver, rel = (
        _text(hdr[t]) for t in (rpm.RPMTAG_NAME, rpm.RPMTAG_VERSION, rpm.RPMTAG_RELEASE)
    )
    return f"{name}-{evr}{ver}-{rel}.{arch}"


@contextmanager
def rpm_macros(macros: Mapping[str, str]) -> Iterator[None]:
    """Define rpm macros for the duration of a block (the bindings only know global macros)."""
    for key, value in macros.items():
        rpm.addMacro(key, value)
    try:
        yield
    finally:
        for key in macros:
            rpm.delMacro(key)


@contextmanager
def transaction_set(dbpath: Path, root: str = "/") -> Iterator[Any]:
    """A TransactionSet bound to ``dbpath`` (and never to the host's database)."""
    with rpm_macros({"_dbpath": str(dbpath)}):
        ts = rpm.TransactionSet(root)
        ts.setVSFlags(VSFLAGS)
        try:
            yield ts
        finally:
            ts.closeDB()


def read_package_header(path: Path) -> Header:
    """The header of a package file, its digests verified; PackageError when unreadable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as err:
        raise PackageError(
            f"cannot read {path}: {err.strerror}", hint="check the path of the .rpm file"
        ) from err
    try:
        with (
            tempfile.TemporaryDirectory(prefix="strata-rpmdb-") as tmp,
            transaction_set(Path(tmp)) as ts,
        ):
            return ts.hdrFromFdno(fd)
    except rpm.error as err:
        raise PackageError(
            f"{path} is corrupt or not an RPM: {err}", hint="download it again"
        ) from err
    finally:
        os.close(fd)


def header_from_head(head: bytes) -> Header:
    """Parse a package *head* (lead + signature + header, no payload) without touching disk."""
    fd = os.memfd_create("strata-head")
    try:
        os.write(fd, head)
        os.lseek(fd, 0, os.SEEK_SET)
        with (
            tempfile.TemporaryDirectory(prefix="strata-rpmdb-") as tmp,
            transaction_set(Path(tmp)) as ts,
        ):
            try:
                return ts.hdrFromFdno(fd)
            except rpm.error as err:
                raise PackageError(
                    f"a cached package header is corrupt ({err})",
                    hint="remove the package cache refs (strata/pkg/*) and retry",
                ) from err
    finally:
        os.close(fd)


def read_rpmdb(dbpath: Path) -> list[Header]:
    """Every header of the rpmdb at ``dbpath``, sorted by NEVRA; [] when there is no database."""
    if not any(dbpath.glob("rpmdb.sqlite")) and not any(dbpath.glob("Packages*")):
        return []
    with transaction_set(dbpath) as ts:
        # The database comes out of the store, whose objects are named by their sha256
        # (`strata fsck` checks them): re-checking every header's digest as it is read
        # costs 3/4 of the read (27 of 35 ms for a 100k-file base), for nothing.
        ts.setVSFlags(VSFLAGS | rpm._RPMVSF_NODIGESTS | rpm.RPMVSF_NOHDRCHK)
        ts.openDB()
        headers = list(ts.dbMatch())
    return sorted(headers, key=nevra)


@contextmanager
def checkout_rpmdb(store: Store, rev: str, *, parent: Path | None = None) -> Iterator[Path]:
    """A private copy of a commit's rpmdb directory (empty when the commit has none).

    A copy, not hardlinks: opening an sqlite database may write beside and into it.
    ``parent``: where to make it (default: the system's temp directory).
    """
    with tempfile.TemporaryDirectory(prefix="strata-rpmdb-", dir=parent) as tmp:
        dest = Path(tmp) / "rpm"
        for where in (RPMDB_DIR, LEGACY_RPMDB_DIR):  # older bases keep it in /usr/share/rpm
            if store.subtree(rev, where) is not None:
                store.checkout(rev, dest, hardlink=False, subpath=where)
                break
        else:
            dest.mkdir()
        yield dest


def read_headers(store: Store, rev: str) -> list[Header]:
    """The rpm headers of every package of a commit, sorted by NEVRA."""
    with checkout_rpmdb(store, rev) as dbpath:
        return read_rpmdb(dbpath)


def read_packages(store: Store, rev: str) -> list[PackageInfo]:
    """The packages of a commit, sorted by NEVRA (``db list``)."""
    return [PackageInfo.from_header(h) for h in read_headers(store, rev)]
