"""The justdb rpmdb writer: what rpm reads back, and byte-for-byte reproducibility."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from core.errors import PackageError
from core.store import Store
from fixtures.rpms import build_rpm
from layering.rpm.headers import nevra, read_rpmdb
from layering.rpm.importer import import_rpm
from layering.rpm.rpmdb import write_rpmdb
from tests.conftest import needs_rpmbuild

pytestmark = needs_rpmbuild


@pytest.fixture
def heads(tmp_path: Path) -> list[bytes]:
    store = Store.init(tmp_path / "repo")
    return [
        import_rpm(store, build_rpm(name, files={f"/usr/share/{name}/f": name})).head
        for name in ("alpha", "beta")
    ]


def test_same_inputs_same_bytes(tmp_path: Path, heads: list[bytes]) -> None:
    write_rpmdb(tmp_path / "one", base=None, install=heads, timestamp=1_700_000_000)
    time.sleep(1.1)  # rpm would otherwise stamp INSTALLTIME with the wall clock
    write_rpmdb(tmp_path / "two", base=None, install=heads, timestamp=1_700_000_000)
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["rpmdb.sqlite"]
    assert (tmp_path / "one/rpmdb.sqlite").read_bytes() == (
        tmp_path / "two/rpmdb.sqlite"
    ).read_bytes()
    out = subprocess.run(
        ["rpm", "--dbpath", str(tmp_path / "one"), "-qa", "--qf", "%{NEVRA} %{INSTALLTIME}\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    # rpm derives INSTALLTIME from SOURCE_DATE_EPOCH (plus the element's order), not the clock
    assert sorted(out[0::2]) == ["alpha-1.0-1.x86_64", "beta-1.0-1.x86_64"]
    assert all(1_700_000_000 <= int(t) < 1_700_000_010 for t in out[1::2])


def test_erase_from_a_copy_leaves_the_base_alone(tmp_path: Path, heads: list[bytes]) -> None:
    write_rpmdb(tmp_path / "base", base=None, install=heads)
    before = (tmp_path / "base/rpmdb.sqlite").read_bytes()
    write_rpmdb(tmp_path / "new", base=tmp_path / "base", install=[], erase=["alpha-1.0-1.x86_64"])
    assert [nevra(h) for h in read_rpmdb(tmp_path / "new")] == ["beta-1.0-1.x86_64"]
    assert (tmp_path / "base/rpmdb.sqlite").read_bytes() == before
    with pytest.raises(PackageError, match="not in the base's rpmdb"):
        write_rpmdb(tmp_path / "bad", base=tmp_path / "base", install=[], erase=["nope-1-1.x86_64"])
