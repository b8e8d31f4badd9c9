"""Settings read from the environment, each checked before a command does any work.

An administrator or a test tunes a few limits through the environment rather
than a flag on every verb. A value that is not what the setting means
(``inf``, ``nan``, ``abc``, ``-1``, ``0`` for a duration) is an error naming the
variable, raised by ``check_environment`` when the command starts, never a
default silently used instead, nor a traceback after the downloads.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from core.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """One environment variable: its parser and what it must be (for the hint)."""

    name: str
    parse: Callable[[str], float | int]
    must_be: str
    default: float | int


def _positive_seconds(text: str) -> float:
    value = float(text)  # ValueError for "abc"
    if not math.isfinite(value) or value <= 0:
        raise ValueError(text)
    return value


def _epoch(text: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise ValueError(text)
    return int(text)


SCRIPT_TIMEOUT = Setting(
    "STRATA_SCRIPT_TIMEOUT", _positive_seconds, "a positive number of seconds", 300.0
)
FETCH_DEADLINE = Setting(
    "STRATA_FETCH_DEADLINE", _positive_seconds, "a positive number of seconds", 1800.0
)
SOURCE_DATE_EPOCH = Setting(
    "SOURCE_DATE_EPOCH", _epoch, "a whole number of seconds since 1970 (0 or more)", 0
)
SETTINGS: tuple[Setting, ...] = (SCRIPT_TIMEOUT, FETCH_DEADLINE, SOURCE_DATE_EPOCH)


def value(setting: Setting, environ: Mapping[str, str] = os.environ) -> float | int:
    """The setting's value (its default when unset or empty); ConfigError when malformed."""
    text = environ.get(setting.name, "").strip()
    if not text:
        return setting.default
    try:
        return setting.parse(text)
    except (ValueError, OverflowError):
        raise ConfigError(
            f"{setting.name}={environ.get(setting.name)!r} is not {setting.must_be}",
            hint=f"set {setting.name} to {setting.must_be}, or unset it "
            f"(default {setting.default:g})",
        ) from None


def check_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Every setting parsed once: the first malformed one raises ConfigError."""
    for setting in SETTINGS:
        value(setting, environ)
