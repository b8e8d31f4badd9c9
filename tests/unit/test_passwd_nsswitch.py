"""A composed base's nsswitch.conf names altfiles, so users in /usr/lib/passwd resolve."""

from __future__ import annotations

from layering.passwd import with_altfiles


def test_altfiles_follows_files_for_passwd_and_group_only() -> None:
    before = b"passwd: files\nshadow: files\ngroup:   files sss\nhosts: files dns\n"
    assert with_altfiles(before) == (
        b"passwd: files altfiles\nshadow: files\ngroup:   files altfiles sss\nhosts: files dns\n"
    )


def test_already_configured_comments_and_no_files_are_left_alone() -> None:
    text = b"# passwd: files\npasswd: files altfiles systemd\ngroup: sss\n"
    assert with_altfiles(text) == text


def test_idempotent() -> None:
    once = with_altfiles(b"passwd: files systemd\ngroup: files\n")
    assert with_altfiles(once) == once == b"passwd: files altfiles systemd\ngroup: files altfiles\n"
