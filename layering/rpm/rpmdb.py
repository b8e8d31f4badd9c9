"""Write a tree's rpmdb: a copy of the base's database plus a justdb transaction.

rpm only records a package through a transaction, and even a justdb transaction
re-reads each package's header from a file descriptor that the callback hands it.
The importer therefore keeps each package's *head* (lead, signature header and
header: everything before the payload), which is a valid package file as far as a
justdb transaction is concerned; no payload is needed.

The result is byte-reproducible: rpm 4.18 takes INSTALLTIME/INSTALLTID from
SOURCE_DATE_EPOCH, the sqlite database is switched back to a single-file journal
(no -wal/-shm beside it, which a read-only /usr could not hold anyway), and the
lock file rpm leaves behind is removed.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import rpm

from core.errors import PackageError
from layering.rpm.headers import nevra, rpm_macros, transaction_set

_FLAGS = (
    rpm.RPMTRANS_FLAG_JUSTDB
    | rpm.RPMTRANS_FLAG_NOSCRIPTS
    | rpm.RPMTRANS_FLAG_NOTRIGGERS
    | rpm.RPMTRANS_FLAG_NOPLUGINS
)
# File conflicts were checked by assemble with better messages; rpm only records.
_PROBLEM_FILTER = (
    rpm.RPMPROB_FILTER_VERIFY
    | rpm.RPMPROB_FILTER_DISKSPACE
    | rpm.RPMPROB_FILTER_DISKNODES
    | rpm.RPMPROB_FILTER_IGNOREARCH
    | rpm.RPMPROB_FILTER_IGNOREOS
    | rpm.RPMPROB_FILTER_REPLACENEWFILES
    | rpm.RPMPROB_FILTER_REPLACEOLDFILES
    | rpm.RPMPROB_FILTER_REPLACEPKG
    | rpm.RPMPROB_FILTER_OLDPACKAGE
)


@contextmanager
def _source_date_epoch(timestamp: int) -> Iterator[None]:
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(timestamp)
    try:
        yield
    finally:
        if old is None:
            del os.environ["SOURCE_DATE_EPOCH"]
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old


def write_rpmdb(
    dest: Path,
    *,
    base: Path | None,
    install: Sequence[bytes],
    erase: Sequence[str] = (),
    timestamp: int = 0,
) -> None:
    """Create ``dest`` as ``base``'s database (copied) plus ``install`` minus ``erase``.

    ``install`` holds package heads (see the module doc); ``erase`` holds NEVRAs of
    packages in ``base``. ``dest`` must not exist.
    """
    if base is not None and has_sqlite_db(base):
        shutil.copytree(base, dest, copy_function=shutil.copy2, symlinks=True)
    else:
        dest.mkdir(parents=True)
    extend_rpmdb(dest, install=install, erase=erase, timestamp=timestamp)


def has_sqlite_db(dbpath: Path) -> bool:
    """Whether ``dbpath`` holds a database :func:`extend_rpmdb` can extend in place."""
    return (dbpath / "rpmdb.sqlite").exists()


def extend_rpmdb(
    dbpath: Path, *, install: Sequence[bytes], erase: Sequence[str] = (), timestamp: int = 0
) -> None:
    """Add ``install`` to and drop ``erase`` from the database in ``dbpath``, in place.

    For a private copy of a base's database that nothing else uses (the caller's
    checkout): extending it saves copying a database that lists every file of the
    base. An empty ``dbpath`` gets a new database.
    """
    if install or erase or not has_sqlite_db(dbpath):
        with tempfile.TemporaryDirectory(prefix="strata-rpmdb-") as tmp:
            heads = []
            for i, head in enumerate(install):
                path = Path(tmp) / f"{i}.rpm"
                path.write_bytes(head)
                heads.append(path)
            with _source_date_epoch(timestamp), rpm_macros({"_pkgverify_level": "none"}):
                _run(dbpath, heads, erase)
    _finish(dbpath)


def _run(dbpath: Path, heads: Sequence[Path], erase: Sequence[str]) -> None:
    with transaction_set(dbpath) as ts:
        ts.initDB()
        ts.openDB()
        wanted = set(erase)
        found: set[str] = set()
        # Loading every header costs time in proportion to the base's file count:
        # only an erase needs them.
        for hdr in ts.dbMatch() if wanted else ():
            label = nevra(hdr)
            if label in wanted:
                ts.addErase(hdr)
                found.add(label)
        missing = wanted - found
        if missing:
            raise PackageError(
                f"cannot remove {', '.join(sorted(missing))}: not in the base's rpmdb",
                hint="check the name with 'strata db list'",
            )
        for path in heads:
            fd = os.open(path, os.O_RDONLY)
            try:
                hdr = ts.hdrFromFdno(fd)
            finally:
                os.close(fd)
            ts.addInstall(hdr, str(path), "i")
        if not heads and not erase:
            return
        ts.setFlags(_FLAGS)
        ts.setProbFilter(_PROBLEM_FILTER)
        ts.order()
        opened: dict[str, int] = {}

        def callback(what: int, _amount: int, _total: int, key: Any, _data: Any) -> int | None:
            if what == rpm.RPMCALLBACK_INST_OPEN_FILE:
                opened[key] = os.open(key, os.O_RDONLY)
                return opened[key]
            if what == rpm.RPMCALLBACK_INST_CLOSE_FILE and key in opened:
                os.close(opened.pop(key))
            return None

        problems = ts.run(callback, "")
        for fd in opened.values():
            os.close(fd)
        if problems:
            raise PackageError(
                "writing the rpmdb failed: " + "; ".join(str(p[0]) for p in problems),
                hint="run with --debug and report the packages involved",
            )


def _finish(dbpath: Path) -> None:
    """One self-contained, reproducible file: checkpoint the WAL, drop rpm's lock file."""
    db = dbpath / "rpmdb.sqlite"
    if db.exists():
        conn = sqlite3.connect(db)
        try:
            conn.execute("PRAGMA journal_mode=DELETE")
        finally:
            conn.close()
    for leftover in ("rpmdb.sqlite-shm", "rpmdb.sqlite-wal", ".rpm.lock"):
        (dbpath / leftover).unlink(missing_ok=True)
