"""Read ``.repo`` files the way dnf does, into frozen ``RepoConfig`` values.

Administrators already have ``/etc/yum.repos.d``; reading it with dnf's rules
(several sections per file, ``$basearch`` substitution, lists separated by
spaces or commas, yes/no/1/0 booleans) means their files work unchanged.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from core import settings
from core.errors import ConfigError
from solver.types import RepoConfig, Speed

_TRUE = {"1", "yes", "true", "on"}
_FALSE = {"0", "no", "false", "off"}
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_REPO_ID = re.compile(r"^[A-Za-z0-9_.:-]+$")


def substitute(text: str, variables: Mapping[str, str]) -> str:
    """Replace ``$var`` and ``${var}``; unknown variables stay as written (as dnf does)."""

    def one(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return variables.get(name, match.group(0))

    return _VARIABLE.sub(one, text)


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(part for part in re.split(r"[\s,]+", value.strip()) if part)


def _as_url(value: str) -> str:
    return "file://" + value if value.startswith("/") else value


def _line_of(text: str, section: str, key: str | None = None) -> int:
    """The 1-based line of a section header (or of ``key`` inside it), for error messages."""
    lines = text.splitlines()
    start = 0
    for number, line in enumerate(lines):
        if line.strip() == f"[{section}]":
            start = number
            if key is None:
                return number + 1
            break
    for number in range(start + 1, len(lines)):
        stripped = lines[number].strip()
        if stripped.startswith("["):
            break
        if re.match(rf"^{re.escape(key or '')}\s*[=:]", stripped):
            return number + 1
    return start + 1


def _bool(value: str, *, where: str, key: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(
        f"{where}: {key}={value!r} is not a boolean",
        hint="use 1/0, yes/no, true/false or on/off",
    )


_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}
_BYTES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]?)\s*$")


def _number(value: str, units: Mapping[str, int], *, where: str, key: str, meaning: str) -> float:
    """dnf's ``30``, ``1.5m`` (timeout) or ``10k`` (minrate): a finite number and a unit."""
    match = _NUMBER.match(value)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in units:
        raise ConfigError(
            f"{where}: {key}={value!r} is not {meaning}",
            hint=f"write {key}= as a number with an optional unit "
            f"({', '.join(u for u in units if u)})",
        )
    return float(match.group(1)) * units[unit]


def _speed(items: Mapping[str, str], where: Callable[[str], str]) -> Speed:
    """``timeout=`` (seconds, > 0) and ``minrate=`` (bytes/s, 0 disables) as dnf reads them."""
    speed = Speed(deadline=float(settings.value(settings.FETCH_DEADLINE)))
    timeout, minrate = speed.timeout, speed.minrate
    if "timeout" in items:
        timeout = _number(
            items["timeout"], _SECONDS, where=where("timeout"), key="timeout", meaning="seconds"
        )
        if timeout <= 0:
            raise ConfigError(
                f"{where('timeout')}: timeout={items['timeout']!r} must be more than 0 seconds",
                hint="dnf's default is timeout=30",
            )
    if "minrate" in items:
        minrate = int(
            _number(
                items["minrate"], _BYTES, where=where("minrate"), key="minrate", meaning="bytes/s"
            )
        )
    return Speed(timeout=timeout, minrate=minrate, deadline=speed.deadline)


def _parse(path: Path, text: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=True, delimiters=("=",))
    parser.optionxform = str.lower  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(text, source=str(path))
    except configparser.MissingSectionHeaderError as err:
        raise ConfigError(
            f"{path}:{err.lineno}: text before the first [repo] section: {err.line.strip()!r}",
            hint="every setting of a .repo file belongs to a [repo-id] section",
        ) from err
    except configparser.ParsingError as err:
        lineno, line = err.errors[0]
        raise ConfigError(
            f"{path}:{lineno}: cannot parse {line.strip()!r}",
            hint="each line of a .repo file is `key=value`, a [section] or a comment",
        ) from err
    except (configparser.DuplicateSectionError, configparser.DuplicateOptionError) as err:
        raise ConfigError(
            f"{path}:{err.lineno}: {err.message.split(': ', 1)[-1]}",
            hint="each repo id and each key may appear only once",
        ) from err
    except configparser.Error as err:
        raise ConfigError(f"{path}: {err}", hint="fix the .repo file syntax") from err
    return parser


def _section(
    path: Path, text: str, parser: configparser.RawConfigParser, section: str, v: Mapping[str, str]
) -> RepoConfig:
    where = f"{path}:{_line_of(text, section)}"
    if not _REPO_ID.match(section) or section in (".", ".."):
        raise ConfigError(
            f"{where}: repo id [{section}] has characters dnf does not allow",
            hint="use letters, digits and - _ . : only",
        )
    items = {key: substitute(value, v) for key, value in parser.items(section)}

    def flag(key: str, default: bool) -> bool:
        if key not in items:
            return default
        return _bool(items[key], where=f"{path}:{_line_of(text, section, key)}", key=key)

    enabled = flag("enabled", True)
    baseurls = _split_list(items.get("baseurl", ""))
    lists = {k: items.get(k, "").strip() for k in ("metalink", "mirrorlist")}
    if enabled and not baseurls and not any(lists.values()):
        raise ConfigError(
            f"{where}: repo {section!r} is enabled but has no baseurl, mirrorlist or metalink",
            hint=f"set baseurl= (or mirrorlist=, metalink=) for {section!r}, or set enabled=0",
        )
    for key, urls in (("baseurl", baseurls), *((k, (v,) if v else ()) for k, v in lists.items())):
        for url in urls:
            if not url.startswith(("file://", "http://", "https://", "/")):
                raise ConfigError(
                    f"{path}:{_line_of(text, section, key)}: repo {section!r}: "
                    f"unsupported {key} {url!r}",
                    hint=f"{key} must be file://, http:// or https://",
                )
    return RepoConfig(
        id=section,
        name=items.get("name", section),
        baseurls=tuple(_as_url(u) for u in baseurls),
        enabled=enabled,
        gpgcheck=flag("gpgcheck", False),
        gpgkeys=_split_list(items.get("gpgkey", "")),
        skip_if_unavailable=flag("skip_if_unavailable", False),
        mirrorlist=_as_url(lists["mirrorlist"]),
        metalink=_as_url(lists["metalink"]),
        speed=_speed(items, lambda key: f"{path}:{_line_of(text, section, key)}"),
    )


def read_repo_file(path: Path, variables: Mapping[str, str]) -> list[RepoConfig]:
    """Every repo of one file, in file order; ``ConfigError`` names the file and line."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read repo file {path}: {err}", hint="check the file") from err
    parser = _parse(path, text)
    return [_section(path, text, parser, name, variables) for name in parser.sections()]


def read_repo_files(directory: Path, variables: Mapping[str, str]) -> list[RepoConfig]:
    """All repos of ``directory/*.repo`` (sorted by file name), enabled or not.

    A repo id defined twice is an error rather than dnf's warning: which one
    wins would otherwise depend on file names, and layering must be predictable.
    """
    if not directory.is_dir():
        raise ConfigError(
            f"repo directory {directory} does not exist",
            hint="create it or point Strata at the directory holding your .repo files",
        )
    seen: dict[str, Path] = {}
    repos: list[RepoConfig] = []
    for path in sorted(directory.glob("*.repo")):
        for repo in read_repo_file(path, variables):
            if repo.id in seen:
                raise ConfigError(
                    f"repo {repo.id!r} is defined in both {seen[repo.id]} and {path}",
                    hint="remove or rename one of them",
                )
            seen[repo.id] = path
            repos.append(repo)
    return repos
