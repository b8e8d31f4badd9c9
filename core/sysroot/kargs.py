"""Kernel arguments as libostree's ``OstreeKernelArgs`` keeps them, and where they come from.

An argument is ``KEY`` or ``KEY=VALUE`` (split at the first ``=``); a key may appear
several times (``console=tty0 console=ttyS0``) and order is kept. As the kernel does,
``-`` and ``_`` in a key are the same character. ``ostree=`` never appears here: the
boot entry writer adds it for each deployment.

The edits are rpm-ostree's ``kargs`` options, with libostree's rules:

* ``append``: add, even when the key is present (``console=`` twice is meaningful);
* ``append_if_missing``: add only when the key is absent;
* ``replace``: ``KEY=VALUE`` gives a key with one value a new value; ``KEY=OLD=NEW``
  changes one of several; the key must exist;
* ``delete``: ``KEY`` removes a key that has one value, ``KEY=VALUE`` one exact value;
  anything absent is an error;
* ``delete_if_present``: the same, silently nothing when absent;
* ``set`` (``admin deploy --karg``): replace every value of the key by this one, or add it.

Defaults: a tree may carry ``usr/lib/bootc/kargs.d/*.toml`` (bootc's convention; the
``kargs`` treefile key writes one), each with ``kargs = ["..."]`` and an optional
``match-architectures``. The first deployment of a stateroot starts from the sysroot's
defaults (``admin init-fs --karg``, ``admin os-init --karg``) plus its tree's; a later
one from its merge deployment's arguments, with the tree's defaults that the new tree
dropped removed and the ones it added appended (bootc's rule on upgrade).
"""

from __future__ import annotations

import os
import platform
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from core.atomic import write_text
from core.errors import ConfigError, SysrootError

KARGS_D = Path("usr/lib/bootc/kargs.d")
DEFAULTS_FILE = "kargs"  # ostree/kargs (init-fs) and ostree/deploy/OS/kargs (os-init)
_ARCH = {"x86_64": "x86_64", "aarch64": "aarch64", "ppc64le": "powerpc64le", "s390x": "s390x"}


class KargOp(StrEnum):
    APPEND = "append"
    APPEND_IF_MISSING = "append-if-missing"
    DELETE = "delete"
    DELETE_IF_PRESENT = "delete-if-present"
    REPLACE = "replace"
    SET = "set"


@dataclass(frozen=True)
class KargEdit:
    op: KargOp
    arg: str


def split(text: str) -> tuple[str, ...]:
    """A command line's arguments; a double-quoted value may hold spaces, as the kernel's."""
    out: list[str] = []
    current, quoted, started = "", False, False
    for char in text:
        if char == '"':
            quoted = not quoted
            current += char
            started = True
        elif char.isspace() and not quoted:
            if started:
                out.append(current)
            current, started = "", False
        else:
            current += char
            started = True
    if started:
        out.append(current)
    return tuple(out)


def _key(arg: str) -> str:
    return arg.partition("=")[0].replace("-", "_")


def _value(arg: str) -> str | None:
    key, sep, value = arg.partition("=")
    return value if sep else None


def check_arg(arg: str) -> str:
    """One argument as a user typed it: no spaces outside quotes, no control characters,
    not ``ostree=`` (the boot entry writer owns it)."""
    if not arg or not arg.partition("=")[0]:
        raise SysrootError(f"Invalid kernel argument {arg!r}: no key", hint="use KEY or KEY=VALUE")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in arg) or len(split(arg)) != 1:
        raise SysrootError(
            f"Invalid kernel argument {arg!r}: whitespace or control characters",
            hint='one argument per option; quote a value with spaces as KEY="A B"',
        )
    if _key(arg) == "ostree":
        raise SysrootError(
            "The ostree= kernel argument is managed by Strata",
            hint="it names the deployment to boot and is written for each boot entry",
        )
    return arg


