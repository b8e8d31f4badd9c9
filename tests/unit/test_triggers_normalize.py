"""Clock readings in script output: JKS keystores get SOURCE_DATE_EPOCH, anything else
(or anything not fully understood) is left byte for byte."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from triggers.normalize import normalize_jks, normalize_tree


def _utf(text: str) -> bytes:
    raw = text.encode()
    return len(raw).to_bytes(2, "big") + raw


def _blob(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _keystore(times: list[int], *, password: str = "changeit", version: int = 2) -> bytes:
    """A JKS keystore as Java writes it: trusted certificates, and one private key entry."""
    kind = _utf("X.509") if version == 2 else b""
    body = b"\xfe\xed\xfe\xed" + version.to_bytes(4, "big") + len(times).to_bytes(4, "big")
    for i, when in enumerate(times):
        stamp = when.to_bytes(8, "big")
        if i == 0:  # a private key with a chain of two certificates
            body += (1).to_bytes(4, "big") + _utf(f"key{i}") + stamp + _blob(b"protected")
            body += (2).to_bytes(4, "big") + (kind + _blob(b"leaf")) + (kind + _blob(b"ca"))
        else:
            body += (2).to_bytes(4, "big") + _utf(f"ca{i}") + stamp + kind + _blob(b"der" * i)
    digest = hashlib.sha1(password.encode("utf-16-be") + b"Mighty Aphrodite" + body)
    return body + digest.digest()


@pytest.mark.parametrize("version", [1, 2])
def test_keystores_written_at_different_times_become_equal(version: int) -> None:
    early = _keystore([1_600_000_000_123, 1_600_000_000_124, 5], version=version)
    late = _keystore([1_700_000_000_999, 1_700_000_001_000, 6], version=version)
    assert early != late
    fixed = normalize_jks(early, 1234)
    assert fixed is not None and fixed == normalize_jks(late, 1234)
    assert fixed == _keystore([1_234_000] * 3, version=version), "times and digest rewritten"


def test_keystore_written_with_the_epoch_is_unchanged() -> None:
    data = _keystore([1_234_000, 1_234_000])
    assert normalize_jks(data, 1234) == data


@pytest.mark.parametrize(
    "data",
    [
        _keystore([1, 2], password="secret"),  # a password we cannot vouch for
        _keystore([1, 2])[:-1],  # truncated digest
        _keystore([1, 2])[:40],  # truncated entries
        _keystore([1, 2])[:-20] + b"x" + _keystore([1, 2])[-20:],  # bytes after the entries
        b"\xfe\xed\xfe\xed" + (3).to_bytes(4, "big") + bytes(28),  # unknown version
        b"\xfe\xed\xfe\xed" + (2).to_bytes(4, "big") + (2**31).to_bytes(4, "big") + bytes(20),
        b"\xfe\xed\xfe\xed",
        b"",
    ],
)
def test_anything_not_fully_understood_is_left_alone(data: bytes) -> None:
    assert normalize_jks(data, 0) is None


def test_tree_rewrites_keystores_anywhere_in_place(tmp_path: Path) -> None:
    deep = tmp_path / "etc/pki/java"
    deep.mkdir(parents=True)
    store = deep / "cacerts"
    store.write_bytes(_keystore([99_000, 98_000]))
    store.chmod(0o640)
    os.link(store, tmp_path / "etc/also")  # a link the script made: both names see it
    other = tmp_path / "etc/hostname"
    other.write_bytes(b"\xfe\xed\xfe\xedbut not a keystore\n")
    (tmp_path / "etc/link").symlink_to("pki/java/cacerts")
    changed = normalize_tree(tmp_path, 7)
    assert len(changed) == 1 and changed[0] in ("etc/also", "etc/pki/java/cacerts")
    assert store.read_bytes() == _keystore([7_000, 7_000])
    assert (tmp_path / "etc/also").read_bytes() == store.read_bytes()
    assert (store.stat().st_mode & 0o777) == 0o640
    assert other.read_bytes() == b"\xfe\xed\xfe\xedbut not a keystore\n"
    assert normalize_tree(tmp_path, 7) == []


@pytest.mark.skipif(shutil.which("keytool") is None, reason="keytool (Java) is not installed")
def test_java_reads_the_rewritten_keystore(tmp_path: Path) -> None:
    path = tmp_path / "ks"
    made = subprocess.run(
        ["keytool", "-genkeypair", "-keystore", str(path), "-storetype", "JKS",
         "-storepass", "changeit", "-keypass", "changeit", "-alias", "a", "-keyalg", "EC",
         "-dname", "CN=a"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    fixed = normalize_jks(path.read_bytes(), 86400)
    assert fixed is not None
    path.write_bytes(fixed)
    listed = subprocess.run(
        ["keytool", "-list", "-v", "-keystore", str(path), "-storepass", "changeit"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "Creation date: Jan 2, 1970" in listed.stdout
