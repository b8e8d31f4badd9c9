"""make_repo writes rpm-md metadata readers accept, in each compression; serve_http serves it."""

from __future__ import annotations

import gzip
import re
import urllib.request
from pathlib import Path

import pytest
import solv

from fixtures.repos import make_repo, serve_http, write_repo_file
from fixtures.rpms import FileSpec, build_rpm
from tests.conftest import needs_rpmbuild

pytestmark = needs_rpmbuild

EXTENSION = {"gz": ".gz", "xz": ".xz", "zstd": ".zst", "bz2": ".bz2"}


def _rpms() -> list[Path]:
    return [
        build_rpm("fx-repo-a", files={"/usr/share/fx-repo-a/file": "a"}, requires=["fx-repo-b"]),
        build_rpm("fx-repo-b", arch="noarch", provides=["fx-cap"]),
    ]


def _href(repodata: Path, kind: str) -> Path:
    repomd = (repodata / "repomd.xml").read_text()
    href = re.search(rf'<data type="{kind}">.*?<location href="repodata/([^"]+)"', repomd, re.S)
    assert href is not None, f"repomd.xml lists no {kind}"
    return repodata / href.group(1)


def _solvables(repodata: Path) -> list[str]:
    """NEVRAs libsolv reads from the primary metadata (the pool must outlive the iteration)."""
    pool = solv.Pool()
    pool.setdisttype(solv.Pool.DISTTYPE_RPM)
    pool.setarch("x86_64")
    repo = pool.add_repo("fx")
    repo.add_rpmmd(solv.xfopen(str(_href(repodata, "primary"))), None)
    return sorted(str(s) for s in repo.solvables)


@pytest.mark.parametrize("compression", ["gz", "xz", "zstd"])
def test_repo_readable_in_each_compression(compression: str, tmp_path: Path) -> None:
    repo_dir = make_repo(tmp_path / "repo", _rpms(), compression=compression)
    repomd = (repo_dir / "repodata" / "repomd.xml").read_text()
    for kind in ("primary", "filelists", "other"):
        href = re.search(rf'<data type="{kind}">.*?<location href="([^"]+)"', repomd, re.S)
        assert href is not None
        assert href.group(1).endswith(f"{kind}.xml{EXTENSION[compression]}")
        assert (repo_dir / href.group(1)).is_file()
    assert _solvables(repo_dir / "repodata") == [
        "fx-repo-a-1.0-1.x86_64",
        "fx-repo-b-1.0-1.noarch",
    ]
    assert sorted(p.name for p in repo_dir.glob("*.rpm")) == [
        "fx-repo-a-1.0-1.x86_64.rpm",
        "fx-repo-b-1.0-1.noarch.rpm",
    ]


def test_filelists_name_every_file(tmp_path: Path) -> None:
    repo_dir = make_repo(tmp_path / "repo", _rpms())
    text = gzip.decompress(_href(repo_dir / "repodata", "filelists").read_bytes()).decode()
    assert "<file>/usr/share/fx-repo-a/file</file>" in text


def test_serve_http_serves_the_repo(tmp_path: Path) -> None:
    repo_dir = make_repo(tmp_path / "repo", _rpms(), compression="xz")
    with serve_http(repo_dir) as url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", url)
        body = urllib.request.urlopen(url + "repodata/repomd.xml", timeout=10).read()
        assert body == (repo_dir / "repodata" / "repomd.xml").read_bytes()
        rpm = urllib.request.urlopen(url + "fx-repo-b-1.0-1.noarch.rpm", timeout=10).read()
        assert rpm[:4] == b"\xed\xab\xee\xdb"  # RPM lead magic
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "repodata/repomd.xml", timeout=2)


def test_write_repo_file_sections(tmp_path: Path) -> None:
    path = tmp_path / "yum.repos.d" / "fx.repo"
    write_repo_file(path, "one", "http://127.0.0.1:1/", gpgcheck=True, gpgkey="file:///k")
    write_repo_file(path, "two", "file:///srv/two", enabled=False)
    text = path.read_text()
    assert (
        "[one]\nname=one\nbaseurl=http://127.0.0.1:1/\nenabled=1\ngpgcheck=1\ngpgkey=file:///k\n"
        in text
    )
    assert "[two]\nname=two\nbaseurl=file:///srv/two\nenabled=0\ngpgcheck=0\n" in text


def test_unknown_compression_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="compression"):
        make_repo(tmp_path / "repo", [], compression="lz4")
    assert not (tmp_path / "repo").exists()


def test_remake_picks_up_new_packages(tmp_path: Path) -> None:
    repo_dir = make_repo(tmp_path / "repo", _rpms()[:1], compression="zstd")
    make_repo(
        repo_dir, [build_rpm("fx-repo-c", files={"/c": FileSpec(content="c")})], compression="zstd"
    )
    assert _solvables(repo_dir / "repodata") == [
        "fx-repo-a-1.0-1.x86_64",
        "fx-repo-c-1.0-1.x86_64",
    ]
