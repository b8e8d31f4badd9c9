"""sysusers.d users land in usr/lib/passwd with ids the tree does not use yet."""

from __future__ import annotations

from layering.rpm.sysusers import apply

PASSWD = b"root:x:0:0::/root:/bin/bash\nold:x:999:999::/:/sbin/nologin\n"
GROUP = b"root:x:0:\nold:x:999:\nshared:x:500:\n"


def test_new_user_gets_the_highest_free_system_id_and_its_own_group() -> None:
    added = apply([b'# comment\nu demo - "Demo daemon" /var/lib/demo\n'], PASSWD, GROUP)
    assert added.group == ("demo:x:998:",)
    assert added.passwd == ("demo:x:998:998:Demo daemon:/var/lib/demo:/usr/sbin/nologin",)


def test_existing_names_are_left_alone_and_explicit_ids_kept() -> None:
    conf = b"u old - -\ng web 480\nu web 480\nu www 999:shared\n"
    added = apply([conf], PASSWD, GROUP)
    assert added.group == ("web:x:480:",)
    # 999 is taken: www takes the uid equal to its (existing, named) group id
    assert added.passwd == (
        "web:x:480:480::/:/usr/sbin/nologin",
        "www:x:500:500::/:/usr/sbin/nologin",
    )


def test_same_input_same_result() -> None:
    confs = [b"u a -\nu b -\n", b"g c -\n"]
    assert apply(confs, PASSWD, GROUP) == apply(confs, PASSWD, GROUP)
    assert apply([b"m a wheel\nr - 500-900\n"], PASSWD, GROUP).passwd == ()
