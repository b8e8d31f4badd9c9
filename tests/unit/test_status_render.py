"""``status --json`` is a contract: the exact fields and types of the CLI reference."""

from __future__ import annotations

import json
import os
from pathlib import Path

from core.sysroot.deployment import Deployment
from core.sysroot.origin import Origin
from layering.cli.status import deployment_status, lock_holder, to_json, to_text
from layering.engine.plan import LayerInfo

BASE = "b" * 64
LAYERED = "c" * 64
LOCAL = "d" * 64

CONTRACT_KEYS = [
    "id",
    "osname",
    "checksum",
    "serial",
    "base-checksum",
    "origin",
    "booted",
    "staged",
    "pinned",
    "requested-packages",
    "requested-local-packages",
    "packages",
    "layered-packages",
    "requested-base-removals",
    "requested-base-local-replacements",
    "version",
    "timestamp",
]


def _layered() -> Deployment:
    origin = Origin(
        refspec="os/x86_64/base",
        layered=True,
        requested=("strace", "xz"),
        requested_local=(f"{LOCAL}:foo-1.0-1.noarch",),
        override_remove=("nano",),
    )
    return Deployment("os", LAYERED, 0, 0, True, False, False, origin, Path("/nonexistent"))


def _meta() -> dict[str, str]:
    return LayerInfo(
        base_checksum=BASE,
        requested=("strace", "xz"),
        inactive=("xz",),
        layered=("strace-6.1-1.x86_64", "libunwind-1.6.2-1.x86_64", "foo-1.0-1.noarch"),
        version="38.1",
    ).to_metadata()


def test_json_has_exactly_the_contract_fields() -> None:
    rec = deployment_status(_layered(), _meta(), 1700000000)
    obj = to_json([rec])
    assert list(obj) == ["deployments"]
    dep = obj["deployments"][0]
    assert list(dep) == CONTRACT_KEYS
    assert dep == {
        "id": f"os-{LAYERED}.0",
        "osname": "os",
        "checksum": LAYERED,
        "serial": 0,
        "base-checksum": BASE,
        "origin": "os/x86_64/base",
        "booted": False,
        "staged": True,
        "pinned": False,
        "requested-packages": ["strace", "xz"],
        "requested-local-packages": ["foo-1.0-1.noarch"],
        "packages": ["strace"],
        "layered-packages": [
            "foo-1.0-1.noarch",
            "libunwind-1.6.2-1.x86_64",
            "strace-6.1-1.x86_64",
        ],
        "requested-base-removals": ["nano"],
        "requested-base-local-replacements": [],
        "version": "38.1",
        "timestamp": 1700000000,
    }
    json.dumps(obj)  # serializable as is


def test_unlayered_deployment_has_null_base_checksum() -> None:
    dep = Deployment("os", BASE, 1, 1, False, True, True, Origin("os/base", False), Path("/x"))
    rec = deployment_status(dep, {"version": "38"}, 5)
    out = rec.to_json()
    assert out["base-checksum"] is None
    assert out["layered-packages"] == [] and out["packages"] == []
    assert out["booted"] and out["pinned"] and not out["staged"]


def test_text_marks_the_booted_deployment_and_lists_layered_packages() -> None:
    booted = Deployment("os", BASE, 1, 1, False, True, False, Origin("os/base", False), Path("/x"))
    recs = [
        deployment_status(_layered(), _meta(), 0),
        deployment_status(booted, {"version": "38"}, 0),
    ]
    text = to_text(recs)
    lines = text.splitlines()
    assert lines[:3] == ["State: idle", "Deployments:", "  os:os/x86_64/base"]
    assert "● os:os/base" in lines
    assert any(line.strip() == f"BaseCommit: {BASE}" for line in lines)
    assert any(line.strip() == f"Commit: {LAYERED}" for line in lines)
    assert any(line.strip() == "LayeredPackages: strace" for line in lines)
    assert any(line.strip() == "InactiveRequests: xz" for line in lines)
    assert any(line.strip() == "Staged: yes" for line in lines)
    assert any(line.strip() == "Version: 38.1 (1970-01-01T00:00:00Z)" for line in lines)


def test_busy_state_names_the_lock_holder(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    lock.write_text("")
    st = lock.stat()
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    table = tmp_path / "locks"
    table.write_text(
        "1: POSIX  ADVISORY  WRITE 99 00:01:1 0 EOF\n"
        f"2: FLOCK  ADVISORY  WRITE 4242 {device} 0 EOF\n"
    )
    assert lock_holder(lock, table) == 4242
    table.write_text("1: FLOCK  ADVISORY  WRITE 4242 00:01:1 0 EOF\n")
    assert lock_holder(lock, table) is None
    assert to_text([], busy_pid=4242).startswith("State: busy (pid 4242 holds the sysroot lock)")
    assert to_text([]).startswith("State: idle")
