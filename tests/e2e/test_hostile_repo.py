"""A hostile mirror: metadata whose package name is a path, names another package, or
states a size smaller than the file it then sends.

The repository uses sha1 checksums (so no SHA-256 names the download). No case may
write a file outside the cache, keep the download, or show the name in
``status --json``; each exits 1 naming the problem, with nothing changed.
"""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e.reliability_support import Box, Kind, layer_rpms, leftovers, snapshot, template
from tests.e2e.test_bad_input import repo_file

pytestmark = [needs_bwrap, needs_rpmbuild]


def hostile_repo(tmp: Path, name: str, size: int | None = None) -> Path:
    """The tool package in a sha1 repo whose primary.xml calls it ``name`` (and states
    ``size`` bytes for its .rpm when given)."""
    repo = tmp / "hostile-repo"
    repo.mkdir()
    shutil.copy(layer_rpms()["tool"], repo)
    subprocess.run(
        ["createrepo_c", "--checksum", "sha1", "--simple-md-filenames", "--no-database",
         str(repo)],
        check=True, capture_output=True,
    )  # fmt: skip
    primary = repo / "repodata" / "primary.xml.gz"
    text = gzip.decompress(primary.read_bytes())
    text = text.replace(b"<name>tool</name>", f"<name>{name}</name>".encode())
    if size is not None:
        text = re.sub(rb'<size package="\d+"', f'<size package="{size}"'.encode(), text)
    packed = gzip.compress(text, mtime=0)
    primary.write_bytes(packed)
    repomd = repo / "repodata" / "repomd.xml"
    xml = repomd.read_text()
    block = re.search(r'<data type="primary">.*?</data>', xml, re.S)
    assert block is not None
    new = re.sub(
        r'(<checksum type="sha1">)\w+', rf"\g<1>{hashlib.sha1(packed).hexdigest()}", block[0]
    )
    new = re.sub(
        r'(<open-checksum type="sha1">)\w+', rf"\g<1>{hashlib.sha1(text).hexdigest()}", new
    )
    new = re.sub(r"<size>\d+</size>", f"<size>{len(packed)}</size>", new)
    new = re.sub(r"<open-size>\d+</open-size>", f"<open-size>{len(text)}</open-size>", new)
    repomd.write_text(xml.replace(block[0], new))
    return repo


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("../../../../{outside}/PWNED", "whose name is '../../../../"),
        ("toolx", "is not the package the metadata of repo 'layer' describes"),
        ("tool", "more than the 100 bytes its metadata states"),
    ],
    ids=["path-as-name", "another-package", "larger-than-stated"],
)
def test_metadata_cannot_choose_a_path_or_a_package(
    name: str, says: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    name = name.replace("{outside}", str(outside).lstrip("/"))
    box = Box.copy_of(template(tmp_path_factory.getbasetemp(), Kind.BASE), tmp_path / "box")
    repo = hostile_repo(tmp_path, name, size=100 if name == "tool" else None)
    repo_file(lambda box, tmp: repo.as_uri())(box, tmp_path)
    before = snapshot(box)
    result = box.strata("install", "tool", expect=None)
    assert result.returncode == 1, result.stderr
    assert says in result.stderr, result.stderr
    assert "hint:" in result.stderr and "Traceback" not in result.stderr
    assert list(outside.iterdir()) == []
    assert snapshot(box) == before
    assert name not in box.strata("status", "--json").stdout
    assert not [p for p in box.repo.rglob("*.rpm") if "cache" in p.parts]
    assert leftovers(box) == []
