"""The treefile of ``compose tree``: YAML, validated strictly before anything is written.

A typo in a treefile (``packges:``) must not silently compose a different base, so
unknown keys and wrong types are errors naming the key and the file, as
rpm-ostree's treefile parser does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError
from layering.engine.initramfs import DEFAULT_MODULES, Compression, InitramfsConfig

_KEYS = {
    "ref",
    "repos",
    "packages",
    "releasever",
    "osname",
    "add-commit-metadata",
    "postprocess",
    "basearch",
    "kargs",
    "initramfs",
}
_INITRAMFS_KEYS = {"busybox", "ostree-prepare-root", "modules", "compression"}


@dataclass(frozen=True)
class Treefile:
    path: Path
    ref: str
    repos: tuple[str, ...]
    packages: tuple[str, ...]
    releasever: str | None = None
    osname: str | None = None
    basearch: str = "x86_64"
    add_commit_metadata: Mapping[str, str] = field(default_factory=dict)
    postprocess: tuple[str, ...] = ()
    kargs: tuple[str, ...] = ()  # written to usr/lib/bootc/kargs.d/10-treefile.toml
    initramfs: InitramfsConfig | None = None

    @property
    def directory(self) -> Path:
        """Where the ``*.repo`` files named by ``repos`` live."""
        return self.path.parent

    def canonical(self) -> str:
        """A stable text of everything that shapes the result (for the input hash)."""
        return json.dumps(
            {
                "ref": self.ref,
                "repos": list(self.repos),
                "packages": list(self.packages),
                "releasever": self.releasever,
                "osname": self.osname,
                "basearch": self.basearch,
                "add-commit-metadata": dict(sorted(self.add_commit_metadata.items())),
                "postprocess": list(self.postprocess),
                "kargs": list(self.kargs),
                "initramfs": None
                if self.initramfs is None
                else {
                    "busybox": str(self.initramfs.busybox),
                    "ostree-prepare-root": str(self.initramfs.prepare_root),
                    "modules": list(self.initramfs.modules),
                    "compression": str(self.initramfs.compression),
                },
            },
            sort_keys=True,
        )


def _fail(path: Path, message: str) -> ConfigError:
    return ConfigError(f"treefile {path}: {message}", hint="fix the treefile and run again")


def _string(path: Path, key: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _fail(path, f"'{key}' must be a string, not {type(value).__name__}")
    text = str(value)
    if not text.strip():
        raise _fail(path, f"'{key}' must not be empty")
    return text


def _strings(path: Path, key: str, value: Any, *, allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(path, f"'{key}' must be a list of strings, not {type(value).__name__}")
    out = tuple(_string(path, f"{key}[{i}]", item) for i, item in enumerate(value))
    if not out and not allow_empty:
        raise _fail(path, f"'{key}' must not be empty")
    return out


def parse(text: str, path: Path) -> Treefile:
    """Validate a treefile's text; ConfigError names the first bad key."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise _fail(path, f"not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise _fail(path, "must be a YAML mapping (key: value lines)")
    unknown = sorted(str(k) for k in data if k not in _KEYS)
    if unknown:
        raise _fail(
            path,
            f"unknown key(s) {', '.join(repr(k) for k in unknown)}; "
            f"known keys: {', '.join(sorted(_KEYS))}",
        )
    for required in ("ref", "repos", "packages"):
        if required not in data:
            raise _fail(path, f"missing required key '{required}'")
    metadata = data.get("add-commit-metadata", {})
    if not isinstance(metadata, dict):
        raise _fail(path, "'add-commit-metadata' must be a mapping")
    meta = {
        _string(path, "add-commit-metadata key", k): _metadata_value(path, str(k), v)
        for k, v in metadata.items()
    }
    releasever = data.get("releasever")
    osname = data.get("osname")
    return Treefile(
        path=path,
        ref=_string(path, "ref", data["ref"]),
        repos=_strings(path, "repos", data["repos"]),
        packages=_strings(path, "packages", data["packages"]),
        releasever=None if releasever is None else _string(path, "releasever", releasever),
        osname=None if osname is None else _string(path, "osname", osname),
        basearch=_string(path, "basearch", data.get("basearch", "x86_64")),
        add_commit_metadata=meta,
        postprocess=_strings(path, "postprocess", data.get("postprocess", []), allow_empty=True),
        kargs=_kargs(path, data.get("kargs", [])),
        initramfs=None if data.get("initramfs") is None else _initramfs(path, data["initramfs"]),
    )


def _kargs(path: Path, value: Any) -> tuple[str, ...]:
    args = _strings(path, "kargs", value, allow_empty=True)
    for arg in args:
        if len(arg.split()) != 1 or arg.partition("=")[0] in ("", "ostree"):
            raise _fail(path, f"'kargs' entry {arg!r} is not one KEY[=VALUE] argument")
    return args


def _initramfs(path: Path, value: Any) -> InitramfsConfig:
    """``initramfs: {busybox: PATH, ostree-prepare-root: PATH, modules: [...],
    compression: gzip|zstd}``; relative paths are relative to the treefile."""
    if not isinstance(value, dict):
        raise _fail(path, "'initramfs' must be a mapping")
    unknown = sorted(str(k) for k in value if k not in _INITRAMFS_KEYS)
    if unknown:
        raise _fail(path, f"unknown 'initramfs' key(s) {', '.join(map(repr, unknown))}")
    for required in ("busybox", "ostree-prepare-root"):
        if required not in value:
            raise _fail(path, f"'initramfs' needs '{required}' (a path on the build host)")
    compression = _string(path, "initramfs.compression", value.get("compression", "gzip"))
    if compression not in {c.value for c in Compression}:
        raise _fail(path, f"'initramfs.compression' must be gzip or zstd, not {compression!r}")
    modules = value.get("modules", list(DEFAULT_MODULES))
    return InitramfsConfig(
        busybox=path.parent / _string(path, "initramfs.busybox", value["busybox"]),
        prepare_root=path.parent
        / _string(path, "initramfs.ostree-prepare-root", value["ostree-prepare-root"]),
        modules=_strings(path, "initramfs.modules", modules, allow_empty=True),
        compression=Compression(compression),
    )


def _metadata_value(path: Path, key: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float | list | dict) or value is None:
        return json.dumps(value, sort_keys=True)
    raise _fail(path, f"'add-commit-metadata.{key}' has an unsupported type")


def load(path: Path) -> Treefile:
    try:
        text = path.read_text()
    except OSError as err:
        raise ConfigError(
            f"cannot read treefile {path}: {err.strerror}", hint="check the path"
        ) from err
    return parse(text, path.resolve())
