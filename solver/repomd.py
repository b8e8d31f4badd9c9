"""rpm-md repositories into a libsolv pool, through a ``.solv`` cache keyed by repomd.xml.

Parsing ``primary.xml`` of a Fedora-sized repo costs seconds; loading a
``.solv`` file costs milliseconds. A repo's ``repomd.xml`` names every data file
with its checksum, so its own SHA-256 identifies the whole metadata set: the
cache key. ``filelists`` is an extension loaded only when a file dependency
cannot be satisfied from ``primary`` (which carries the common paths).

Cache layout (``CACHE/repos/ID/``): ``repomd.xml`` (the last fetched copy,
for ``--cache-only``), ``baseurl`` (the mirror it came from on the first line, the
repo's other mirrors below it, for package downloads), ``SHA.solv``
(primary) and ``SHA-filelists.solv`` (the file lists as an extension of it,
written the first time a file dependency needs them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import solv

from core.errors import FetchError
from solver.fetch import (
    SLOW_HINT,
    fetch,
    file_checksum,
    local_path,
    parse_checksum,
    read_url,
)
from solver.mirrors import mirror_set
from solver.types import RepoConfig

_NS = "{http://linux.duke.edu/metadata/repo}"
_EXT_FLAGS = solv.Repo.REPO_EXTEND_SOLVABLES | solv.Repo.REPO_LOCALPOOL
_REFRESH_HINT = (
    "the repository is being updated or is corrupt: try again later, or run "
    "`strata cleanup --repomd` to drop cached metadata"
)


_SUFFIXES = (".xml.gz", ".xml.zst", ".xml.xz", ".xml.bz2", ".xml", ".solv")


def _local_name(item: DataFile) -> str:
    """The cached copy's file name: the checksum the repomd states (checked hex), plus
    the compression suffix libsolv opens it by; never the href's own name."""
    algo, digest = parse_checksum(item.checksum)
    if not digest or any(c not in "0123456789abcdef" for c in digest):
        raise FetchError(f"repomd.xml gives {item.href!r} a malformed checksum", hint=_REFRESH_HINT)
    suffix = next((s for s in _SUFFIXES if item.href.endswith(s)), "")
    return f"{algo}-{digest}{suffix}"


@dataclass(frozen=True)
class DataFile:
    """One ``<data>`` entry of repomd.xml."""

    type: str
    href: str
    checksum: str  # "sha256:HEX"


@dataclass(frozen=True)
class LoadedRepo:
    """A repo in the pool: which mirror served it and which metadata set it was."""

    config: RepoConfig
    baseurl: str
    repomd_sha256: str
    data: tuple[DataFile, ...]
    with_filelists: bool = False  # its file lists are loaded too
    mirrors: tuple[str, ...] = ()  # every mirror, ``baseurl`` (the one that answered) first


def parse_repomd(text: bytes, *, where: str) -> tuple[DataFile, ...]:
    """The data files of a repomd.xml; ``FetchError`` when it is not one."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise FetchError(
            f"{where}: repomd.xml is not valid XML ({err})", hint=_REFRESH_HINT
        ) from err
    found = []
    for data in root.iter(f"{_NS}data"):
        loc = data.find(f"{_NS}location")
        chk = data.find(f"{_NS}checksum")
        if loc is None or chk is None or not loc.get("href") or not chk.text:
            continue
        algo = chk.get("type", "sha256")
        found.append(DataFile(data.get("type", ""), loc.get("href", ""), f"{algo}:{chk.text}"))
    if not any(d.type == "primary" for d in found):
        raise FetchError(f"{where}: repomd.xml lists no primary metadata", hint=_REFRESH_HINT)
    return tuple(found)


def _write_atomic(path: Path, write: object) -> bool:
    """Write via ``write(fileobj)`` into a temp file beside ``path``, then rename.

    The cache only saves time, so a cache that cannot be written (read-only,
    full disk) is skipped: False, and nothing half-written is left behind.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError:
        return False
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)  # type: ignore[operator]
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)
        return False
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def write_solv(path: Path, writer: object, *, first_only: bool = False) -> bool:
    """Write a libsolv repo (or one repodata) atomically; ``first_only``: no extensions."""

    def write(f: object) -> None:
        fp = solv.xfopen_fd(None, f.fileno(), "w")  # type: ignore[attr-defined]
        write_one = writer.write_first_repodata if first_only else writer.write  # type: ignore[attr-defined]
        ok = write_one(fp)
        fp.close()
        if not ok:
            raise OSError(f"libsolv could not write {path}")

    return _write_atomic(path, write)


