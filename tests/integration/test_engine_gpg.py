"""GPG checks of fetched packages with real gpg, rpmsign and rpmkeys."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import FetchError
from fixtures.rpms import build_rpm
from layering.engine.gpg import GpgKey, load_keys, verify_package
from tests.conftest import needs_rpmbuild
from tests.integration.engine_gpg_support import Keys, can_sign, make_keys, private_copy, sign

pytestmark = [
    needs_rpmbuild,
    pytest.mark.skipif(not can_sign(), reason="rpmsign/gpg missing"),
]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("gpg"), ("good", "other"))


def _copy(tmp_path: Path) -> Path:
    return private_copy(build_rpm("signme", files={"/usr/share/signme/a": "a"}), tmp_path)


def _signed(tmp_path: Path, keys: Keys, label: str) -> Path:
    rpm_path = _copy(tmp_path)
    home, _, _ = keys[label]
    sign(rpm_path, home, f"{label}@example.com")
    return rpm_path


def test_package_signed_by_the_repo_key_passes(tmp_path: Path, keys: Keys) -> None:
    rpm_path = _signed(tmp_path, keys, "good")
    _, public, kid = keys["good"]
    assert verify_package(rpm_path, [GpgKey("file:///k", public)], what="signme", repo="r") == kid


def test_package_signed_by_another_key_is_refused_naming_the_key(
    tmp_path: Path,
    keys: Keys,
) -> None:
    rpm_path = _signed(tmp_path, keys, "other")
    _, public, _ = keys["good"]
    other_kid = keys["other"][2]
    with pytest.raises(FetchError, match=f"signed with key {other_kid}"):
        verify_package(rpm_path, [GpgKey("file:///k", public)], what="signme", repo="r")


def test_unsigned_package_is_refused(tmp_path: Path, keys: Keys) -> None:
    rpm_path = _copy(tmp_path)
    _, public, _ = keys["good"]
    with pytest.raises(FetchError, match="is not signed"):
        verify_package(rpm_path, [GpgKey("file:///k", public)], what="signme", repo="r")


def test_corrupted_package_is_refused(tmp_path: Path, keys: Keys) -> None:
    rpm_path = _signed(tmp_path, keys, "good")
    data = bytearray(rpm_path.read_bytes())
    data[-100] ^= 0xFF
    rpm_path.write_bytes(bytes(data))
    _, public, _ = keys["good"]
    with pytest.raises(FetchError, match="corrupted|signature"):
        verify_package(rpm_path, [GpgKey("file:///k", public)], what="signme", repo="r")


def test_file_keys_resolve_inside_the_tree_not_the_host() -> None:
    tree = {"/etc/pki/rpm-gpg/KEY": b"key data"}

    def no_fetch(url: str, dest: Path) -> Path:
        raise AssertionError("file:// keys must not be fetched")

    got = load_keys(["file:///etc/pki/rpm-gpg/KEY"], read_tree_file=tree.get, fetch=no_fetch)
    assert got == [GpgKey("file:///etc/pki/rpm-gpg/KEY", b"key data")]
    with pytest.raises(FetchError, match="not found in the deployment"):
        load_keys(["file:///etc/pki/rpm-gpg/MISSING"], read_tree_file=tree.get, fetch=no_fetch)
