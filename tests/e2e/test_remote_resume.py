"""Pulls under stress, against a real nginx: killed with SIGKILL at several points and
resumed, and fifty clients at once. nginx's access log counts what each fetched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from core.remote import pipeline
from core.remote.pull import CONNECTIONS
from core.store import Store, repoconfig, signing
from fixtures.servers import have_nginx, nginx
from tests.e2e.remote_support import REF, ROOT, client, ok, publish

pytestmark = pytest.mark.skipif(not have_nginx(), reason="nginx is not installed")


def _pull_cmd(repo: Path) -> list[str]:
    return [sys.executable, "-m", "layering.cli", "pull", "--repo", str(repo), f"server:{REF}"]


def _object_requests(paths: list[str]) -> list[str]:
    """Requests for objects proper: not the summary, nor the signatures re-read each pull."""
    return [p for p in paths if "/objects/" in p and not p.endswith(".commitmeta")]


def _client_in_process(path: Path, url: str, keys: tuple[str, ...]) -> Path:
    """What `repo init` + `remote add` do, without two interpreter start-ups per client."""
    Store.init(path)
    repoconfig.add_remote(path, repoconfig.Remote("server", url, True, keys))
    return path


def test_a_pull_killed_at_any_point_resumes_without_refetching(tmp_path: Path) -> None:
    server = publish(tmp_path / "server", files=700)
    kills = (3, 60, 250, 500)  # objects the server has handed out when the pull dies
    with nginx(server.archive, tmp_path / "nginx") as web:
        repo = client(tmp_path / "client", "server", web.url, server.public)
        killed = 0
        for after in kills:
            proc = subprocess.Popen(
                _pull_cmd(repo), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            deadline = time.monotonic() + 60
            while proc.poll() is None and time.monotonic() < deadline:
                if len(_object_requests([e.path for e in web.log()])) >= after:
                    os.kill(proc.pid, signal.SIGKILL)
                    killed += 1
                    break
                time.sleep(0.002)
            proc.wait()
            # never a ref to an incomplete commit, and what is stored is sound
            assert ok("refs", "--repo", str(repo)) == "" or proc.returncode == 0
            assert ok("fsck", "--repo", str(repo)) == ""
        assert killed >= 2, "the pull finished before it could be killed"
        out = ok("pull", "--repo", str(repo), f"server:{REF}")
        log = web.log()
    assert out.split() == [f"server:{REF}", server.commit]
    assert ok("fsck", "--repo", str(repo)) == ""
    assert ok("ls", "--repo", str(repo), "-R", f"server:{REF}") == ok(
        "ls", "--repo", str(server.bare), "-R", REF
    )
    fetched = Counter(_object_requests([e.path for e in log if e.status == 200]))
    again = {path: n - 1 for path, n in fetched.items() if n > 1}
    # each kill loses at most the objects in flight: a window of requests per connection
    in_flight = CONNECTIONS * pipeline.DEPTH
    assert sum(again.values()) <= in_flight * killed, again
    sizes = {e.path: e.bytes_sent for e in log}
    refetched_bytes = sum(sizes[p] * n for p, n in again.items())
    largest = sorted(sizes[p] for p in fetched)[-in_flight * killed :]
    assert refetched_bytes <= sum(largest)


def test_fifty_clients_pull_from_one_nginx_at_once(tmp_path: Path) -> None:
    server = publish(tmp_path / "server", files=30)
    clients = 50
    with nginx(server.archive, tmp_path / "nginx") as web:
        alone = client(tmp_path / "alone", "server", web.url, server.public)
        ok("pull", "--repo", str(alone), f"server:{REF}")
        keys = signing.load_public_keys(server.public)
        one_pull = len(_object_requests([e.path for e in web.log()]))
        web.clear_log()
        repos = [_client_in_process(tmp_path / f"c{i}", web.url, keys) for i in range(clients)]
        procs = [
            subprocess.Popen(
                _pull_cmd(repo), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for repo in repos
        ]
        results = [proc.communicate(timeout=300) for proc in procs]
        log = web.log()
    failed = [
        err.decode() for proc, (_, err) in zip(procs, results, strict=True) if proc.returncode
    ]
    assert failed == []
    for repo in repos:
        store = Store.open(repo)
        assert store.resolve(f"server:{REF}") == server.commit
        assert store.fsck() == []
    assert {e.status for e in log} == {200}
    # no retries, no duplicates: each client fetched each object exactly once
    assert len(_object_requests([e.path for e in log])) == clients * one_pull
