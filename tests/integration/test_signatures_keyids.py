"""Signature refusals name key ids: the one a package is signed with and the trusted ones.

The install path end to end (a gpgcheck=1 repo, the key under /etc/pki/rpm-gpg of the
deployment, signed / foreign / unsigned packages through `strata install`) is covered by
tests/e2e/test_cli_pkg_fetch.py; this checks what the refusals say, so an administrator
can compare ids with `rpm -qi gpg-pubkey` or the vendor's published fingerprint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import FetchError
from fixtures.rpms import build_rpm
from layering.engine.gpg import GpgKey, verify_package
from tests.conftest import needs_rpmbuild
from tests.integration.engine_gpg_support import Keys, can_sign, make_keys, private_copy, sign

pytestmark = [
    needs_rpmbuild,
    pytest.mark.skipif(not can_sign(), reason="rpmsign/gpg missing"),
]


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return make_keys(tmp_path_factory.mktemp("sig-keys"), ("trusted", "stranger"))


def package(tmp_path: Path) -> Path:
    return private_copy(build_rpm("sigcheck", files={"/usr/share/sigcheck/a": "a\n"}), tmp_path)


def test_foreign_signature_names_both_key_ids(tmp_path: Path, keys: Keys) -> None:
    rpm_path = package(tmp_path)
    sign(rpm_path, keys["stranger"][0], "stranger@example.com")
    trusted = GpgKey("file:///etc/pki/rpm-gpg/RPM-GPG-KEY-test", keys["trusted"][1])
    with pytest.raises(FetchError) as caught:
        verify_package(rpm_path, [trusted], what="sigcheck", repo="signed")
    text = str(caught.value)
    assert f"signed with key {keys['stranger'][2]}" in text
    assert f"trusted key ids: {keys['trusted'][2]}" in text
    assert "hint:" in text


def test_unsigned_package_names_the_trusted_key_id(tmp_path: Path, keys: Keys) -> None:
    trusted = GpgKey("file:///etc/pki/rpm-gpg/RPM-GPG-KEY-test", keys["trusted"][1])
    with pytest.raises(FetchError) as caught:
        verify_package(package(tmp_path), [trusted], what="sigcheck", repo="signed")
    text = str(caught.value)
    assert "is not signed" in text
    assert f"trusted key ids: {keys['trusted'][2]}" in text


def test_signed_by_the_trusted_key_passes(tmp_path: Path, keys: Keys) -> None:
    rpm_path = package(tmp_path)
    sign(rpm_path, keys["trusted"][0], "trusted@example.com")
    trusted = GpgKey("file:///k", keys["trusted"][1])
    assert verify_package(rpm_path, [trusted], what="sigcheck", repo="signed") == keys["trusted"][2]
