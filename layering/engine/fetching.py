"""Getting each package of a transaction into the store exactly once.

A package found in the package cache (looked up by the SHA-256 the repo metadata
states for its .rpm file) is neither downloaded nor unpacked again. Otherwise it is
fetched (verified against that digest), its signature checked when the repo asks for
it, and imported. Local RPM files given to ``install``/``override replace`` are kept
in the store as well, so later operations can solve with them again after the user
deleted the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import rpm

from core.errors import FetchError, PackageError, StoreError
from core.faults import fault_point
from core.progress import Progress
from core.store import FileMeta, Store
from layering.engine.gpg import KeyReader, load_keys, verify_package
from layering.rpm.headers import identity, nevra, read_package_header
from layering.rpm.importer import (
    ImportedPackage,
    cache_key,
    cached_package,
    header_sha256,
    import_rpm,
)
from solver import PackageRef, fetch
from solver.fetch import file_checksum

DIGEST_REF_PREFIX = "strata/rpm-digest/"  # file SHA-256 -> package cache commit
COMPOSE_DIGEST_REF_PREFIX = "strata/rpm-digest-compose/"  # file SHA-256 -> compose import
LOCAL_REF_PREFIX = "strata/local/"  # header SHA-256 -> commit holding the .rpm file
VERIFIED_REF_PREFIX = "strata/rpm-verified/"  # file SHA-256 -> marker: its signature was checked
LOCAL_FILE = "package.rpm"
HEADER_DIGEST_KEY = "strata.sha256"  # rpmimport records the header digest here


@dataclass(frozen=True)
class RpmFileInfo:
    """What the engine needs to know about an .rpm before importing it."""

    path: Path
    file_sha256: str
    header_sha256: str
    nevra: str
    name: str


def read_rpm_file(path: Path) -> RpmFileInfo:
    """Header digest and NEVRA of a local .rpm; PackageError for anything unreadable."""
    hdr = read_package_header(path)
    name = hdr[rpm.RPMTAG_NAME]
    name = name.decode() if isinstance(name, bytes) else str(name)
    return RpmFileInfo(path, file_checksum(path), header_sha256(hdr), nevra(hdr), name)


def sha256_hex(checksum: str) -> str:
    """The hex digest of a repo's ``sha256:HEX`` checksum; "" for any other algorithm."""
    algo, sep, hexdigest = checksum.partition(":")
    return hexdigest.lower() if sep and algo.lower() == "sha256" else ""


def find_cached(store: Store, checksum: str, *, compose: bool = False) -> ImportedPackage | None:
    """The imported package whose .rpm file had this digest, if we imported it before.

    ``compose``: its compose import instead (base-building path rules, its own index),
    so an unchanged compose downloads nothing.
    """
    hexdigest = sha256_hex(checksum)
    if not hexdigest:
        return None
    prefix = COMPOSE_DIGEST_REF_PREFIX if compose else DIGEST_REF_PREFIX
    try:
        commit = store.resolve(prefix + hexdigest)
    except StoreError:
        return None
    header_sha = store.commit_info(commit).metadata.get(HEADER_DIGEST_KEY, "")
    return cached_package(store, cache_key(header_sha, compose=compose)) if header_sha else None


def remember_digest(store: Store, file_hex: str, package: ImportedPackage) -> None:
    fault_point("import-before-digest-ref")
    store.set_ref(DIGEST_REF_PREFIX + file_hex, package.commit)


def keep_local_rpm(store: Store, info: RpmFileInfo) -> None:
    """Store a local .rpm under ``strata/local/<header-sha256>`` (once)."""
    ref = LOCAL_REF_PREFIX + info.header_sha256
    if ref in store.refs(LOCAL_REF_PREFIX):
        return
    editor = store.edit(None)
    with info.path.open("rb") as data:
        editor.put_file(LOCAL_FILE, data, FileMeta(uid=0, gid=0, mode=0o100644))
    tree = editor.write()
    store.commit_tree(
        tree,
        branch=ref,
        subject=f"local package {info.nevra}",
        metadata={"strata.nevra": info.nevra, HEADER_DIGEST_KEY: info.header_sha256},
        timestamp=0,
    )


