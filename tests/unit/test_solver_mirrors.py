"""Mirror lists and metalinks read as librepo reads them; hostile lists are refused."""

from __future__ import annotations

import hashlib

import pytest

from core.errors import FetchError
from solver.mirrors import Metalink, parse_metalink, parse_mirrorlist

LIST_URL = "http://mirrorlist.example/?repo=os"
REPOMD = b"<repomd>current</repomd>"
OLD_REPOMD = b"<repomd>previous</repomd>"


def metalink_xml(urls: list[tuple[str, int]], hashes: dict[str, bytes], *, alternate: bool) -> str:
    def verification(data: bytes) -> str:
        lines = "".join(
            f'<hash type="{algo}">{hashlib.new(algo, data).hexdigest()}</hash>' for algo in hashes
        )
        return f"<verification>{lines}</verification>"

    alt = ""
    if alternate:
        alt = (
            "<mm0:alternates><mm0:alternate><mm0:timestamp>1</mm0:timestamp>"
            f"<size>{len(OLD_REPOMD)}</size>{verification(OLD_REPOMD)}"
            "</mm0:alternate></mm0:alternates>"
        )
    resources = "".join(
        f'<url protocol="{u.split(":")[0]}" type="{u.split(":")[0]}" location="US" '
        f'preference="{pref}">{u}</url>'
        for u, pref in urls
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<metalink version="3.0" xmlns="http://www.metalinker.org/" '
        'xmlns:mm0="http://fedorahosted.org/mirrormanager">'
        '<files><file name="repomd.xml">'
        f"<mm0:timestamp>2</mm0:timestamp>{alt}<size>{len(REPOMD)}</size>"
        f"{verification(REPOMD)}"
        f'<resources maxconnections="1">{resources}</resources>'
        "</file></files></metalink>"
    )


def test_mirrorlist_keeps_order_and_skips_comments_blanks_and_duplicates() -> None:
    text = b"# generated\n\nhttp://a.example/os/\n  https://b.example/os/  \nhttp://a.example/os/\n"
    assert parse_mirrorlist(text, url=LIST_URL, repo_id="base") == (
        "http://a.example/os/",
        "https://b.example/os/",
    )


def test_a_remote_mirrorlist_may_not_name_local_files() -> None:
    with pytest.raises(FetchError, match="names no usable mirror") as caught:
        parse_mirrorlist(b"file:///etc/\n/etc/passwd\n", url=LIST_URL, repo_id="base")
    assert "repo 'base'" in str(caught.value) and LIST_URL in str(caught.value)


def test_a_local_mirrorlist_may_name_local_mirrors() -> None:
    found = parse_mirrorlist(b"file:///srv/mirror/\n", url="file:///srv/list", repo_id="x")
    assert found == ("file:///srv/mirror/",)


@pytest.mark.parametrize("text", [b"", b"# only a comment\n\n", b"\xff\xfe binary"])
def test_empty_or_binary_mirrorlist_is_refused(text: bytes) -> None:
    with pytest.raises(FetchError, match=r"mirror list .* (names no usable mirror|is not text)"):
        parse_mirrorlist(text, url=LIST_URL, repo_id="base")


def test_metalink_mirrors_by_preference_and_hashes_with_alternates() -> None:
    xml = metalink_xml(
        [
            ("http://low.example/f/repodata/repomd.xml", 10),
            ("https://high.example/f/repodata/repomd.xml", 100),
            ("rsync://skipped.example/f/repodata/repomd.xml", 99),
            ("https://mid.example/f/repodata/repomd.xml", 50),
            ("https://odd.example/not-a-repomd", 90),
        ],
        {"md5": b"", "sha1": b"", "sha256": b"", "sha512": b""},
        alternate=True,
    ).encode()
    link = parse_metalink(xml, url="https://mm.example/metalink", repo_id="fedora")
    assert link.mirrors == (
        "https://high.example/f/",
        "https://mid.example/f/",
        "http://low.example/f/",
    )
    link.check(REPOMD, "https://high.example/f/repodata/repomd.xml")
    link.check(OLD_REPOMD, "an alternate")  # a mirror a sync behind is still trusted
    with pytest.raises(FetchError) as caught:
        link.check(b"<repomd>forged</repomd>", "https://high.example/f/repodata/repomd.xml")
    message = str(caught.value)
    assert "https://high.example/f/repodata/repomd.xml" in message
    assert "does not match the metalink https://mm.example/metalink" in message
    assert "sha512" in message  # the strongest type offered is the one checked


def test_metalink_checks_the_strongest_hash_offered() -> None:
    weak = Metalink("u", ("http://m/",), {"md5": frozenset({hashlib.md5(REPOMD).hexdigest()})})
    weak.check(REPOMD, "m")
    both = Metalink(
        "u",
        ("http://m/",),
        {
            "md5": frozenset({hashlib.md5(b"other").hexdigest()}),
            "sha256": frozenset({hashlib.sha256(REPOMD).hexdigest()}),
        },
    )
    both.check(REPOMD, "m")


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"<metalink><files>", "is not valid XML"),
        (b"not xml at all", "is not valid XML"),
        (
            b'<metalink xmlns="http://www.metalinker.org/"><files><file name="other.xml">'
            b"</file></files></metalink>",
            "describes no repomd.xml",
        ),
        (
            metalink_xml([("https://m/f/repodata/repomd.xml", 1)], {}, alternate=False).encode(),
            "lists no hash",
        ),
        (
            metalink_xml([], {"sha256": b""}, alternate=False).encode(),
            "names no usable http(s) mirror",
        ),
        (
            metalink_xml(
                [("file:///etc/repodata/repomd.xml", 1)], {"sha256": b""}, alternate=False
            ).encode(),
            "names no usable http(s) mirror",
        ),
    ],
)
def test_malformed_metalinks_are_refused_naming_repo_and_url(data: bytes, needle: str) -> None:
    with pytest.raises(FetchError) as caught:
        parse_metalink(data, url="https://mm.example/metalink", repo_id="fedora")
    message = str(caught.value)
    assert needle in message
    assert "repo 'fedora'" in message and "https://mm.example/metalink" in message
