"""The formats a client reads from a server, as pure logic: filez objects, loose git
objects, summaries, signatures, remote ref names. Every hostile variant is refused."""

from __future__ import annotations

import hashlib
import io
import json
import os
import stat
import struct
import zlib
from pathlib import Path

import pytest
import zstandard

from core.errors import StoreError
from core.remote.pull import split_refspec
from core.store import archive, gitpack, refs, signing, summary, treemeta
from core.store.types import FileMeta

META = FileMeta(0, 42, stat.S_IFREG | 0o4755, (("security.capability", b"\x01\x02"),))


def _filez(tmp_path: Path, content: bytes, meta: FileMeta = META) -> tuple[bytes, bytes]:
    src = tmp_path / "src"
    src.write_bytes(content)
    out = tmp_path / "obj.filez"
    fd = os.open(src, os.O_RDONLY)
    try:
        archive.write_filez(out, meta, len(content), fd)
    finally:
        os.close(fd)
    header = treemeta.file_header(meta, len(content), hashlib.sha256(content).hexdigest())
    return out.read_bytes(), gitpack.object_id(gitpack.OBJ_BLOB, header)


def test_filez_round_trip_rebuilds_the_metadata_blob(tmp_path: Path) -> None:
    content = os.urandom(3000) + b"x" * 100_000
    data, oid = _filez(tmp_path, content)
    assert len(data) < len(content)
    reader = archive.FilezReader(io.BytesIO(data), oid, "test")
    assert reader.meta == META
    assert b"".join(reader.content()) == content
    assert gitpack.object_id(gitpack.OBJ_BLOB, reader.header) == oid


@pytest.mark.parametrize("damage", ["flip", "truncate", "other-id", "trailing", "bomb"])
def test_a_damaged_or_hostile_filez_is_refused(tmp_path: Path, damage: str) -> None:
    content = os.urandom(5000)
    data, oid = _filez(tmp_path, content)
    if damage == "flip":
        raw = bytearray(zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read())
        raw[-10] ^= 1
        data = zstandard.ZstdCompressor().compress(bytes(raw))
    elif damage == "truncate":
        data = data[:-50]
    elif damage == "other-id":
        oid = bytes(20)
    elif damage == "trailing":
        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
        data = zstandard.ZstdCompressor().compress(raw + b"extra")
    elif damage == "bomb":  # claims a huge size, sends a few bytes
        meta = struct.pack(">IIIQH", stat.S_IFREG | 0o644, 0, 0, 1 << 40, 0)
        data = zstandard.ZstdCompressor().compress(meta + b"\0" * 100)
    with pytest.raises(StoreError):
        reader = archive.FilezReader(io.BytesIO(data), oid, "test")
        for _chunk in reader.content():
            pass


def test_a_filez_that_is_not_a_regular_file_is_refused(tmp_path: Path) -> None:
    meta = struct.pack(">IIIQH", stat.S_IFCHR | 0o644, 0, 0, 0, 0)
    data = zstandard.ZstdCompressor().compress(meta)
    with pytest.raises(StoreError, match="regular file"):
        archive.FilezReader(io.BytesIO(data), bytes(20), "test")


def test_loose_objects_are_checked_against_their_id() -> None:
    data = b"hello"
    oid = gitpack.object_id(gitpack.OBJ_BLOB, data)
    raw = archive.encode_loose(gitpack.OBJ_BLOB, data)
    assert archive.decode_loose(oid, raw, "t") == (gitpack.OBJ_BLOB, data)
    with pytest.raises(StoreError, match="does not match"):
        archive.decode_loose(bytes(20), raw, "t")
    with pytest.raises(StoreError, match="corrupt"):
        archive.decode_loose(oid, raw[:-3], "t")
    with pytest.raises(StoreError, match="corrupt"):
        archive.decode_loose(oid, zlib.compress(b"blob 99\0hello"), "t")


def _summary(refs_: dict[str, object]) -> bytes:
    return json.dumps({"refs": refs_, "timestamp": 1, "version": 1}).encode()


@pytest.mark.parametrize(
    "doc",
    [
        b"not json",
        json.dumps({"refs": {}, "version": 7}).encode(),
        _summary({"os/../etc": {"commit": "a" * 40, "timestamp": 0}}),
        _summary({"r:x": {"commit": "a" * 40, "timestamp": 0}}),
        _summary({"os/base": {"commit": "zz", "timestamp": 0}}),
        _summary({"os/base": {"commit": "a" * 40, "timestamp": "soon"}}),
    ],
)
def test_a_malformed_summary_is_refused(doc: bytes) -> None:
    with pytest.raises(StoreError, match="Malformed summary"):
        summary.parse(doc, "test")


def test_signatures_verify_only_with_the_signing_key(tmp_path: Path) -> None:
    secret, public = signing.generate_key(tmp_path / "k")
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    with pytest.raises(StoreError, match="Refusing to overwrite"):
        signing.generate_key(tmp_path / "k")
    key = signing.load_secret(secret)
    keys = signing.load_public_keys(public)
    sig = signing.sign(key, b"data")
    assert signing.verify(keys, b"data", [sig], "t") == keys[0]
    with pytest.raises(StoreError, match="no valid signature"):
        signing.verify(keys, b"datA", [sig], "t")
    with pytest.raises(StoreError, match="not signed"):
        signing.verify(keys, b"data", [], "t")
    other = signing.public_key_text(signing.load_secret(signing.generate_key(tmp_path / "o")[0]))
    with pytest.raises(StoreError, match="no valid signature"):
        signing.verify((other,), b"data", [sig], "t")
    (tmp_path / "bad.pub").write_text("bm90IGEga2V5\n")
    with pytest.raises(StoreError, match="not an ed25519 public key"):
        signing.load_public_keys(tmp_path / "bad.pub")


def test_remote_ref_names() -> None:
    assert refs.git_name("server:os/x86_64/base") == "refs/remotes/server/os/x86_64/base"
    assert refs.git_name("os/x86_64/base") == "refs/heads/os/x86_64/base"
    for bad in ("server:../etc", ":os/base", "ser ver:os/base", "server:", "os/../x"):
        with pytest.raises(StoreError):
            refs.check_ref_name(bad)
    assert split_refspec("server:os/base", ()) == ("server", ["os/base"])
    assert split_refspec("server", ["a", "b/c"]) == ("server", ["a", "b/c"])
    for remote, names in (("server", ["os/../x"]), ("server", []), ("../x", ["a"])):
        with pytest.raises(StoreError):
            split_refspec(remote, names)