def restore_local_rpm(store: Store, header_sha256: str, nevra: str, dest_dir: Path) -> Path:
    """Write a kept local .rpm back to a file for the solver; error if it was dropped."""
    data = None
    try:
        data = store.read_file(LOCAL_REF_PREFIX + header_sha256, LOCAL_FILE)
    except StoreError:
        data = None
    if data is None:
        raise FetchError(
            f"Local package {nevra} is no longer in the store",
            hint=f"install the .rpm file again, or 'strata uninstall {nevra}'",
        )
    path = dest_dir / f"{header_sha256}.rpm"
    path.write_bytes(data)
    return path


def download_name(pkg: PackageRef) -> str:
    """The download's file name: never built from the repository's metadata.

    The file's SHA-256 when the repo states it, else a digest of where it comes
    from (a name, version or location from ``primary.xml`` could hold ``../``).
    """
    hexdigest = sha256_hex(pkg.checksum)
    if hexdigest:
        return f"{hexdigest}.rpm"
    origin = "\0".join((pkg.repo, pkg.location, pkg.checksum))
    return f"unverified-{hashlib.sha256(origin.encode()).hexdigest()}.rpm"


def check_identity(pkg: PackageRef, path: Path, source: str) -> None:
    """The downloaded file must be the package the metadata described; else it is removed.

    A repository (or a mirror) that serves another package than its metadata names,
    or names one with a path in it, is refused before the file is verified, kept or
    imported, so no name from the metadata reaches the store or ``status``.
    """
    try:
        got = identity(read_package_header(path))
    except PackageError:
        path.unlink(missing_ok=True)
        raise
    want = (pkg.name, pkg.epoch, pkg.version, pkg.release, pkg.arch)
    if got != want:
        path.unlink(missing_ok=True)
        name, epoch, version, release, arch = got
        evr = f"{epoch}:" if epoch else ""
        raise FetchError(
            f"{source} is not the package the metadata of repo {pkg.repo!r} describes: "
            f"expected {pkg.nevra!r}, the file is {f'{name}-{evr}{version}-{release}.{arch}'!r}",
            hint="the repository or this mirror is broken or hostile; refresh the metadata "
            "(`strata cleanup --repomd`) or disable the repo",
        )


@dataclass(frozen=True)
class Obtained:
    """Result of getting a transaction's packages: imported ones plus counts for the user."""

    packages: tuple[ImportedPackage, ...]
    cached: int
    downloaded: int


