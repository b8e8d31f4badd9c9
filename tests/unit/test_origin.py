"""The .origin file: rpm-ostree's key-file layout, round trips, unknown keys kept."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ConfigError
from core.sysroot.origin import Origin


def test_plain_base_is_written_as_refspec() -> None:
    assert Origin("fedora/x86_64/base", layered=False).to_ini() == (
        "[origin]\nrefspec=fedora/x86_64/base\n"
    )


def test_layered_origin_reads_like_rpm_ostree() -> None:
    origin = Origin(
        "base/ref",
        layered=True,
        requested=("strace", "vim"),
        requested_local=("a" * 64 + ":foo-1-1.x86_64",),
        override_remove=("nano",),
        override_replace_local=("b" * 64 + ":bash-5-2.x86_64",),
    )
    text = origin.to_ini()
    assert text == (
        "[origin]\nbaserefspec=base/ref\n\n"
        "[packages]\nrequested=strace;vim;\n"
        f"requested-local={'a' * 64}:foo-1-1.x86_64;\n\n"
        "[overrides]\nremove=nano;\n"
        f"replace-local={'b' * 64}:bash-5-2.x86_64;\n"
    )
    assert Origin.from_ini(text) == origin


def test_unknown_keys_survive_a_rewrite() -> None:
    text = (
        "[origin]\nrefspec=r\nunconfigured-state=please register\n\n"
        "[rpmostree]\ncustom=1\n\n[libostree-transient]\npinned=true\n"
    )
    origin = Origin.from_ini(text)
    assert origin.pinned
    assert origin.extra == (
        ("origin", "unconfigured-state", "please register"),
        ("rpmostree", "custom", "1"),
        ("libostree-transient", "pinned", "true"),
    )
    again = Origin.from_ini(origin.to_ini())
    assert again == origin


def test_pin_is_transient_and_toggles() -> None:
    origin = Origin("r", layered=False)
    pinned = origin.with_pinned(True)
    assert pinned.pinned
    assert "[libostree-transient]\npinned=true" in pinned.to_ini()
    assert not pinned.with_pinned(False).pinned
    assert not pinned.without_transient().pinned


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("refspec=r\n", "Malformed origin"),
        ("[packages]\nrequested=a;\n", "no \\[origin\\]"),
        ("[origin]\nrefspec=a\nbaserefspec=b\n", "exactly one"),
        ("[origin]\n", "exactly one"),
        ("[origin]\nrefspec=\n", "empty refspec"),
        ("[origin]\nrefspec=a\n[origin]\nrefspec=b\n", "Malformed origin"),
    ],
)
def test_malformed_origins_are_config_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Origin.from_ini(text)


def test_list_without_trailing_semicolon_and_escapes() -> None:
    origin = Origin.from_ini("[origin]\nrefspec=r\n[packages]\nrequested=a;b\\;c; d\n")
    assert origin.requested == ("a", "b;c", "d")


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_+.;", min_size=1, max_size=12)


@given(
    refspec=st.text(alphabet="abcdefghijklmnopqrstuvwxyz/:_-.", min_size=1, max_size=30),
    layered=st.booleans(),
    requested=st.lists(names, max_size=4).map(tuple),
    remove=st.lists(names, max_size=3).map(tuple),
)
def test_round_trip(
    refspec: str, layered: bool, requested: tuple[str, ...], remove: tuple[str, ...]
) -> None:
    origin = Origin(refspec, layered, requested=requested, override_remove=remove)
    assert Origin.from_ini(origin.to_ini()) == origin


def test_fileoverride_list_round_trips() -> None:
    origin = Origin("r", True, requested=("clash",), fileoverride=("clash",))
    assert "requested-fileoverride=clash;" in origin.to_ini()
    assert Origin.from_ini(origin.to_ini()) == origin
