"""Pulling a commit from a remote store: summary -> commit -> trees -> missing objects.

Every object is verified against its id before it is used, and the commit's (and the
summary's) ed25519 signature before anything else when the remote has a verification
key. The pull never trusts a tree it has not verified, and writes git objects only at the
end, in one pack, after every file object they need: a tree in a store is complete, so a
later pull skips whole subtrees it already has (an upgrade fetches only what changed).

Resuming: verified git objects wait in ``REPO/tmp/pull-staging/`` (named by id) until the
pack is written, and file objects go straight into ``objects/``. A pull killed at any
moment leaves no ref behind and loses at most the objects in flight; the next pull reads
the staged objects back (verifying them again) and re-hashes a file object whose metadata
is not yet in git instead of downloading it again.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from core.errors import FetchError, StoreError
from core.progress import Progress
from core.remote import pipeline
from core.remote.transport import NotFound, Transport
from core.store import archive, commits, gitpack, refs, repoconfig, signing, summary, treemeta
from core.store.gitpack import OBJ_BLOB, OBJ_COMMIT, OBJ_TREE
from core.store.objects import read_xattrs
from core.store.repoconfig import Remote
from core.store.summary import RefEntry
from core.store.treemeta import GIT_FILE, GIT_LINK, GIT_TREE
from core.store.types import FileMeta

if TYPE_CHECKING:
    from core.store.repo import Store

STAGING = "pull-staging"
CONNECTIONS = 4
MAX_META = 1 << 20
DIRMETA = treemeta.DIRMETA_NAME.encode()
T = TypeVar("T")


@dataclass(frozen=True)
class PullOptions:
    commit_only: bool = False  # fetch and verify the commit only; move no ref
    timeout: float | None = None


@dataclass(frozen=True)
class PullResult:
    commit: str
    changed: bool  # the local ref moved
    objects: int = 0  # objects downloaded
    bytes: int = 0  # bytes downloaded (compressed, as sent)
    timestamp: int = 0
    version: str = ""


def split_refspec(remote: str, names: Iterable[str]) -> tuple[str, list[str]]:
    """``pull REMOTE REF...`` or ``pull REMOTE:REF``; every ref validated."""
    found = list(names)
    if ":" in remote:
        remote, _, ref = remote.partition(":")
        found.insert(0, ref)
    if not found:
        raise StoreError(
            f"No ref to pull from {remote!r}", hint="strata pull REMOTE REF (or REMOTE:REF)"
        )
    repoconfig.check_remote_name(remote)
    for ref in found:
        if ":" in ref:
            raise StoreError(f"Invalid ref name {ref!r}", hint="a remote's ref has no ':'")
        refs.check_ref_name(ref)
    return remote, found


def _transport(remote: Remote, timeout: float | None) -> Transport:
    if timeout is None and remote.options.get("timeout"):
        timeout = float(remote.options["timeout"])
    retries = remote.options.get("retries")
    return Transport(remote.url, timeout=timeout, retries=int(retries) if retries else None)


def remote_summary(
    store: Store, name: str, transport: Transport | None = None
) -> dict[str, RefEntry]:
    """The remote's refs from its summary, its signature checked when the remote has keys."""
    remote = repoconfig.remote(store.path, name)
    transport = transport or _transport(remote, None)
    data = transport.get(summary.SUMMARY, summary.MAX_SUMMARY)
    what = f"the summary of remote {name!r} ({transport.url(summary.SUMMARY)})"
    if remote.sign_verify:
        try:
            sig = transport.get(summary.SUMMARY_SIG, MAX_META)
            signatures = signing.decode_signatures(sig, transport.url(summary.SUMMARY_SIG))
        except NotFound:
            signatures = []
        signing.verify(remote.verify_keys, data, signatures, what)
    return summary.parse(data, what)


def pull(
    store: Store, remote_name: str, ref: str, progress: Progress, opts: PullOptions = PullOptions()
) -> PullResult:
    """Fetch ``ref`` of the remote into ``store`` as ``REMOTE:REF``."""
    store.require_bare("pull into")
    remote = repoconfig.remote(store.path, remote_name)
    transport = _transport(remote, opts.timeout)
    local_ref = f"{remote_name}:{ref}"
    refs.check_ref_name(local_ref)
    with progress.step(f"Receiving metadata of {local_ref}"):
        try:
            listed = remote_summary(store, remote_name, transport)
        except NotFound as err:
            raise FetchError(
                f"Remote {remote_name!r} has no summary ({err})",
                hint="publish one on the server: strata summary --repo PATH --update",
            ) from err
        entry = listed.get(ref)
        if entry is None:
            raise FetchError(
                f"Remote {remote_name!r} has no ref {ref!r}",
                hint=f"`strata remote refs {remote_name}` lists what it publishes",
            )
        puller = _Puller(store, remote, transport, progress)
        puller.fetch_commit(entry.commit)
    result = PullResult(entry.commit, False, timestamp=entry.timestamp, version=entry.version)
    if opts.commit_only:
        return result
    old = store.refs(local_ref).get(local_ref)
    with progress.step(f"Receiving objects of {local_ref}"):
        puller.fetch_tree()
    with store.batch():
        if old != entry.commit:
            store.set_ref(local_ref, entry.commit)
    puller.clean_staging()
    counters = transport.counters
    return PullResult(
        entry.commit,
        old != entry.commit,
        counters.requests,
        counters.bytes,
        entry.timestamp,
        entry.version,
    )