class PackageFetcher:
    """Fetches, verifies and imports the packages of one operation."""

    def __init__(
        self,
        store: Store,
        *,
        download_dir: Path,
        read_tree_file: KeyReader,
        progress: Progress,
        cache_only: bool = False,
        fetch_url: Callable[..., Path] = fetch,
    ) -> None:
        self.store = store
        self.download_dir = download_dir
        self.read_tree_file = read_tree_file
        self.progress = progress
        self.cache_only = cache_only
        self.fetch_url = fetch_url
        self.fetched = 0  # files that came over the network (not from the download cache)

    def _download(self, pkg: PackageRef) -> Path:
        hexdigest = sha256_hex(pkg.checksum)
        dest = self.download_dir / download_name(pkg)
        if hexdigest and dest.exists() and file_checksum(dest) == hexdigest:
            check_identity(pkg, dest, dest.name)
            return dest
        if self.cache_only:
            raise FetchError(
                f"Package {pkg.nevra} is not in the cache (--cache-only)",
                hint="run the same command with --download-only first, or drop --cache-only",
            )
        self.download_dir.mkdir(parents=True, exist_ok=True)
        errors: list[FetchError] = []
        for url in pkg.urls:  # the mirror that served the metadata first, then the others
            try:
                self.fetch_url(url, dest, checksum=pkg.checksum, speed=pkg.speed, size=pkg.size)
                check_identity(pkg, dest, url)
            except (FetchError, PackageError) as err:
                errors.append(FetchError(str(err.args[0]), hint=err.hint))
                continue
            self.fetched += 1
            return dest
        context = f"Downloading {pkg.nevra} from repo '{pkg.repo}'"
        if len(errors) == 1:
            raise errors[0].with_context(context) from errors[0]
        raise FetchError(
            f"{context}: every mirror failed: " + "; ".join(str(e.args[0]) for e in errors),
            hint=errors[-1].hint,
        ) from errors[-1]

    def _verify(self, pkg: PackageRef, path: Path) -> None:
        if not pkg.gpgcheck:
            return
        keys = load_keys(
            pkg.gpgkeys,
            read_tree_file=self.read_tree_file,
            fetch=self.fetch_url,
        )
        key_id = verify_package(path, keys, what=pkg.nevra, repo=pkg.repo)
        hexdigest = sha256_hex(pkg.checksum) or file_checksum(path)
        marker = self.store.commit_tree(
            self.store.edit(None).write(),
            subject=f"signature of {pkg.nevra} checked",
            metadata={"strata.gpg-key-id": key_id, "strata.nevra": pkg.nevra},
            timestamp=0,
        )
        self.store.set_ref(VERIFIED_REF_PREFIX + hexdigest, marker)

    def _needs_fetch(self, pkg: PackageRef, cached: ImportedPackage | None) -> bool:
        """Not imported yet, or imported without the signature check its repo now asks for
        (the tree alone cannot be verified: the file is fetched again to check it)."""
        if cached is None:
            return True
        if not pkg.gpgcheck:
            return False
        return VERIFIED_REF_PREFIX + sha256_hex(pkg.checksum) not in self.store.refs(
            VERIFIED_REF_PREFIX
        )

    def download(self, packages: Sequence[PackageRef]) -> tuple[list[Path], int]:
        """Download (and verify) what is not cached yet; for ``--download-only``.
        Returns the files and how many packages were already imported; ``fetched``
        counts the files that came over the network."""
        paths, cached = [], 0
        with self.store.batch():  # the signature markers' refs move together
            for pkg in packages:
                if not self._needs_fetch(pkg, find_cached(self.store, pkg.checksum)):
                    cached += 1
                    continue
                path = self._download(pkg)
                self._verify(pkg, path)
                paths.append(path)
        return paths, cached

    def obtain(self, packages: Sequence[PackageRef]) -> Obtained:
        """Every package imported, in input order; cached ones never touch the network.

        Every ref the imports move (two per package, plus signature markers) moves at
        one durability point, the end of the store batch (the caller's, if it has one).
        """
        fetched_before = self.fetched
        found: list[ImportedPackage | None] = [
            find_cached(self.store, p.checksum) for p in packages
        ]
        todo = [i for i, pkg in enumerate(found) if self._needs_fetch(packages[i], pkg)]
        paths: dict[int, Path] = {}
        if todo:
            with self.store.batch():
                with self.progress.step("Downloading"):
                    for i in todo:
                        paths[i] = self._download(packages[i])
                        self._verify(packages[i], paths[i])
                with self.progress.step("Importing"):
                    for i in todo:
                        if found[i] is None:
                            found[i] = self.import_file(paths[i], packages[i].checksum)
                        else:
                            paths[i].unlink(missing_ok=True)
        imported = tuple(p for p in found if p is not None)
        # a file --download-only left in the download cache counts as cached, not as
        # downloaded (with --cache-only nothing is ever downloaded)
        downloaded = self.fetched - fetched_before
        return Obtained(imported, len(packages) - downloaded, downloaded)

    def import_file(self, path: Path, checksum: str = "") -> ImportedPackage:
        """Import one verified .rpm and index it by its file digest."""
        hexdigest = sha256_hex(checksum) or file_checksum(path)
        package = import_rpm(self.store, path)
        remember_digest(self.store, hexdigest, package)
        if path.parent == self.download_dir:
            path.unlink(missing_ok=True)
        return package
