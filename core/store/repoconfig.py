"""``REPO/config``: the repository's mode and its remotes, in libostree's key-file shape.

::

    [core]
    mode=archive

    [remote "fedora"]
    url=https://example.org/repo
    sign-verify=true
    verification-ed25519-key=BASE64;BASE64;

A store without the file is ``bare`` (stores made before remotes existed). Keys this
module does not know are kept when the file is rewritten.
"""

from __future__ import annotations

import configparser
import io
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from core import atomic
from core.errors import ConfigError, StoreError

_REMOTE_SECTION = re.compile(r'remote "([^"]+)"')
REMOTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class RepoMode(StrEnum):
    BARE = "bare"  # file objects carry real owners and modes: checkouts hardlink them
    ARCHIVE = "archive"  # every object a compressed static file: served over HTTP


@dataclass(frozen=True)
class Remote:
    name: str
    url: str
    sign_verify: bool = False
    verify_keys: tuple[str, ...] = ()  # base64 ed25519 public keys
    options: dict[str, str] = field(default_factory=dict)  # other keys (timeout, ...)


def _parser() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, delimiters=("=",), strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    return parser


def _load(repo: Path) -> configparser.ConfigParser:
    parser = _parser()
    try:
        text = (repo / "config").read_text()
    except FileNotFoundError:
        return parser
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"Cannot read {repo / 'config'}: {err}") from err
    try:
        parser.read_string(text)
    except configparser.Error as err:
        raise ConfigError(
            f"Malformed repository config {repo / 'config'}: {err}".splitlines()[0],
            hint="fix or remove the file (a store without it is a bare store with no remotes)",
        ) from err
    return parser


def _save(repo: Path, parser: configparser.ConfigParser) -> None:
    out = io.StringIO()
    parser.write(out)
    atomic.write_text(repo / "config", out.getvalue())


def read_mode(repo: Path) -> RepoMode:
    parser = _load(repo)
    value = parser.get("core", "mode", fallback=RepoMode.BARE.value)
    try:
        return RepoMode(value)
    except ValueError as err:
        raise ConfigError(
            f"{repo / 'config'}: unknown repository mode {value!r}", hint="use bare or archive"
        ) from err


def write_mode(repo: Path, mode: RepoMode) -> None:
    parser = _load(repo)
    if not parser.has_section("core"):
        parser.add_section("core")
    parser.set("core", "mode", mode.value)
    _save(repo, parser)


def _split(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(";") if item.strip())


def remotes(repo: Path) -> dict[str, Remote]:
    parser = _load(repo)
    out: dict[str, Remote] = {}
    for section in parser.sections():
        match = _REMOTE_SECTION.fullmatch(section)
        if match is None:
            continue
        items = dict(parser.items(section))
        name = match.group(1)
        url = items.pop("url", "")
        verify = items.pop("sign-verify", "false").strip().lower() in ("true", "1", "yes")
        keys = _split(items.pop("verification-ed25519-key", ""))
        out[name] = Remote(name, url, verify, keys, items)
    return dict(sorted(out.items()))


def remote(repo: Path, name: str) -> Remote:
    found = remotes(repo).get(name)
    if found is None:
        raise StoreError(
            f"No remote {name!r} in {repo}",
            hint="list remotes with `strata remote list`; add one with `strata remote add`",
        )
    return found


def check_remote_name(name: str) -> None:
    if REMOTE_NAME.fullmatch(name) is None:
        raise StoreError(
            f"Invalid remote name {name!r}",
            hint="use letters, digits, '.', '_' and '-' (at most 64), "
            "starting with a letter or digit",
        )


def add_remote(repo: Path, new: Remote) -> None:
    check_remote_name(new.name)
    parser = _load(repo)
    section = f'remote "{new.name}"'
    if parser.has_section(section):
        raise StoreError(
            f"Remote {new.name!r} already exists",
            hint=f"delete it first with `strata remote delete {new.name}`",
        )
    parser.add_section(section)
    parser.set(section, "url", new.url)
    parser.set(section, "sign-verify", "true" if new.sign_verify else "false")
    if new.verify_keys:
        parser.set(section, "verification-ed25519-key", ";".join(new.verify_keys) + ";")
    for key, value in sorted(new.options.items()):
        parser.set(section, key, value)
    _save(repo, parser)


def delete_remote(repo: Path, name: str) -> None:
    parser = _load(repo)
    if not parser.remove_section(f'remote "{name}"'):
        raise StoreError(
            f"No remote {name!r} in {repo}", hint="list them with `strata remote list`"
        )
    _save(repo, parser)
