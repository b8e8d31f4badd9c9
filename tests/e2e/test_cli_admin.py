"""``strata admin`` end to end: the CLI on a temporary sysroot, as an administrator uses it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.store import Store

ROOT = Path(__file__).resolve().parents[2]


def strata(*args: str, sysroot: Path | None = None) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "layering.cli"]
    if sysroot is not None:
        argv += ["--sysroot", str(sysroot)]
    return subprocess.run(
        [*argv, *args], cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )


def ok(*args: str, sysroot: Path | None = None) -> str:
    result = strata(*args, sysroot=sysroot)
    assert result.returncode == 0, result.stderr
    return result.stdout


def commit(sysroot: Path, files: dict[str, str], branch: str, version: str) -> str:
    src = sysroot.parent / f"tree-{branch.replace('/', '-')}-{version}"
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    store = Store.open(sysroot / "ostree" / "repo")
    return store.commit_dir(src, branch=branch, metadata={"version": version})


def status(sysroot: Path) -> list[dict[str, Any]]:
    deployments: list[dict[str, Any]] = json.loads(
        ok("admin", "status", "--json", sysroot=sysroot)
    )["deployments"]
    return deployments


TREE = {
    "usr/etc/hostname": "base\n",
    "usr/etc/motd": "v1\n",
    "usr/lib/tmpfiles.d/app.conf": "d /var/lib/app 0700 - - -\n",
}


@pytest.fixture
def sysroot(tmp_path: Path) -> Path:
    path = tmp_path / "sysroot"
    ok("admin", "init-fs", str(path))
    ok("admin", "os-init", "testos", sysroot=path)
    return path


def test_the_sysroot_lifecycle(sysroot: Path) -> None:
    v1 = commit(sysroot, TREE, "testos/base", "1")
    assert "(the new default)" in ok("admin", "deploy", "testos/base", sysroot=sysroot)
    assert "Booted testos-" in ok("admin", "simulate-reboot", sysroot=sysroot)
    (first,) = status(sysroot)
    assert (first["checksum"], first["booted"], first["staged"]) == (v1, True, False)
    assert first["origin"] == "testos/base" and first["version"] == "1"
    assert (sysroot / "ostree/deploy/testos/var/lib/app").is_dir()

    # The admin edits /etc; config-diff shows it.
    booted_etc = Path(first["path"]) / "etc"
    (booted_etc / "hostname").write_text("edited\n")
    assert ok("admin", "config-diff", sysroot=sysroot).splitlines() == ["M    hostname"]

    # A new deployment is staged while something is booted.
    v2 = commit(sysroot, {**TREE, "usr/etc/motd": "v2\n"}, "testos/base", "2")
    assert "staged" in ok("admin", "deploy", "testos/base", sysroot=sysroot)
    listing = status(sysroot)
    assert [(d["checksum"], d["staged"], d["booted"]) for d in listing] == [
        (v2, True, False),
        (v1, False, True),
    ]
    text = ok("admin", "status", sysroot=sysroot)
    assert f"  testos {v2}.0 (staged)" in text
    assert f"* testos {v1}.0" in text

    ok("admin", "finalize-staged", sysroot=sysroot)
    ok("admin", "simulate-reboot", sysroot=sysroot)
    listing = status(sysroot)
    assert [(d["checksum"], d["booted"]) for d in listing] == [(v2, True), (v1, False)]
    new_etc = Path(listing[0]["path"]) / "etc"
    assert (new_etc / "hostname").read_text() == "edited\n"
    assert (new_etc / "motd").read_text() == "v2\n"
    assert "(rollback)" in ok("admin", "status", sysroot=sysroot)

    # Pin the rollback, undeploy refuses the booted one, then removes the rollback.
    ok("admin", "pin", "1", sysroot=sysroot)
    assert status(sysroot)[1]["pinned"]
    assert "Pinned: yes" in ok("admin", "status", sysroot=sysroot)
    ok("admin", "pin", "--unpin", "1", sysroot=sysroot)
    assert not status(sysroot)[1]["pinned"]
    refused = strata("admin", "undeploy", "0", sysroot=sysroot)
    assert refused.returncode == 1 and "booted" in refused.stderr
    ok("admin", "undeploy", "1", sysroot=sysroot)
    assert [d["checksum"] for d in status(sysroot)] == [v2]
    assert ok("admin", "cleanup", "--rollback", sysroot=sysroot) == "", "nothing to remove"
    assert [d["checksum"] for d in status(sysroot)] == [v2]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("admin", "deploy", "no/such/ref"), "no/such/ref"),
        (("admin", "undeploy", "3"), "No deployment with index 3"),
        (("admin", "pin", "7"), "No deployment with index 7"),
        (("--os", "nope", "admin", "deploy", "testos/base"), "Unknown stateroot 'nope'"),
        (("admin", "config-diff"), "Nothing is deployed"),
    ],
)
def test_bad_input_exits_1_and_changes_nothing(
    sysroot: Path, args: tuple[str, ...], message: str
) -> None:
    commit(sysroot, TREE, "testos/base", "1")
    before = sorted(
        str(p.relative_to(sysroot)) for p in sysroot.rglob("*") if "repo" not in p.parts
    )
    result = strata(*args, sysroot=sysroot)
    assert result.returncode == 1
    assert message in result.stderr
    after = sorted(str(p.relative_to(sysroot)) for p in sysroot.rglob("*") if "repo" not in p.parts)
    assert after == before


def test_missing_sysroot_names_init_fs(tmp_path: Path) -> None:
    result = strata("admin", "status", sysroot=tmp_path / "nowhere")
    assert result.returncode == 1
    assert "strata admin init-fs" in result.stderr


def test_usage_errors_exit_2(sysroot: Path) -> None:
    assert strata("admin", sysroot=sysroot).returncode == 2
    assert strata("admin", "undeploy", "x", sysroot=sysroot).returncode == 2


def test_a_held_lock_fails_at_once_naming_the_holder(sysroot: Path) -> None:
    commit(sysroot, TREE, "testos/base", "1")
    code = (
        "import sys, time; from pathlib import Path; from core.sysroot.lock import sysroot_lock\n"
        "with sysroot_lock(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(30)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(sysroot / "ostree" / "lock")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = strata("admin", "deploy", "testos/base", sysroot=sysroot)
        assert result.returncode == 1
        assert f"locked by process {holder.pid}" in result.stderr
        assert status(sysroot) == []  # read-only commands do not take the lock
    finally:
        holder.kill()
        holder.wait()
    assert os.path.exists(sysroot / "ostree" / "lock")
    ok("admin", "deploy", "testos/base", sysroot=sysroot)
