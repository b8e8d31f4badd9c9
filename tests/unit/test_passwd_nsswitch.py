"""passwd/group beyond the base: nsswitch names altfiles; the admin's users are seen, not kept."""

from __future__ import annotations

from layering.rpm.passwd import merged_for_scripts, split_after_scripts, with_altfiles


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


def test_scripts_see_the_administrators_users_but_packages_do_not_keep_them() -> None:
    etc, lib = b"root:x:0:0::/root:/bin/bash\n", b"bin:x:1:1::/:/sbin/nologin\n"
    admin = b"root:x:0:0::/root:/bin/bash\nbackup:x:999:999::/:/sbin/nologin\n"
    merged = merged_for_scripts(etc, lib, admin)
    assert merged == etc + lib + b"backup:x:999:999::/:/sbin/nologin\n"
    after = (merged or b"") + b"foo:x:998:998::/var/lib/foo:/sbin/nologin\n"
    split = split_after_scripts(etc, lib, after, admin)
    assert split.etc == etc
    assert split.lib == lib + b"foo:x:998:998::/var/lib/foo:/sbin/nologin\n"
