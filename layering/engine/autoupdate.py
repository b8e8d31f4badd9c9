"""Automatic updates, as rpm-ostree's ``AutomaticUpdatePolicy``.

The policy lives in ``/etc/strata/strata.conf`` of the running system (with ``--sysroot``:
the booted deployment's ``/etc``, else the newest one's)::

    [Daemon]
    AutomaticUpdatePolicy=stage     # none (the default) | check | stage

``strata upgrade --trigger-automatic-update-policy`` (what ``strata-automatic.service``
runs from its timer) does nothing for ``none``, an ``upgrade --check`` for ``check`` and a
full ``upgrade`` for ``stage``: with a booted system the new deployment is staged and
``strata-finalize-staged.service`` finalizes it at shutdown.
"""

from __future__ import annotations

import configparser
from enum import StrEnum
from pathlib import Path

from core.errors import ConfigError
from core.sysroot import Sysroot

CONF = Path("etc/strata/strata.conf")


class Policy(StrEnum):
    NONE = "none"
    CHECK = "check"
    STAGE = "stage"


def config_path(sysroot: Sysroot, osname: str) -> Path | None:
    """The strata.conf of the booted deployment of ``osname`` (else its newest one)."""
    booted = sysroot.booted()
    deployment = booted if booted is not None and booted.osname == osname else None
    deployment = deployment or sysroot.merge_deployment(osname)
    return None if deployment is None else deployment.path / CONF


def read_policy(path: Path | None) -> Policy:
    if path is None:
        return Policy.NONE
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        parser.read_string(path.read_text(), source=str(path))
    except FileNotFoundError:
        return Policy.NONE
    except (OSError, UnicodeDecodeError, configparser.Error) as err:
        raise ConfigError(
            f"Cannot read {path}: {err}".splitlines()[0],
            hint="fix the file: [Daemon] AutomaticUpdatePolicy=none|check|stage",
        ) from err
    value = parser.get("Daemon", "AutomaticUpdatePolicy", fallback="none").strip().lower()
    if value == "off":  # rpm-ostree's synonym
        value = "none"
    try:
        return Policy(value)
    except ValueError as err:
        raise ConfigError(
            f"{path}: unknown AutomaticUpdatePolicy {value!r}",
            hint="use none, check or stage",
        ) from err
