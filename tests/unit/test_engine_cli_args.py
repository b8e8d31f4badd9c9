"""The layering verbs parse as the CLI contract writes them."""

from __future__ import annotations

import pytest

from layering.cli import build_parser


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["install", "strace", "--dry-run", "--idempotent"],
            {"packages": ["strace"], "dry_run": True, "idempotent": True},
        ),
        (
            [
                "install",
                "a.rpm",
                "--allow-inactive",
                "--cache-only",
                "--download-only",
                "--unchanged-exit-77",
            ],
            {
                "allow_inactive": True,
                "cache_only": True,
                "download_only": True,
                "unchanged_exit_77": True,
            },
        ),
        (["uninstall", "--all"], {"all": True, "packages": []}),
        (["rebase", "os/x86_64/v2", "--dry-run"], {"ref": "os/x86_64/v2", "dry_run": True}),
        (["upgrade", "--check"], {"check": True}),
        (["upgrade", "--download-only"], {"download_only": True}),
        (["override", "remove", "nano"], {"packages": ["nano"]}),
        (["override", "reset", "--all"], {"all": True}),
        (["status", "--json", "--verbose"], {"json": True, "verbose": True}),
        (
            ["cleanup", "--base", "--pending", "--rollback", "--repomd"],
            {"base": True, "pending": True, "rollback": True, "repomd": True},
        ),
    ],
)
def test_verbs_and_flags_parse(argv: list[str], expected: dict[str, object]) -> None:
    args = vars(build_parser().parse_args(argv))
    assert callable(args["func"])
    for key, value in expected.items():
        assert args[key] == value, key


def test_global_options_are_accepted_after_the_verb() -> None:
    args = build_parser().parse_args(["install", "--sysroot", "/srv/root", "--os", "x", "a"])
    assert str(args.sysroot) == "/srv/root" and args.osname == "x"


def test_install_needs_a_package() -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["install"])


def test_repo_options_keep_command_line_order_and_split_lists() -> None:
    args = build_parser().parse_args(
        [
            "upgrade",
            "--disablerepo",
            "*",
            "--enablerepo",
            "fedora,updates-*",
            "--releasever",
            "41",
            "--install",
            "a",
            "--uninstall",
            "b",
            "--preview",
        ]
    )
    assert args.repo_toggles == [
        ("disable", "*"),
        ("enable", "fedora"),
        ("enable", "updates-*"),
    ]
    assert (args.releasever, args.install, args.uninstall) == ("41", ["a"], ["b"])
    assert args.preview


@pytest.mark.parametrize(
    "argv",
    [
        ["install", "x", "--releasever", ""],
        ["install", "x", "--releasever", "../9"],
        ["install", "x", "--enablerepo", "a,,b"],
        ["uninstall", "x", "--force-replacefiles"],
    ],
)
def test_bad_repo_options_are_usage_errors(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(argv)
    assert caught.value.code == 2
