"""db diff: added / removed / upgraded / downgraded, compared as rpm compares EVRs."""

from __future__ import annotations

from layering.cli.db import diff_packages, render_diff
from layering.rpm.headers import PackageInfo


def pkg(name: str, version: str, release: str = "1", epoch: int | None = None) -> PackageInfo:
    e = f"{epoch}:" if epoch else ""
    return PackageInfo(
        name, epoch, version, release, "x86_64", f"{name}-{e}{version}-{release}.x86_64"
    )


def test_diff_kinds() -> None:
    a = [pkg("bash", "5.2"), pkg("old", "1"), pkg("vim", "9.0", "2"), pkg("same", "1")]
    b = [pkg("bash", "5.10"), pkg("new", "1"), pkg("vim", "9.0", "1"), pkg("same", "1")]
    diff = diff_packages(a, b)
    assert [(o.nevra, n.nevra) for o, n in diff.upgraded] == [
        ("bash-5.2-1.x86_64", "bash-5.10-1.x86_64")  # 5.10 > 5.2 as rpm sees it
    ]
    assert [(o.nevra, n.nevra) for o, n in diff.downgraded] == [
        ("vim-9.0-2.x86_64", "vim-9.0-1.x86_64")
    ]
    assert [p.nevra for p in diff.added] == ["new-1-1.x86_64"]
    assert [p.nevra for p in diff.removed] == ["old-1-1.x86_64"]
    assert render_diff(diff).splitlines() == [
        "Upgraded:",
        "  bash 5.2-1 -> 5.10-1",
        "Downgraded:",
        "  vim 9.0-2 -> 9.0-1",
        "Removed:",
        "  old-1-1.x86_64",
        "Added:",
        "  new-1-1.x86_64",
    ]


def test_epoch_wins_over_version() -> None:
    diff = diff_packages([pkg("x", "9")], [pkg("x", "1", epoch=1)])
    assert len(diff.upgraded) == 1
    assert render_diff(diff).splitlines()[1] == "  x 9-1 -> 1:1-1"


def test_several_installed_versions_compare_one_by_one() -> None:
    a = [pkg("kernel", "6.1"), pkg("kernel", "6.2")]
    b = [pkg("kernel", "6.2"), pkg("kernel", "6.3"), pkg("kernel", "6.4")]
    diff = diff_packages(a, b)
    assert [p.nevra for p in diff.removed] == ["kernel-6.1-1.x86_64"]
    assert [p.nevra for p in diff.added] == ["kernel-6.3-1.x86_64", "kernel-6.4-1.x86_64"]


def test_no_changes() -> None:
    same = [pkg("a", "1")]
    assert diff_packages(same, same).empty
    assert render_diff(diff_packages(same, same)) == "No package changes."
