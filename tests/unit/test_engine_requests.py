"""The request rules of the layering verbs: what install/uninstall/override accept."""

from __future__ import annotations

import pytest

from layering.engine.origin_state import (
    LocalPackage,
    RequestError,
    Requests,
    add_local,
    add_override_remove,
    add_override_replace,
    add_packages,
    allow_replacefiles,
    nevra_name,
    remove_all,
    remove_packages,
    reset_overrides,
)

SHA_A = "a" * 64
SHA_B = "b" * 64


def test_install_adds_sorted_unique_names() -> None:
    req = add_packages(Requests(packages=("vim",)), ["strace", "htop"])
    assert req.packages == ("htop", "strace", "vim")


def test_install_of_an_already_requested_package_is_an_error() -> None:
    with pytest.raises(RequestError, match="Package 'strace' is already requested"):
        add_packages(Requests(packages=("strace",)), ["strace"])


def test_idempotent_install_ignores_present_requests() -> None:
    req = Requests(packages=("strace",))
    assert add_packages(req, ["strace"], idempotent=True) == req


def test_same_name_twice_in_one_command_is_an_error() -> None:
    with pytest.raises(RequestError, match="already requested"):
        add_packages(Requests(), ["a", "a"])


def test_local_package_with_a_requested_name_is_already_requested() -> None:
    req = Requests(packages=("foo",))
    with pytest.raises(RequestError, match="foo-1.0-1.x86_64"):
        add_local(req, [LocalPackage(SHA_A, "foo-1.0-1.x86_64")])


def test_uninstall_of_a_package_not_requested_is_an_error() -> None:
    with pytest.raises(RequestError, match="Package 'nano' is not currently requested"):
        remove_packages(Requests(packages=("strace",)), ["nano"])
    req = Requests(packages=("strace",))
    assert remove_packages(req, ["nano"], idempotent=True) == req


def test_uninstall_matches_local_packages_by_name_or_nevra() -> None:
    req = Requests(local=(LocalPackage(SHA_A, "foo-1.0-1.x86_64"),), packages=("bar",))
    assert remove_packages(req, ["foo"]).local == ()
    assert remove_packages(req, ["foo-1.0-1.x86_64"]).local == ()
    assert remove_packages(req, ["foo"]).packages == ("bar",)


def test_uninstall_all_keeps_base_overrides() -> None:
    req = Requests(
        packages=("a",), local=(LocalPackage(SHA_A, "b-1-1.noarch"),), override_remove=("c",)
    )
    after = remove_all(req)
    assert after == Requests(override_remove=("c",))
    assert not after.empty
    assert Requests().empty


def test_override_remove_only_base_packages_once() -> None:
    base = {"vim-minimal", "bash"}
    req = add_override_remove(Requests(), ["vim-minimal"], base)
    assert req.override_remove == ("vim-minimal",)
    with pytest.raises(RequestError, match="already requested to be removed") as twice:
        add_override_remove(req, ["vim-minimal"], base)
    assert "strata override reset vim-minimal" in str(twice.value.hint)
    with pytest.raises(RequestError, match="Package 'nano' is not in the base"):
        add_override_remove(req, ["nano"], base)


def test_override_replace_needs_a_base_package_of_that_name() -> None:
    base = {"bash"}
    new = LocalPackage(SHA_A, "bash-5.2-2.x86_64")
    req = add_override_replace(Requests(), [new], base)
    assert req.override_replace == (new,)
    newer = LocalPackage(SHA_B, "bash-5.2-3.x86_64")
    assert add_override_replace(req, [newer], base).override_replace == (newer,)
    with pytest.raises(RequestError, match="not in the base"):
        add_override_replace(Requests(), [LocalPackage(SHA_A, "zsh-1-1.x86_64")], base)


def test_override_replace_by_the_base_version_itself_is_refused() -> None:
    replaced = add_override_replace(
        Requests(), [LocalPackage(SHA_A, "bash-5.2-2.x86_64")], {"bash"}
    )
    same = LocalPackage(SHA_B, "bash-5.2-1.x86_64")
    with pytest.raises(RequestError, match="version the base already has") as caught:
        add_override_replace(replaced, [same], {"bash"}, {"bash-5.2-1.x86_64"})
    assert "strata override reset bash" in str(caught.value.hint)


def test_override_reset_by_name_or_all() -> None:
    req = Requests(override_remove=("a",), override_replace=(LocalPackage(SHA_A, "b-1-1.x86_64"),))
    assert reset_overrides(req, ["a"]).override_remove == ()
    assert reset_overrides(req, ["b"]).override_replace == ()
    assert reset_overrides(req, [], reset_all=True).empty
    with pytest.raises(RequestError, match="No override for package 'c'"):
        reset_overrides(req, ["c"])


def test_local_package_entries_round_trip_and_reject_garbage() -> None:
    entry = f"{SHA_A}:my-tool-2:1.0-1.fc40.x86_64"
    pkg = LocalPackage.parse(entry)
    assert str(pkg) == entry
    assert pkg.name == "my-tool"
    with pytest.raises(RequestError, match="Malformed"):
        LocalPackage.parse("nothex:foo-1-1.x86_64")


@pytest.mark.parametrize(
    ("nevra", "name"),
    [
        ("strace-6.1-1.x86_64", "strace"),
        ("python3-libs-3.11.4-1.fc38.x86_64", "python3-libs"),
        ("bash-1:5.2-1.noarch", "bash"),
    ],
)
def test_nevra_name(nevra: str, name: str) -> None:
    assert nevra_name(nevra) == name


def test_replacefiles_right_follows_the_request() -> None:
    local = LocalPackage(SHA_A, "mine-1-1.x86_64")
    req = add_local(add_packages(Requests(), ["clash", "tool"]), [local])
    req = allow_replacefiles(req, ["clash", "mine", "not-requested"])
    assert req.fileoverride == ("clash", "mine")
    assert remove_packages(req, ["clash"]).fileoverride == ("mine",)
    assert remove_packages(req, ["mine-1-1.x86_64"]).fileoverride == ("clash",)
    assert remove_all(req).fileoverride == ()
