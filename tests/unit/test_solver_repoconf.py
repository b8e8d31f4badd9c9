""".repo files read as dnf reads them; malformed files name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from solver import RepoConfig, read_repo_files

VARS = {"basearch": "x86_64", "arch": "x86_64", "releasever": "40"}


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def test_several_sections_substitution_lists_and_booleans(tmp_path: Path) -> None:
    write(
        tmp_path,
        "fedora.repo",
        """# comment
[fedora]
name=Fedora $releasever - $basearch
baseurl=http://mirror.example/fedora/${releasever}/$basearch/ ,
        http://other.example/f/$releasever/$basearch/
enabled=1
gpgcheck=yes
gpgkey=file:///etc/pki/rpm-gpg/KEY-$releasever file:///etc/pki/rpm-gpg/KEY-old
skip_if_unavailable=True

[updates]
baseurl=file:///srv/updates
enabled=0
""",
    )
    write(tmp_path, "a-local.repo", "[local]\nbaseurl=/srv/local\n")
    write(tmp_path, "ignored.txt", "[nope]\nbaseurl=file:///x\n")
    repos = read_repo_files(tmp_path, VARS)
    assert repos == [
        RepoConfig("local", "local", ("file:///srv/local",)),
        RepoConfig(
            id="fedora",
            name="Fedora 40 - x86_64",
            baseurls=(
                "http://mirror.example/fedora/40/x86_64/",
                "http://other.example/f/40/x86_64/",
            ),
            enabled=True,
            gpgcheck=True,
            gpgkeys=("file:///etc/pki/rpm-gpg/KEY-40", "file:///etc/pki/rpm-gpg/KEY-old"),
            skip_if_unavailable=True,
        ),
        RepoConfig("updates", "updates", ("file:///srv/updates",), enabled=False),
    ]


def test_unknown_variables_stay_as_written(tmp_path: Path) -> None:
    write(tmp_path, "x.repo", "[x]\nbaseurl=http://h/$contentdir/$basearch\n")
    assert read_repo_files(tmp_path, VARS)[0].baseurls == ("http://h/$contentdir/x86_64",)


def test_stock_mirrorlist_and_metalink_repos_are_read(tmp_path: Path) -> None:
    write(
        tmp_path,
        "stock.repo",
        "[base]\nmirrorlist=http://mirrorlist.example/?release=$releasever&arch=$basearch\n"
        "#baseurl=http://mirror.example/$releasever/os/$basearch/\n\n"
        "[fedora]\nmetalink=https://mirrors.example/metalink?repo=fedora-$releasever\n"
        "baseurl=https://b/\n",
    )
    base, fedora = read_repo_files(tmp_path, VARS)
    assert base.mirrorlist == "http://mirrorlist.example/?release=40&arch=x86_64"
    assert base.baseurls == () and base.metalink == ""
    assert fedora.metalink == "https://mirrors.example/metalink?repo=fedora-40"
    assert fedora.baseurls == ("https://b/",)  # kept, though the metalink wins (as in dnf)


def test_disabled_repo_without_any_url_is_fine(tmp_path: Path) -> None:
    write(tmp_path, "f.repo", "[fedora]\nname=nothing\nenabled=0\n")
    assert read_repo_files(tmp_path, VARS)[0].enabled is False


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("baseurl=file:///a\n", 1, "before the first"),
        ("[a]\nbaseurl=file:///a\nthis is not a setting\n", 3, "cannot parse"),
        ("[a]\nbaseurl=file:///a\nenabled=maybe\n", 3, "not a boolean"),
        ("[a]\nbaseurl=file:///a\n[a]\nbaseurl=file:///b\n", 3, "already exists"),
        ("[a]\nbaseurl=ftp://x/\n", 2, "unsupported baseurl"),
        ("[a]\nname=no url\n", 1, "no baseurl"),
        ("[a]\nmirrorlist=ftp://x/\n", 2, "unsupported mirrorlist"),
        ("[a]\nmetalink=rsync://x/\n", 2, "unsupported metalink"),
        ("[a b]\nbaseurl=file:///a\n", 1, "characters"),
    ],
)
def test_malformed_files_name_file_and_line(
    tmp_path: Path, text: str, line: int, needle: str
) -> None:
    path = write(tmp_path, "bad.repo", text)
    with pytest.raises(ConfigError) as caught:
        read_repo_files(tmp_path, VARS)
    assert str(caught.value).startswith(f"{path}:{line}")
    assert needle in str(caught.value)


def test_duplicate_repo_id_across_files_names_both(tmp_path: Path) -> None:
    write(tmp_path, "a.repo", "[x]\nbaseurl=file:///a\n")
    write(tmp_path, "b.repo", "[x]\nbaseurl=file:///b\n")
    with pytest.raises(ConfigError, match=r"a\.repo and .*b\.repo"):
        read_repo_files(tmp_path, VARS)


def test_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_repo_files(tmp_path / "nope", VARS)