def record_file_provides(repo: solv.Repo, path: Path | None, added: list[int]) -> None:
    """Store in ``repo``'s cache which file dependencies were already resolved into provides.

    Finding file providers scans every file list of the pool (most of a warm
    solve's time on a large repo). libsolv skips repos whose metadata lists the
    file dependencies as already added, so the cache is rewritten once with
    them, as dnf does.
    """
    if path is None or not added or not path.is_file():
        return
    data = repo.first_repodata()  # None when an extension (filelists) is loaded
    if data is None:
        return
    key = solv.REPOSITORY_ADDEDFILEPROVIDES
    old = set(data.lookup_idarray(solv.SOLVID_META, key) or ())
    new = [dep for dep in added if dep not in old]
    if not new:
        return
    for dep in new:
        data.add_idarray(solv.SOLVID_META, key, dep)
    data.internalize()
    write_solv(path, repo, first_only=True)


class RepoLoader:
    """Loads repos into one pool; ``cache_dir=None`` means no cache (a temp work dir only)."""

    def __init__(
        self, pool: solv.Pool, *, cache_dir: Path | None, workdir: Path, cache_only: bool = False
    ) -> None:
        self.pool = pool
        self.cache_dir = cache_dir / "repos" if cache_dir is not None else None
        self.workdir = workdir
        self.cache_only = cache_only
        self.xml_parses = 0  # how many metadata files were parsed from XML (tests, benchmarks)

    def _dir(self, repo_id: str) -> Path | None:
        return self.cache_dir / repo_id if self.cache_dir is not None else None

    def solv_path(self, loaded: LoadedRepo) -> Path | None:
        """The ``.solv`` a loaded repo came from (None without a cache or with cache_only)."""
        cdir = self._dir(loaded.config.id)
        if cdir is None or self.cache_only:
            return None
        return cdir / f"{loaded.repomd_sha256}.solv"

    # --- repomd --------------------------------------------------------------------------
    def _repomd(self, config: RepoConfig) -> tuple[tuple[str, ...], bytes]:
        """The mirrors (the one that served it first) and the repo's ``repomd.xml``.

        Mirrors are tried in order (as librepo does); with a metalink, a mirror whose
        repomd.xml matches none of its hashes counts as failed and the next one is tried.
        """
        cdir = self._dir(config.id)
        if self.cache_only:
            if cdir is None or not (cdir / "repomd.xml").is_file():
                raise FetchError(
                    f"repo {config.id!r}: no cached metadata, and --cache-only forbids fetching",
                    hint="run once without --cache-only to fill the cache",
                )
            listing = cdir / "baseurl"
            mirrors = tuple(listing.read_text().split()) if listing.is_file() else ()
            if not mirrors:
                raise FetchError(
                    f"repo {config.id!r}: cached metadata is incomplete and --cache-only "
                    "forbids fetching",
                    hint="run once without --cache-only to fill the cache",
                )
            return mirrors, (cdir / "repomd.xml").read_bytes()
        found = mirror_set(config)
        errors: list[str] = []
        mismatch = slow = False
        for baseurl in found.mirrors:
            url = baseurl.rstrip("/") + "/repodata/repomd.xml"
            try:
                text = read_url(url, speed=config.speed)
                if found.metalink is not None:
                    found.metalink.check(text, url)
            except FetchError as err:
                mismatch = mismatch or "does not match the metalink" in err.args[0]
                slow = slow or err.hint == SLOW_HINT
                errors.append(str(err.args[0]))
                continue
            return (baseurl, *(m for m in found.mirrors if m != baseurl)), text
        where = "" if found.source == "baseurl" else f" (mirrors from its {found.source})"
        hint = (
            "no mirror serves the repomd.xml its metalink names: the mirrors are out of "
            "date or tampered with; try again later"
            if mismatch
            else f"check {found.source} of {config.id!r} and your network"
        )
        if slow:
            hint = f"{SLOW_HINT}; or {hint}"
        raise FetchError(
            f"repo {config.id!r} is unavailable{where}: " + "; ".join(errors),
            hint=f"{hint}, set skip_if_unavailable=1 for it, or disable it (enabled=0)",
        )

    def _data_path(self, loaded: LoadedRepo, item: DataFile) -> Path:
        """A verified local copy of one metadata file (the file itself for file://).

        The mirror that served repomd.xml is asked first, then the others in order.
        """
        where = f"repo {loaded.config.id!r}: {item.href}"
        errors: list[FetchError] = []
        for mirror in loaded.mirrors or (loaded.baseurl,):
            try:
                url = mirror.rstrip("/") + "/" + item.href
                return self._data_from(url, item, where, loaded.config)
            except FetchError as err:
                errors.append(err)
        if len(errors) == 1:
            raise errors[0]
        raise FetchError(
            f"{where}: no mirror has it: " + "; ".join(str(e.args[0]) for e in errors),
            hint=_REFRESH_HINT,
        )

    def _data_from(self, url: str, item: DataFile, where: str, config: RepoConfig) -> Path:
        local = local_path(url)
        if local is not None:
            algo, digest = parse_checksum(item.checksum)
            try:
                actual = file_checksum(local, algo)
            except OSError as err:
                raise FetchError(
                    f"{where}: cannot read {local}: {err.strerror}", hint=_REFRESH_HINT
                ) from err
            if actual != digest:
                raise FetchError(
                    f"{where} does not match its checksum in repomd.xml", hint=_REFRESH_HINT
                )
            return local
        dest = self.workdir / config.id / _local_name(item)
        try:
            return fetch(url, dest, checksum=item.checksum, speed=config.speed)
        except FetchError as err:
            if "checksum mismatch" in str(err):
                raise FetchError(
                    f"{where} does not match its checksum in repomd.xml (from {url})",
                    hint=_REFRESH_HINT,
                ) from err
            raise FetchError(f"{where}: {err.args[0]}", hint=_REFRESH_HINT) from err

    def _parse_into(self, repo: solv.Repo, path: Path, language: str | None, flags: int) -> None:
        fp = solv.xfopen(str(path))
        if fp is None:
            raise FetchError(f"cannot open {path} (unknown compression?)", hint=_REFRESH_HINT)
        self.xml_parses += 1
        ok = repo.add_rpmmd(fp, language, flags)
        fp.close()
        if not ok:
            raise FetchError(
                f"repo {repo.name!r}: cannot parse {path.name}: {self.pool.errstr}",
                hint=_REFRESH_HINT,
            )

    def _load_solv(self, repo: solv.Repo, path: Path, flags: int = 0) -> bool:
        if not path.is_file():
            return False
        fp = solv.xfopen(str(path))
        ok = fp is not None and repo.add_solv(fp, flags)
        if fp is not None:
            fp.close()
        if not ok:
            path.unlink(missing_ok=True)  # stale format or damaged: rebuild it
        return bool(ok)

    # --- public --------------------------------------------------------------------------
    def load(self, config: RepoConfig) -> tuple[solv.Repo, LoadedRepo]:
        """Put ``config``'s packages (primary only) into the pool."""
        mirrors, text = self._repomd(config)
        sha = hashlib.sha256(text).hexdigest()
        data = parse_repomd(text, where=f"repo {config.id!r}")
        loaded = LoadedRepo(config, mirrors[0], sha, data, mirrors=mirrors)
        cdir = self._dir(config.id)
        if cdir is not None and not self.cache_only:
            listing = "".join(m + "\n" for m in mirrors).encode()
            _write_atomic(cdir / "repomd.xml", lambda f: f.write(text))
            _write_atomic(cdir / "baseurl", lambda f: f.write(listing))
        repo = self.pool.add_repo(config.id)
        if cdir is not None and self._load_solv(repo, cdir / f"{sha}.solv"):
            return repo, loaded
        if self.cache_only:
            repo.free(True)
            raise FetchError(
                f"repo {config.id!r}: cached metadata is incomplete and --cache-only forbids "
                "fetching",
                hint="run once without --cache-only to fill the cache",
            )
        primary = next(d for d in data if d.type == "primary")
        try:
            self._parse_into(repo, self._data_path(loaded, primary), None, 0)
        except FetchError:
            repo.free(True)  # no half-read repo stays in the pool (skip_if_unavailable)
            raise
        repo.internalize()
        if cdir is not None:
            write_solv(cdir / f"{sha}.solv", repo)
            for old in cdir.glob("*.solv"):  # older metadata sets of this repo: never used again
                if not old.name.startswith(sha):
                    old.unlink(missing_ok=True)
        return repo, loaded

    def add_filelists(self, repo: solv.Repo, loaded: LoadedRepo) -> LoadedRepo | None:
        """Extend ``repo`` with its file lists; None when the repo has none (or cache-only).

        They are cached as an extension of the primary ``.solv`` (writing the
        whole repo with file lists again costs libsolv far more than parsing).
        """
        if loaded.with_filelists:
            return loaded
        cdir = self._dir(loaded.config.id)
        ext = cdir / f"{loaded.repomd_sha256}-filelists.solv" if cdir is not None else None
        if ext is not None and self._load_solv(repo, ext, _EXT_FLAGS):
            return dataclasses.replace(loaded, with_filelists=True)
        item = next((d for d in loaded.data if d.type == "filelists"), None)
        if item is None or self.cache_only:
            return None
        path = self._data_path(loaded, item)
        data = repo.add_repodata(0)
        self._parse_into(repo, path, "FL", _EXT_FLAGS | solv.Repo.REPO_REUSE_REPODATA)
        data.internalize()
        if ext is not None:
            write_solv(ext, data)
        return dataclasses.replace(loaded, with_filelists=True)
