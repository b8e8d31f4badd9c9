"""The fixture factory's realistic base: real glibc Lua %pre, real ldconfig, real icon cache."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from triggers_support import install_payload, read_rpm_header

from core.progress import QuietProgress
from fixtures.realistic import base_packages, extra_packages, strace_packages
from tests.conftest import needs_bwrap, needs_rpmbuild
from triggers import Mutability, Sandbox, plan_scripts, run_scripts

pytestmark = [needs_bwrap, needs_rpmbuild]


def headers(rpms: list[Path]) -> list[object]:
    return [read_rpm_header(p) for p in rpms]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A composed base: every base package unpacked, then all their scripts run (compose)."""
    top = tmp_path_factory.mktemp("triggers-realistic")
    payload = install_payload(base_packages(), top / "payload")
    composed = top / "composed"
    composed.mkdir()
    plan = plan_scripts(headers(base_packages()), [], compose=True)
    assert "glibc:%pre" in [s.label for s in plan.scripts]  # the C library's Lua %pre
    run_scripts(plan, lowers=[payload], upper=composed, progress=QuietProgress(), timeout=120)
    return [composed, payload]


def layer(rpms: list[Path], base: list[Path], tmp_path: Path) -> list[Path]:
    delta = install_payload(rpms, tmp_path / "delta")
    upper = tmp_path / "upper"
    upper.mkdir()
    plan = plan_scripts(headers(rpms), headers(base_packages()))
    run_scripts(plan, lowers=[delta, *base], upper=upper, progress=QuietProgress(), timeout=120)
    return [upper, delta, *base]


def test_composing_the_base_ran_glibc_lua_pre_and_ldconfig(base: list[Path]) -> None:
    composed = base[0]
    assert (composed / "usr/etc/ld.so.cache").is_file()


def test_layered_strace_runs_only_after_the_ldconfig_trigger(
    base: list[Path], tmp_path: Path
) -> None:
    tree = layer(strace_packages(), base, tmp_path)
    cache = tree[0] / "usr/etc/ld.so.cache"
    listing = subprocess.run(
        ["ldconfig", "-p", "-C", str(cache)], capture_output=True, text=True, check=True
    ).stdout
    assert "libunwind" in listing and "/usr/lib64/" in listing
    with Sandbox(tree, mutability=Mutability.IMMUTABLE) as sandbox:
        result = sandbox.run(["/usr/bin/strace", "-V"])
    assert result.returncode == 0, result.output
    assert "strace -- version" in result.output


def test_layered_icon_lands_in_the_regenerated_icon_cache(base: list[Path], tmp_path: Path) -> None:
    tree = layer(extra_packages(), base, tmp_path)
    cache = tree[0] / "usr/share/icons/hicolor/icon-theme.cache"
    assert b"strata-demo" in cache.read_bytes()