@dataclass(frozen=True)
class KernelArgs:
    args: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> KernelArgs:
        return cls(tuple(a for a in split(text) if _key(a) != "ostree"))

    def __str__(self) -> str:
        return " ".join(self.args)

    def values(self, key: str) -> list[str | None]:
        return [_value(a) for a in self.args if _key(a) == _key(key)]

    def has(self, key: str) -> bool:
        return any(_key(a) == _key(key) for a in self.args)

    def append(self, arg: str) -> KernelArgs:
        return KernelArgs((*self.args, arg))

    def append_if_missing(self, arg: str) -> KernelArgs:
        return self if self.has(arg) else self.append(arg)

    def set(self, arg: str) -> KernelArgs:
        """The key's first place gets ``arg``, its other values go; absent: appended."""
        if not self.has(arg):
            return self.append(arg)
        out: list[str] = []
        for a in self.args:
            if _key(a) != _key(arg):
                out.append(a)
            elif not any(_key(o) == _key(arg) for o in out):
                out.append(arg)
        return KernelArgs(tuple(out))

    def replace(self, arg: str) -> KernelArgs:
        key, _, rest = arg.partition("=")
        values = self.values(key)
        if not values:
            raise SysrootError(
                f"No kernel argument {key!r} to replace",
                hint=f"`--append={arg}` adds it; `strata kargs` lists the current ones",
            )
        old, sep, new = rest.partition("=")
        if sep:  # KEY=OLD=NEW
            if old not in values:
                raise SysrootError(
                    f"No kernel argument {key}={old} to replace",
                    hint="`strata kargs` lists the current ones",
                )
            target = f"{key}={old}"
            index = next(i for i, a in enumerate(self.args) if _same(a, target))
            return KernelArgs((*self.args[:index], f"{key}={new}", *self.args[index + 1 :]))
        if len(values) > 1:
            raise SysrootError(
                f"Kernel argument {key!r} has several values: {_list(key, values)}",
                hint=f"name the one to change: --replace={key}=OLD=NEW",
            )
        return self.set(arg)

    def delete(self, arg: str, *, missing_ok: bool = False) -> KernelArgs:
        key = arg.partition("=")[0]
        values = self.values(key)
        if _value(arg) is None and len(values) > 1:
            raise SysrootError(
                f"Kernel argument {key!r} has several values: {_list(key, values)}",
                hint=f"name the one to delete: --delete={key}=VALUE",
            )
        matches = [
            a for a in self.args if _same(a, arg) or (_value(arg) is None and _key(a) == _key(arg))
        ]
        if not matches:
            if missing_ok:
                return self
            raise SysrootError(
                f"No kernel argument {arg!r} to delete",
                hint="`strata kargs` lists them; --delete-if-present ignores absent ones",
            )
        index = self.args.index(matches[0])
        return KernelArgs((*self.args[:index], *self.args[index + 1 :]))

    def edit(self, edits: Sequence[KargEdit]) -> KernelArgs:
        out = self
        for e in edits:
            arg = check_arg(e.arg)
            if e.op is KargOp.APPEND:
                out = out.append(arg)
            elif e.op is KargOp.APPEND_IF_MISSING:
                out = out.append_if_missing(arg)
            elif e.op is KargOp.REPLACE:
                out = out.replace(arg)
            elif e.op is KargOp.SET:
                out = out.set(arg)
            else:
                out = out.delete(arg, missing_ok=e.op is KargOp.DELETE_IF_PRESENT)
        return out


def _same(a: str, b: str) -> bool:
    return _key(a) == _key(b) and _value(a) == _value(b)


def _list(key: str, values: Iterable[str | None]) -> str:
    return ", ".join(key if v is None else f"{key}={v}" for v in values)


# -- where defaults come from ----------------------------------------------------------------


def tree_defaults(root: Path) -> tuple[str, ...]:
    """The arguments ``usr/lib/bootc/kargs.d/*.toml`` of a tree asks for, in file order."""
    directory = root / KARGS_D
    try:
        names = sorted(n for n in os.listdir(directory) if n.endswith(".toml"))
    except (FileNotFoundError, NotADirectoryError):
        return ()
    machine = _ARCH.get(platform.machine(), platform.machine())
    out: list[str] = []
    for name in names:
        path = directory / name
        if path.is_symlink() or not path.is_file():
            continue
        try:
            data = tomllib.loads(path.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
            raise ConfigError(
                f"Invalid kernel argument file /{KARGS_D}/{name}: {err}",
                hint='fix the tree\'s kargs.d file (TOML: kargs = ["KEY=VALUE", ...])',
            ) from err
        kargs, arches = data.get("kargs", []), data.get("match-architectures")
        if not isinstance(kargs, list) or not all(isinstance(k, str) for k in kargs):
            raise ConfigError(
                f"Invalid kernel argument file /{KARGS_D}/{name}: 'kargs' must list strings",
                hint="fix the tree's kargs.d file",
            )
        if isinstance(arches, list) and machine not in arches:
            continue
        for arg in (a for k in kargs for a in split(k)):
            try:
                out.append(check_arg(arg))
            except SysrootError as err:
                raise ConfigError(
                    f"Invalid kernel argument file /{KARGS_D}/{name}: {err.args[0]}",
                    hint="fix the tree's kargs.d file; ostree= is written by Strata",
                ) from err
    return tuple(out)


def read_defaults(directory: Path) -> tuple[str, ...]:
    try:
        return split((directory / DEFAULTS_FILE).read_text())
    except FileNotFoundError:
        return ()


def write_defaults(directory: Path, args: Sequence[str]) -> None:
    for arg in args:
        check_arg(arg)
    write_text(directory / DEFAULTS_FILE, " ".join(args) + "\n")


def for_new_deployment(
    merge_kargs: str | None,
    sysroot_defaults: Sequence[str],
    old_tree: Path | None,
    new_tree: Path,
    edits: Sequence[KargEdit] = (),
) -> str:
    """The options (without ``ostree=``) of a new deployment; see the module doc."""
    new_defaults = tree_defaults(new_tree)
    if merge_kargs is None:
        base = KernelArgs(tuple(sysroot_defaults))
        for arg in new_defaults:
            if not any(_same(arg, have) for have in base.args):
                base = base.append(arg)
    else:
        base = KernelArgs.parse(merge_kargs)
        old_defaults = tree_defaults(old_tree) if old_tree is not None else ()
        for arg in old_defaults:
            if arg not in new_defaults:
                base = base.delete(arg, missing_ok=True)
        for arg in new_defaults:
            if arg not in old_defaults:
                base = base.append(arg)
    return str(base.edit(edits))
