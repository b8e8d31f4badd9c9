"""fetch(): verified copies or nothing, from file:// URLs (HTTP is in the integration tier)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from core.errors import FetchError
from solver import fetch


def test_file_url_is_copied_and_verified(tmp_path: Path) -> None:
    src = tmp_path / "pkg.rpm"
    src.write_bytes(b"payload")
    digest = hashlib.sha256(b"payload").hexdigest()
    dest = fetch(f"file://{src}", tmp_path / "out" / "pkg.rpm", checksum=f"sha256:{digest}")
    assert dest.read_bytes() == b"payload"


def test_checksum_mismatch_leaves_nothing_behind(tmp_path: Path) -> None:
    src = tmp_path / "pkg.rpm"
    src.write_bytes(b"payload")
    out = tmp_path / "out"
    with pytest.raises(FetchError) as caught:
        fetch(f"file://{src}", out / "pkg.rpm", checksum="sha256:" + "0" * 64)
    assert "checksum mismatch" in str(caught.value) and str(src) in str(caught.value)
    assert list(out.iterdir()) == []


def test_more_than_the_stated_size_is_cut_off(tmp_path: Path) -> None:
    src = tmp_path / "pkg.rpm"
    src.write_bytes(b"x" * 100_000)
    out = tmp_path / "out"
    with pytest.raises(FetchError) as caught:
        fetch(f"file://{src}", out / "pkg.rpm", size=1000)
    assert "more than the 1000 bytes its metadata states" in str(caught.value)
    assert list(out.iterdir()) == []
    assert fetch(f"file://{src}", out / "pkg.rpm", size=100_000).stat().st_size == 100_000


def test_mismatch_does_not_clobber_an_existing_file(tmp_path: Path) -> None:
    src = tmp_path / "new"
    src.write_bytes(b"new")
    dest = tmp_path / "dest"
    dest.write_bytes(b"old")
    with pytest.raises(FetchError):
        fetch(f"file://{src}", dest, checksum="sha256:" + "0" * 64)
    assert dest.read_bytes() == b"old"


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="no such file"):
        fetch(f"file://{tmp_path}/absent.rpm", tmp_path / "x")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("url", "checksum", "needle"),
    [
        ("ftp://host/x.rpm", "", "unsupported URL scheme"),
        ("file:///x", "crc32:abcd", "unsupported checksum"),
        ("file://otherhost/x", "", "must not name a host"),
    ],
)
def test_bad_inputs_are_refused(tmp_path: Path, url: str, checksum: str, needle: str) -> None:
    with pytest.raises(FetchError, match=needle):
        fetch(url, tmp_path / "x", checksum=checksum)
    assert not (tmp_path / "x").exists()
