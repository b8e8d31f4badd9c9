"""Symlinks in the OS tree resolve as if the tree were / (never into the host)."""

from __future__ import annotations

from layering.engine.base_context import resolve_in_tree

TREE = {
    "etc": ("dir", None),
    "etc/pki": ("dir", None),
    "etc/pki/KEY": ("symlink", "KEY-39"),
    "etc/pki/KEY-39": ("file", None),
    "etc/pki/ABS": ("symlink", "/usr/share/keys/K"),
    "etc/pki/UP": ("symlink", "../../../../../../etc/pki/KEY-39"),
    "etc/pki/LOOP": ("symlink", "LOOP"),
    "usr": ("dir", None),
    "usr/share": ("dir", None),
    "usr/share/keys": ("dir", None),
    "usr/share/keys/K": ("file", None),
}


def lookup(path: str) -> tuple[str, str | None] | None:
    return TREE.get(path)


def test_relative_and_absolute_symlinks_stay_in_the_tree() -> None:
    assert resolve_in_tree("/etc/pki/KEY", lookup) == "etc/pki/KEY-39"
    assert resolve_in_tree("/etc/pki/ABS", lookup) == "usr/share/keys/K"
    assert resolve_in_tree("/etc/pki/UP", lookup) == "etc/pki/KEY-39"


def test_missing_paths_and_loops_resolve_to_nothing() -> None:
    assert resolve_in_tree("/etc/pki/NOPE", lookup) is None
    assert resolve_in_tree("/etc/pki/LOOP", lookup) is None
    assert resolve_in_tree("/../../etc/./pki/KEY-39", lookup) == "etc/pki/KEY-39"
