"""Spec rendering and cache keys of the fixture factory: pure logic, no rpmbuild."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.hostlibs import host_lib, parse_ldd
from fixtures.rpms import (
    FileKind,
    FileSpec,
    FileTrigger,
    FixtureBuildError,
    Script,
    Trigger,
    cache_key,
    make_spec,
    render_spec,
)


def test_literal_percent_signs_survive_macro_expansion() -> None:
    spec = make_spec(
        "p",
        summary="100% real",
        scripts={"post": "echo %{name} 50%"},
        requires=["foo"],
    )
    text = render_spec(spec, Path("/payload"))
    assert "Summary: 100%% real" in text
    assert "%post\necho %%{name} 50%%\n" in text


def test_script_forms_and_triggers_render_as_rpm_expects() -> None:
    spec = make_spec(
        "p",
        scripts={
            "pre": Script("print(1)", "<lua>"),
            "postun": Script(interpreter="/sbin/ldconfig"),
        },
        triggers=[Trigger(on="bash >= 5", body="true", kind="triggerun")],
        file_triggers=[FileTrigger(prefixes=("/a", "/b"), body="x", priority=7)],
    )
    text = render_spec(spec, Path("/payload"))
    assert "%pre -p <lua>\nprint(1)\n" in text
    assert "%postun -p /sbin/ldconfig\n" in text
    assert "%triggerun -- bash >= 5\ntrue\n" in text
    assert "%filetriggerin -P 7 -- /a /b\nx\n" in text


def test_files_section_carries_attrs_and_flags() -> None:
    spec = make_spec(
        "p",
        files={
            "/etc/x.conf": FileSpec(content="x", config="noreplace", mode=0o600),
            "/var/d": FileSpec(kind=FileKind.DIR, user="u", group="g"),
            "/usr/bin/ping": FileSpec(content="", caps="cap_net_raw=ep", mode=0o755),
            "/var/log/g": FileSpec(ghost=True),
        },
    )
    text = render_spec(spec, Path("/payload"))
    assert '%attr(0600,root,root) %config(noreplace) "/etc/x.conf"' in text
    assert '%attr(-,u,g) %dir "/var/d"' in text
    assert '%attr(0755,root,root) %caps(cap_net_raw=ep) "/usr/bin/ping"' in text
    assert '%attr(-,root,root) %ghost "/var/log/g"' in text


def test_cache_key_follows_every_part_of_the_description() -> None:
    base = cache_key(make_spec("p", files={"/a": "1"}))
    assert cache_key(make_spec("p", files={"/a": "1"})) == base
    assert cache_key(make_spec("p", files={"/a": "2"})) != base
    assert cache_key(make_spec("p", files={"/a": FileSpec(content="1", mode=0o600)})) != base
    assert cache_key(make_spec("p", files={"/a": "1"}, release="2")) != base
    assert cache_key(make_spec("p", files={"/a": "1"}, compression="xz")) != base


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"scripts": {"install": "x"}}, "unknown scriptlet"),
        ({"arch": "i686"}, "arch must be"),
        ({"files": {"relative/path": "x"}}, "absolute"),
        ({"files": {"/a/../b": "x"}}, "absolute and plain"),
        ({"compression": "lz4"}, "lz4"),
    ],
)
def test_bad_descriptions_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_spec("p", **kwargs)  # type: ignore[arg-type]


def test_symlink_needs_a_target() -> None:
    with pytest.raises(ValueError, match="target"):
        FileSpec(kind=FileKind.SYMLINK)


def test_unknown_host_library_names_the_table_to_extend() -> None:
    with pytest.raises(FixtureBuildError, match=r"libnope\.so\.9 .*SONAME_PACKAGE"):
        host_lib("libnope.so.9")


def test_ldd_output_yields_shippable_libraries_only() -> None:
    text = (
        "\tlinux-vdso.so.1 (0x00007ffd)\n"
        "\tlibunwind-ptrace.so.0 => /lib/x86_64-linux-gnu/libunwind-ptrace.so.0 (0x00007f01)\n"
        "\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f02)\n"
        "\t/lib64/ld-linux-x86-64.so.2 (0x00007f03)\n"
        "\tld-linux-x86-64.so.2 => /lib64/ld-linux-x86-64.so.2 (0x00007f04)\n"
    )
    assert parse_ldd(text) == (
        ("libunwind-ptrace.so.0", Path("/lib/x86_64-linux-gnu/libunwind-ptrace.so.0")),
        ("libc.so.6", Path("/lib/x86_64-linux-gnu/libc.so.6")),
    )
