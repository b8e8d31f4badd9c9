"""compose tree checks signatures when a repo says gpgcheck=1 (keys from the build host)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from core.errors import FetchError
from core.progress import QuietProgress
from core.store import Store
from fixtures.repos import make_repo, write_repo_file
from fixtures.rpms import build_rpm
from layering.engine.compose import compose_tree
from layering.engine.treefile import load
from layering.rpm.headers import read_packages
from tests.conftest import needs_rpmbuild
from tests.integration.engine_gpg_support import can_sign, make_key, sign

pytestmark = [
    needs_rpmbuild,
    pytest.mark.skipif(not can_sign(), reason="rpmsign/gpg missing"),
]


EMAIL = "compose@strata.test"


@pytest.fixture(scope="module")
def gnupg(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(GNUPGHOME with a signing key, the armored public key file); made once."""
    root = tmp_path_factory.mktemp("gpg")
    public, _ = make_key(root / "gnupg", EMAIL)
    key = root / "RPM-GPG-KEY-test"
    key.write_bytes(public)
    return root / "gnupg", key


def _setup(tmp_path: Path, gnupg: tuple[Path, Path], *, signed: bool) -> Path:
    """A repo with one script-less package and a treefile asking for its signature."""
    home, key = gnupg
    rpm_path = tmp_path / "pkgs" / "plain.rpm"
    rpm_path.parent.mkdir()
    shutil.copyfile(build_rpm("plain", files={"/usr/share/plain/f": "f\n"}), rpm_path)
    if signed:
        sign(rpm_path, home, EMAIL)
    repo = make_repo(tmp_path / "repo", [rpm_path])
    tf = tmp_path / "tf"
    tf.mkdir()
    write_repo_file(tf / "signed.repo", "signed", repo.as_uri(), gpgcheck=True, gpgkey=key.as_uri())
    path = tf / "treefile.yaml"
    path.write_text(yaml.safe_dump({"ref": "t/base", "repos": ["signed"], "packages": ["plain"]}))
    return path


def test_signed_packages_compose(tmp_path: Path, gnupg: tuple[Path, Path]) -> None:
    store = Store.init(tmp_path / "store")
    treefile = load(_setup(tmp_path, gnupg, signed=True))
    result = compose_tree(store, treefile, progress=QuietProgress())
    assert store.resolve("t/base") == result.commit
    assert [p.name for p in read_packages(store, result.commit)] == ["plain"]
    assert store.read_file(result.commit, "usr/share/plain/f") == b"f\n"


def test_unsigned_package_refused_and_nothing_committed(
    tmp_path: Path, gnupg: tuple[Path, Path]
) -> None:
    store = Store.init(tmp_path / "store")
    treefile = load(_setup(tmp_path, gnupg, signed=False))
    with pytest.raises(FetchError):
        compose_tree(store, treefile, progress=QuietProgress())
    assert "t/base" not in store.refs()
    assert store.refs("strata/pkg/") == {}
