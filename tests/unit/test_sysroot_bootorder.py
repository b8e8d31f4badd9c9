"""Retention, rollback and cleanup selection as pure rules over deployment lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import SysrootError
from core.sysroot.bootorder import pending_and_rollback, retained, rollback_order
from core.sysroot.deployment import Deployment, DeploymentKey
from core.sysroot.origin import Origin


def dep(
    name: str,
    index: int,
    *,
    os: str = "os",
    booted: bool = False,
    staged: bool = False,
    pinned: bool = False,
) -> Deployment:
    return Deployment(os, name * 8, 0, index, staged, booted, pinned, Origin("r", False), Path("/"))


def names(keys: list[DeploymentKey]) -> list[str]:
    return [k.checksum[0] + ("" if k.osname == "os" else "@" + k.osname) for k in keys]


NEW = DeploymentKey("os", "n" * 8, 0)


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        ([], ["n"]),
        # Nothing booted: the old default becomes the rollback, older ones go.
        ([dep("a", 0), dep("b", 1)], ["n", "a"]),
        # Booted first: it stays, and so does its rollback; a third is dropped.
        ([dep("b", 0, booted=True), dep("r", 1), dep("x", 2)], ["n", "b", "r"]),
        # A pending deployment before the booted one is replaced.
        ([dep("p", 0), dep("b", 1, booted=True), dep("r", 2)], ["n", "p", "b", "r"]),
        # Pinned ones always stay; other stateroots are not touched.
        (
            [dep("a", 0), dep("b", 1), dep("c", 2, pinned=True), dep("z", 3, os="other")],
            ["n", "a", "c", "z@other"],
        ),
        # A staged deployment is replaced by the new one.
        ([dep("s", 0, staged=True), dep("b", 1, booted=True)], ["n", "b"]),
    ],
)
def test_retention(current: list[Deployment], expected: list[str]) -> None:
    assert names(retained(NEW, current)) == expected


def test_pending_before_booted_is_kept_only_as_merge_source() -> None:
    # p is the merge deployment (first of the stateroot), so rpm-ostree keeps it.
    current = [dep("p", 0), dep("q", 1), dep("b", 2, booted=True)]
    assert names(retained(NEW, current)) == ["n", "p", "b"]


def test_rollback_swaps_first_two_when_booted_is_default() -> None:
    current = [dep("b", 0, booted=True), dep("r", 1), dep("z", 2, os="other")]
    assert names(rollback_order(current, "os")) == ["r", "b", "z@other"]


def test_rollback_with_pending_goes_back_to_booted() -> None:
    current = [dep("p", 0), dep("b", 1, booted=True)]
    assert names(rollback_order(current, "os")) == ["b", "p"]


def test_rollback_without_anything_booted_swaps_first_two() -> None:
    assert names(rollback_order([dep("a", 0), dep("b", 1)], "os")) == ["b", "a"]


def test_rollback_needs_two_deployments() -> None:
    with pytest.raises(SysrootError, match="No rollback deployment"):
        rollback_order([dep("a", 0, booted=True)], "os")


def test_pending_and_rollback_selection_skips_pinned() -> None:
    current = [
        dep("s", 0, staged=True),
        dep("p", 1),
        dep("b", 2, booted=True),
        dep("r", 3),
        dep("k", 4, pinned=True),
    ]
    pending, rollback = pending_and_rollback(current, "os")
    assert [d.checksum[0] for d in pending] == ["s", "p"]
    assert [d.checksum[0] for d in rollback] == ["r"]
