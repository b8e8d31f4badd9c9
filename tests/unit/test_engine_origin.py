"""A deployment's origin <-> the engine's requests: what the next deployment records."""

from __future__ import annotations

from core.sysroot.origin import Origin
from layering.engine.origin_state import LocalPackage, Requests, origin_for, requests_of

SHA = "a" * 64


def test_layered_origin_round_trips_through_requests() -> None:
    origin = Origin(
        refspec="os/x86_64/base",
        layered=True,
        requested=("strace", "htop"),
        requested_local=(f"{SHA}:foo-1.0-1.noarch",),
        override_remove=("nano",),
    )
    req = requests_of(origin)
    assert req.packages == ("htop", "strace")
    assert req.local == (LocalPackage(SHA, "foo-1.0-1.noarch"),)
    again = origin_for("os/x86_64/base", req, origin)
    assert again.layered and again.requested == ("htop", "strace")
    assert again.requested_local == origin.requested_local
    assert again.override_remove == ("nano",)
    assert "baserefspec=os/x86_64/base" in again.to_ini()


def test_nothing_requested_gives_a_plain_refspec() -> None:
    origin = origin_for("os/x86_64/base", Requests(), None)
    assert not origin.layered
    assert origin.to_ini().startswith("[origin]\nrefspec=os/x86_64/base\n")


def test_unknown_keys_carry_over_but_the_pin_does_not() -> None:
    previous = Origin(
        refspec="os/base",
        layered=False,
        extra=(("custom", "key", "value"), ("libostree-transient", "pinned", "true")),
    )
    assert previous.pinned
    new = origin_for("os/v2", Requests(packages=("strace",)), previous)
    assert new.extra == (("custom", "key", "value"),)
    assert not new.pinned
    assert new.refspec == "os/v2"
