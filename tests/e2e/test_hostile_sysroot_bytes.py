"""One Latin-1 byte in a file of the sysroot: every command says which file, or copes.

Everything read from the sysroot is untrusted input. Where the bytes are only
displayed (a boot entry's title, a comment), they are shown tolerantly; where
they would be acted on, the command refuses naming the file and changes nothing.
``status`` always works.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.store import Store
from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e.reliability_support import Box, Kind, leftovers, snapshot, template

pytestmark = [needs_bwrap, needs_rpmbuild]

LATIN1 = b"caf\xe9"  # "café" in Latin-1: not UTF-8


def _entry(box: Box) -> Path:
    return sorted((box.sysroot / "boot" / "loader" / "entries").glob("*.conf"))[-1]


def _origin(box: Box) -> Path:
    default = box.default_path()
    return default.with_name(default.name + ".origin")


def bls_title(box: Box) -> Path:
    path = _entry(box)
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(
        b"".join(b"title " + LATIN1 + b"\n" if ln.startswith(b"title") else ln for ln in lines)
    )
    return path


def bls_options(box: Box) -> Path:
    path = _entry(box)
    path.write_bytes(path.read_bytes() + b"# " + LATIN1 + b"\n")
    return path


def origin_comment(box: Box) -> Path:
    path = _origin(box)
    path.write_bytes(b"# " + LATIN1 + b"\n" + path.read_bytes())
    return path


def origin_value(box: Box) -> Path:
    path = _origin(box)
    path.write_bytes(path.read_bytes() + b"\n[packages]\nrequested=" + LATIN1 + b"\n")
    return path


def booted_marker(box: Box) -> Path:
    path = box.sysroot / "run" / "ostree" / "booted"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b'{"osname": "' + LATIN1 + b'"}\n')
    return path


CORRUPTIONS: dict[str, Callable[[Box], Path]] = {
    "bls-title": bls_title,
    "bls-comment": bls_options,
    "origin-comment": origin_comment,
    "origin-value": origin_value,
    "run-ostree-booted": booted_marker,
}
COMMANDS = (
    ("status",),
    ("status", "--json"),
    ("install", "hello"),
    ("rollback",),
    ("cleanup", "--base"),
    ("admin", "config-diff"),
    ("admin", "simulate-reboot"),
)


DISPLAYED_ONLY = {"bls-title", "bls-comment", "origin-comment"}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_a_non_utf8_byte_never_gives_a_traceback(
    corruption: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Displayed-only bytes: every command works. Bytes acted upon: ``status`` works and
    warns naming the file; every other command refuses naming it, changing nothing."""
    box = Box.copy_of(template(tmp_path_factory.getbasetemp(), Kind.LAYERED), tmp_path / "box")
    path = CORRUPTIONS[corruption](box)
    before = snapshot(box)
    for args in COMMANDS:
        if corruption in DISPLAYED_ONLY:
            path = CORRUPTIONS[corruption](box)  # again: the last command may have rewritten it
        result = box.strata(*args, expect=None)
        assert "Traceback" not in result.stderr, (args, result.stderr)
        if corruption in DISPLAYED_ONLY:
            assert result.returncode == 0, (args, result.stderr)
            assert "warning" not in result.stderr, (args, result.stderr)
        elif args[0] == "status":
            assert result.returncode == 0, (args, result.stderr)
            assert f"warning: {path}" in result.stderr or f"file {path}" in result.stderr
        else:
            assert result.returncode == 1, (args, result.stderr)
            assert str(path) in result.stderr and "hint:" in result.stderr, result.stderr
    if corruption not in DISPLAYED_ONLY:  # every command refused: nothing changed
        assert snapshot(box) == before
    assert leftovers(box) == []


BAD_SETTINGS = [
    (name, value)
    for name in ("STRATA_SCRIPT_TIMEOUT", "STRATA_FETCH_DEADLINE")
    for value in ("inf", "nan", "abc", "-1", "0")
] + [("SOURCE_DATE_EPOCH", "abc"), ("SOURCE_DATE_EPOCH", "-1"), ("SOURCE_DATE_EPOCH", "1e9")]


def test_a_malformed_setting_is_refused_before_any_work(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Each bad value: exit 1 naming the variable, before anything is fetched or changed
    (not even a package cache ref)."""
    box = Box.copy_of(template(tmp_path_factory.getbasetemp(), Kind.BASE), tmp_path / "box")
    before = snapshot(box)
    caches = sorted(Store.open(box.repo).refs())
    for name, value in BAD_SETTINGS:
        result = box.strata("install", "tool", expect=None, env={name: value})
        assert result.returncode == 1, (name, value, result.stderr)
        assert f"error: {name}={value!r} is not" in result.stderr, result.stderr
        assert "hint:" in result.stderr and "Traceback" not in result.stderr
    assert sorted(Store.open(box.repo).refs()) == caches
    assert snapshot(box) == before
    assert leftovers(box) == []
