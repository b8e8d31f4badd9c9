"""What layering verbs print: the dry-run transaction and the change summary."""

from __future__ import annotations

from layering.engine.summary import (
    REBOOT_HINT,
    inactive_notice,
    render_changes,
    render_transaction,
)
from layering.rpm.pkgdiff import diff_packages


def test_install_summary_lists_added_packages_and_the_reboot_hint() -> None:
    text = render_changes(
        layered_before=[], layered_after=["strace-6.1-1.x86_64", "libunwind-1.6.2-1.x86_64"]
    )
    assert text == ("Added:\n  libunwind-1.6.2-1.x86_64\n  strace-6.1-1.x86_64\n" + REBOOT_HINT)


def test_uninstall_summary_lists_removed_packages() -> None:
    text = render_changes(layered_before=["strace-6.1-1.x86_64"], layered_after=[])
    assert text.splitlines()[:2] == ["Removed:", "  strace-6.1-1.x86_64"]


def test_upgrades_name_the_package_and_arch() -> None:
    text = render_changes(layered_before=["foo-1.9-1.x86_64"], layered_after=["foo-1.10-1.x86_64"])
    assert "Upgraded:\n  foo.x86_64 1.9-1 -> 1.10-1" in text


def test_dry_run_transaction_text() -> None:
    text = render_transaction(
        install=["strace-6.1-1.x86_64"],
        inactive=[("xz", "xz-5.4-1.x86_64")],
        remove=["nano-7-1.x86_64"],
    )
    assert "Packages to layer (1):\n  strace-6.1-1.x86_64" in text
    assert "Base packages to remove (1):\n  nano-7-1.x86_64" in text
    assert "xz (already provided by xz-5.4-1.x86_64)" in text
    assert REBOOT_HINT not in text


def test_rebase_summary_names_both_bases() -> None:
    text = render_changes(layered_before=[], layered_after=[], base=("a" * 64, "b" * 64))
    assert text.startswith("Base: aaaaaaaaaaaa -> bbbbbbbbbbbb")


def test_inactive_notices_use_rpm_ostree_wording() -> None:
    assert inactive_notice("xz", "xz-5.4-1.x86_64") == (
        "Package 'xz' is already provided by the base (xz-5.4-1.x86_64)"
    )
    assert "is now provided by the base" in inactive_notice("xz", "xz-5.4-1.x86_64", now=True)


def test_rebase_summary_lists_base_changes_apart_from_layered_ones() -> None:
    base_diff = diff_packages(
        ["basefiles-1.0-1.x86_64"], ["basefiles-2.0-1.x86_64", "lib-1-1.x86_64"]
    )
    text = render_changes(
        layered_before=["libhello-1.0-1.x86_64", "hello-1.0-1.x86_64"],
        layered_after=["hello-1.0-1.x86_64"],
        base=("a" * 64, "b" * 64),
        base_diff=base_diff,
    )
    assert text.splitlines() == [
        "Base: aaaaaaaaaaaa -> bbbbbbbbbbbb",
        "Base packages:",
        "  Upgraded:",
        "    basefiles.x86_64 1.0-1 -> 2.0-1",
        "  Added:",
        "    lib-1-1.x86_64",
        "Layered packages:",
        "  Removed:",
        "    libhello-1.0-1.x86_64",
        REBOOT_HINT,
    ]


def test_restored_base_packages_have_their_section() -> None:
    text = render_changes(
        layered_before=[], layered_after=[], restored_base=["tzdata-2020d-2.el7.noarch"]
    )
    assert text.splitlines() == [
        "Restored base packages:",
        "  tzdata-2020d-2.el7.noarch",
        "Run 'reboot' to start using it.",
    ]
