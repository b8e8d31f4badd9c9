"""A real server that trickles one byte at a time: downloads give up as dnf's would.

The .repo's ``timeout=`` and ``minrate=`` are set small so each case takes about
a second, never the 30 s default.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import solv

from core.errors import ConfigError, FetchError
from fixtures.repos import serve_slowly
from solver import read_repo_files
from solver.fetch import fetch, read_url
from solver.repomd import RepoLoader
from solver.types import Speed


def test_a_trickling_server_is_abandoned_after_timeout_below_minrate(tmp_path: Path) -> None:
    with serve_slowly(interval=0.2) as url:
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            fetch(url + "pkg.rpm", tmp_path / "pkg.rpm", speed=Speed(timeout=1, minrate=100))
        took = time.monotonic() - started
    assert 1 <= took < 5
    message = str(caught.value)
    assert f"cannot fetch {url}pkg.rpm: slower than minrate=100 bytes/s over timeout=1 s" in message
    assert "minrate=" in caught.value.hint and "timeout=" in caught.value.hint  # type: ignore[operator]
    assert list(tmp_path.iterdir()) == []


def test_a_server_that_falls_silent_times_out_on_the_read(tmp_path: Path) -> None:
    with serve_slowly(interval=60) as url:
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            read_url(url + "repodata/repomd.xml", speed=Speed(timeout=0.5, minrate=0))
        assert time.monotonic() - started < 5
    assert "timed out" in str(caught.value)
    assert "timeout=" in (caught.value.hint or "")


def test_the_deadline_ends_a_download_that_keeps_just_above_minrate(tmp_path: Path) -> None:
    with serve_slowly(interval=0.05) as url:
        started = time.monotonic()
        with pytest.raises(FetchError) as caught:
            fetch(url + "big.rpm", tmp_path / "big.rpm", speed=Speed(1, minrate=1, deadline=1.5))
        assert 1.5 <= time.monotonic() - started < 5
    assert "not done after 1.5 s (STRATA_FETCH_DEADLINE)" in str(caught.value)


def test_repo_timeout_and_minrate_reach_the_metadata_download(tmp_path: Path) -> None:
    with serve_slowly(interval=0.2) as url:
        (tmp_path / "slow.repo").write_text(f"[slow]\nbaseurl={url}\ntimeout=1\nminrate=2k\n")
        (repo,) = read_repo_files(tmp_path, {})
        assert (repo.speed.timeout, repo.speed.minrate) == (1.0, 2048)
        loader = RepoLoader(solv.Pool(), cache_dir=None, workdir=tmp_path / "work")
        with pytest.raises(FetchError) as caught:
            loader.load(repo)
    assert "repo 'slow' is unavailable" in str(caught.value)
    assert "slower than minrate=2048 bytes/s over timeout=1 s" in str(caught.value)
    assert "raise timeout=" in (caught.value.hint or "")


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("timeout=abc", "timeout='abc' is not seconds"),
        ("timeout=-1", "timeout='-1' is not seconds"),
        ("timeout=0", "must be more than 0 seconds"),
        ("timeout=inf", "timeout='inf' is not seconds"),
        ("timeout=nan", "timeout='nan' is not seconds"),
        ("minrate=1x", "minrate='1x' is not bytes/s"),
        ("minrate=-5", "minrate='-5' is not bytes/s"),
    ],
)
def test_malformed_speed_settings_name_the_file_and_line(
    tmp_path: Path, line: str, needle: str
) -> None:
    (tmp_path / "r.repo").write_text(f"[r]\nbaseurl=file:///x\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        read_repo_files(tmp_path, {})
    assert needle in str(caught.value)
    assert f"{tmp_path / 'r.repo'}:3" in str(caught.value)


def test_an_endless_metadata_answer_is_cut_at_the_limit(tmp_path: Path) -> None:
    with serve_slowly(interval=0) as url, pytest.raises(FetchError) as caught:
        read_url(url + "repodata/repomd.xml", limit=64 << 10)
    assert f"cannot fetch {url}repodata/repomd.xml: more than" in str(caught.value)
