"""Kernel argument edits (rpm-ostree's kargs, libostree's rules) and their defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError, SysrootError
from core.sysroot.kargs import KargEdit, KargOp, KernelArgs, for_new_deployment, split

BASE = KernelArgs.parse(
    "root=/dev/vda rw console=tty0 console=ttyS0 quiet ostree=/ostree/boot.1/a/b/0"
)


def edit(*edits: tuple[KargOp, str]) -> str:
    return str(BASE.edit([KargEdit(op, arg) for op, arg in edits]))


def test_ostree_arg_is_never_a_user_argument() -> None:
    assert str(BASE) == "root=/dev/vda rw console=tty0 console=ttyS0 quiet"
    with pytest.raises(SysrootError, match="managed by Strata"):
        edit((KargOp.APPEND, "ostree=/x"))


def test_append_keeps_duplicates_and_if_missing_does_not() -> None:
    assert edit((KargOp.APPEND, "quiet")).endswith("quiet quiet")
    assert edit((KargOp.APPEND_IF_MISSING, "quiet")) == str(BASE)
    assert edit((KargOp.APPEND_IF_MISSING, "foo=bar")).endswith(" foo=bar")


def test_dash_and_underscore_are_one_character_in_keys() -> None:
    args = KernelArgs.parse("rd.break_on=x")
    assert args.has("rd.break-on")
    assert str(args.delete("rd.break-on")) == ""


def test_replace_one_value_or_the_named_one() -> None:
    assert edit((KargOp.REPLACE, "root=/dev/vdb")).startswith("root=/dev/vdb rw ")
    assert "console=tty1 console=ttyS0" in edit((KargOp.REPLACE, "console=tty0=tty1"))
    with pytest.raises(SysrootError, match="several values"):
        edit((KargOp.REPLACE, "console=ttyS1"))
    with pytest.raises(SysrootError, match="No kernel argument 'nope'"):
        edit((KargOp.REPLACE, "nope=1"))
    with pytest.raises(SysrootError, match="console=hvc0"):
        edit((KargOp.REPLACE, "console=hvc0=tty1"))


def test_delete_rules() -> None:
    assert edit((KargOp.DELETE, "quiet")) == "root=/dev/vda rw console=tty0 console=ttyS0"
    assert "console=tty0" not in edit((KargOp.DELETE, "console=tty0"))
    with pytest.raises(SysrootError, match="several values"):
        edit((KargOp.DELETE, "console"))
    with pytest.raises(SysrootError, match="No kernel argument 'absent' to delete"):
        edit((KargOp.DELETE, "absent"))
    with pytest.raises(SysrootError, match="to delete"):
        edit((KargOp.DELETE, "root=/dev/other"))
    assert edit((KargOp.DELETE_IF_PRESENT, "absent")) == str(BASE)


def test_set_replaces_every_value_in_the_first_place() -> None:
    assert edit((KargOp.SET, "console=hvc0")) == "root=/dev/vda rw console=hvc0 quiet"
    assert edit((KargOp.SET, "new=1")).endswith(" new=1")


@pytest.mark.parametrize("bad", ["", "=x", "a b", "a\nb", "x\x7f"])
def test_malformed_arguments_are_refused(bad: str) -> None:
    with pytest.raises(SysrootError, match="Invalid kernel argument"):
        edit((KargOp.APPEND, bad))


def test_quoted_values_keep_their_spaces() -> None:
    assert split('a="b c" d') == ('a="b c"', "d")
    assert str(KernelArgs.parse('dyndbg="file x +p" quiet').delete("quiet")) == 'dyndbg="file x +p"'


def _tree(root: Path, text: str | None) -> Path:
    if text is not None:
        (root / "usr/lib/bootc/kargs.d").mkdir(parents=True)
        (root / "usr/lib/bootc/kargs.d/10-base.toml").write_text(text)
    else:
        root.mkdir(parents=True)
    return root


def test_first_deployment_starts_from_defaults_and_the_tree(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", 'kargs = ["console=ttyS0", "rw"]\n')
    assert for_new_deployment(None, ["root=/dev/vda", "rw"], None, tree) == (
        "root=/dev/vda rw console=ttyS0"
    )


def test_later_deployments_follow_the_tree_defaults_diff(tmp_path: Path) -> None:
    old = _tree(tmp_path / "old", 'kargs = ["console=ttyS0", "mitigations=auto"]\n')
    new = _tree(tmp_path / "new", 'kargs = ["console=ttyS0", "nosmt"]\n')
    merged = for_new_deployment("root=/dev/vda mitigations=auto console=ttyS0 x=1", [], old, new)
    assert merged == "root=/dev/vda console=ttyS0 x=1 nosmt"


def test_a_tree_for_another_architecture_is_skipped(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t", 'kargs = ["a=1"]\nmatch-architectures = ["s390x"]\n')
    assert for_new_deployment(None, [], None, tree) == ""


@pytest.mark.parametrize(
    "text",
    ["kargs = [", "kargs = [1]", 'kargs = "a"', 'kargs = ["ostree=/evil"]', 'kargs = ["a\\u0001"]'],
)
def test_a_bad_kargs_d_file_is_a_config_error(tmp_path: Path, text: str) -> None:
    tree = _tree(tmp_path / "t", text)
    with pytest.raises(ConfigError, match="10-base.toml"):
        for_new_deployment(None, [], None, tree)