class _Puller:
    def __init__(
        self, store: Store, remote: Remote, transport: Transport, progress: Progress
    ) -> None:
        self.store = store
        self.remote = remote
        self.transport = transport
        self.progress = progress
        self.staging = store.path / "tmp" / STAGING
        self.staging.mkdir(parents=True, exist_ok=True)
        self.commit = ""
        self.commit_data = b""
        self.staged: list[str] = []
        self.connections = int(remote.options.get("connections", CONNECTIONS))
        self._last_update = 0.0
        self._done = 0
        self._lock = threading.Lock()

    # -- git objects -----------------------------------------------------------------------

    def _git_object(self, oid: bytes, expect: int) -> bytes:
        return self._git_objects([oid], expect)[0]

    def _git_objects(self, oids: list[bytes], expect: int) -> list[bytes]:
        """Verified git objects: from the store, from staging, or downloaded (and staged)."""
        out: list[bytes] = [b""] * len(oids)
        missing: list[int] = []
        for k, oid in enumerate(oids):
            if self.store.reader.exists(oid):
                out[k] = self.store.reader.read(oid, expect)
                continue
            staged = self.staging / oid.hex()
            try:
                raw = staged.read_bytes()
                out[k] = self._checked(oid, expect, raw, str(staged))
            except (FileNotFoundError, StoreError):
                missing.append(k)
                continue
            self.staged.append(oid.hex())

        def consume(j: int, body: BinaryIO) -> bytes:
            oid = oids[missing[j]]
            raw = body.read(archive.MAX_GIT_OBJECT + 1)
            data = self._checked(oid, expect, raw, f"remote {self.remote.name!r}")
            tmp = self.staging / f".tmp-{os.getpid()}-{oid.hex()}"
            tmp.write_bytes(raw)
            os.rename(tmp, self.staging / oid.hex())
            return data

        rels = [f"git/objects/{oids[k].hex()[:2]}/{oids[k].hex()[2:]}" for k in missing]
        for k, data in zip(missing, self._fetch_many(rels, consume), strict=True):
            out[k] = data
            self.staged.append(oids[k].hex())
        return out

    def _checked(self, oid: bytes, expect: int, raw: bytes, what: str) -> bytes:
        obj_type, data = archive.decode_loose(oid, raw, what)
        if obj_type != expect:
            raise FetchError(
                f"Object {oid.hex()} from remote {self.remote.name!r} is a "
                f"{gitpack.TYPE_NAMES[obj_type].decode()}, expected a "
                f"{gitpack.TYPE_NAMES[expect].decode()}"
            )
        return data

    def _fetch_many(self, rels: list[str], consume: Callable[[int, BinaryIO], T]) -> list[T]:
        return pipeline.fetch_many(self.transport, rels, consume, self.connections)

    def fetch_commit(self, commit: str) -> None:
        oid = bytes.fromhex(commit)
        data = self._git_object(oid, OBJ_COMMIT)
        if self.remote.sign_verify:
            rel = f"objects/{commit[:2]}/{commit[2:]}{signing.COMMITMETA}"
            try:
                meta = self.transport.get(rel, MAX_META)
                signatures = signing.decode_signatures(meta, self.transport.url(rel))
            except NotFound:
                signatures = []
            signing.verify(
                self.remote.verify_keys, data, signatures, f"commit {commit} of {self.remote.name}"
            )
            for signature in signatures:
                signing.add_commit_signature(self.store.objects.root, commit, signature)
        self.commit = commit
        self.commit_data = data

    # -- trees and files -------------------------------------------------------------------

    def fetch_tree(self) -> None:
        """Every object of the commit the store lacks, streamed: each tree, as it arrives,
        queues its missing entries, so files download while later trees are walked."""
        oid = bytes.fromhex(self.commit)
        if self.store.reader.exists(oid):
            return  # complete: a commit is stored only with everything it reaches
        info = commits.decode_commit(self.commit, self.commit_data)
        self.sched = pipeline.Scheduler(self.transport, self.connections)
        self.pending: list[tuple[bytes, int, bytes]] = []
        self.seen: set[bytes] = set()
        self.resuming = any(self.staging.iterdir())
        self._want(bytes.fromhex(info.tree), OBJ_TREE, self._on_tree)
        self.sched.run()
        for obj_id, obj_type, data in self.pending:
            self.store.writer.add_new(obj_type, data, obj_id)
        self.store.writer.add_new(OBJ_COMMIT, self.commit_data, oid)
        self.store.flush()

    def _want(self, oid: bytes, expect: int, then: Callable[[bytes, bytes], None]) -> None:
        """``then(oid, data)`` once the git object is verified: from staging, or fetched."""
        staged = self.staging / oid.hex()
        try:
            raw = staged.read_bytes()
            data = self._checked(oid, expect, raw, str(staged))
        except (FileNotFoundError, StoreError):
            pass
        else:
            self.staged.append(oid.hex())
            then(oid, data)
            return

        def consume(body: BinaryIO) -> None:
            raw = body.read(archive.MAX_GIT_OBJECT + 1)
            data = self._checked(oid, expect, raw, f"remote {self.remote.name!r}")
            tmp = self.staging / f".tmp-{os.getpid()}-{oid.hex()}"
            tmp.write_bytes(raw)
            os.rename(tmp, self.staging / oid.hex())
            with self._lock:
                self.staged.append(oid.hex())
            then(oid, data)

        self.sched.submit(f"git/objects/{oid.hex()[:2]}/{oid.hex()[2:]}", consume)

    def _keep(self, oid: bytes, obj_type: int, data: bytes) -> None:
        with self._lock:
            self.pending.append((oid, obj_type, data))

    def _on_tree(self, oid: bytes, data: bytes) -> None:
        self._keep(oid, OBJ_TREE, data)
        for mode, name, child in gitpack.decode_tree(data):
            with self._lock:
                if child in self.seen or self.store.reader.exists(child):
                    continue  # present objects are complete (see the module docstring)
                self.seen.add(child)
            if name == DIRMETA:
                self._want(child, OBJ_BLOB, self._on_dirmeta)
                continue
            treemeta.check_name(os.fsdecode(name), "a remote tree")
            if mode == GIT_TREE:
                self._want(child, OBJ_TREE, self._on_tree)
            elif mode == GIT_LINK:
                self._want(child, OBJ_BLOB, self._on_symlink)
            elif mode == GIT_FILE:
                self._want_file(child)
            else:
                raise FetchError(f"Remote tree {oid.hex()} has an entry of mode {mode:o}")

    def _on_dirmeta(self, oid: bytes, data: bytes) -> None:
        treemeta.decode(data, f"directory metadata {oid.hex()}")
        self._keep(oid, OBJ_BLOB, data)

    def _on_symlink(self, oid: bytes, data: bytes) -> None:
        header = treemeta.decode(data, f"symlink metadata {oid.hex()}")
        if header.target is None:
            raise FetchError(f"Remote object {oid.hex()} is listed as a symlink but is not one")
        if not self.store.objects.symlink_present(oid.hex()):
            self.store.objects.write_symlink(oid.hex(), header.target, header.meta)
        self._keep(oid, OBJ_BLOB, data)
        self._tick()

    def _want_file(self, oid: bytes) -> None:
        """A file object: re-hashed when an interrupted pull left it, else downloaded."""
        if self.resuming:
            header = _present_header(self.store, oid.hex())
            if header is not None and gitpack.object_id(OBJ_BLOB, header) == oid:
                self._keep(oid, OBJ_BLOB, header)
                self._tick()
                return
        what = f"remote {self.remote.name!r}"

        def consume(body: BinaryIO) -> None:
            filez = archive.FilezReader(body, oid, what)
            self.store.objects.write_chunks(oid.hex(), filez.content(), filez.meta)
            self._keep(oid, OBJ_BLOB, filez.header)
            self._tick()

        self.sched.submit(f"objects/{oid.hex()[:2]}/{oid.hex()[2:]}{archive.FILEZ}", consume)

    def _tick(self) -> None:
        with self._lock:
            self._done += 1
            now = time.monotonic()
            if now - self._last_update < 0.25:
                return
            self._last_update = now
            counters = self.transport.counters
            self.progress.update(
                f"Receiving objects: {self._done} files, {counters.bytes / 1e6:.1f} MB",
                objects=self._done,
                bytes=counters.bytes,
                requests=counters.requests,
            )

    def clean_staging(self) -> None:
        for hexid in self.staged:
            (self.staging / hexid).unlink(missing_ok=True)


def _present_header(store: Store, hexid: str) -> bytes | None:
    """The header of a file object already in ``objects/`` (left by an interrupted pull),
    rebuilt from the object itself, or None: the caller compares its id to the name."""
    try:
        fd = store.objects.open_object(hexid)
    except StoreError:
        return None
    try:
        st = os.fstat(fd)
        meta = FileMeta(st.st_uid, st.st_gid, st.st_mode, read_xattrs(fd))
        sha, size = store.objects.hash_file(fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    return treemeta.file_header(meta, size, sha)


def remove_staging(store_path: Path) -> None:
    shutil.rmtree(store_path / "tmp" / STAGING, ignore_errors=True)
