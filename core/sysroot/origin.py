"""The ``.origin`` file beside each deployment: what the deployment was built from.

The format is libostree's key file (ini with ``;``-terminated lists), so an administrator
who knows rpm-ostree reads it at a glance::

    [origin]
    baserefspec=fedora/x86_64/base

    [packages]
    requested=strace;vim;

Keys this module does not know are kept verbatim in ``Origin.extra`` and written back,
so a newer tool's additions survive an older tool's rewrite.
"""

from __future__ import annotations

import configparser
from collections.abc import Iterable
from dataclasses import dataclass, replace

from core.errors import ConfigError

TRANSIENT = "libostree-transient"

# (section, key) -> Origin field holding a list.
_LIST_KEYS: dict[tuple[str, str], str] = {
    ("packages", "requested"): "requested",
    ("packages", "requested-local"): "requested_local",
    ("packages", "requested-fileoverride"): "fileoverride",
    ("overrides", "remove"): "override_remove",
    ("overrides", "replace-local"): "override_replace_local",
}
_SECTION_ORDER = ("origin", "packages", "overrides")


def _split_list(value: str) -> tuple[str, ...]:
    """GKeyFile string list: ``a;b;`` (``\\;`` escapes a literal semicolon)."""
    items: list[str] = []
    current: list[str] = []
    chars = iter(value)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars, "")
            current.append(nxt if nxt == ";" else ch + nxt)
        elif ch == ";":
            items.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    tail = "".join(current).strip()
    if tail:
        items.append(tail)
    return tuple(item for item in items if item)


def _join_list(items: Iterable[str]) -> str:
    return "".join(item.replace(";", "\\;") + ";" for item in items)


@dataclass(frozen=True)
class Origin:
    """The parsed origin: base ref, layering requests, overrides, and unknown keys."""

    refspec: str
    layered: bool
    requested: tuple[str, ...] = ()
    requested_local: tuple[str, ...] = ()
    override_remove: tuple[str, ...] = ()
    override_replace_local: tuple[str, ...] = ()
    fileoverride: tuple[str, ...] = ()  # requested names whose files replace others'
    extra: tuple[tuple[str, str, str], ...] = ()

    @property
    def pinned(self) -> bool:
        """libostree keeps the pin in the origin's transient group."""
        return any(
            (section, key) == (TRANSIENT, "pinned") and value.strip().lower() in ("true", "1")
            for section, key, value in self.extra
        )

    def with_pinned(self, pinned: bool) -> Origin:
        kept = tuple(e for e in self.extra if (e[0], e[1]) != (TRANSIENT, "pinned"))
        if pinned:
            kept += ((TRANSIENT, "pinned", "true"),)
        return replace(self, extra=kept)

    def without_transient(self) -> Origin:
        """A new deployment starts without the old one's transient state (the pin)."""
        return replace(self, extra=tuple(e for e in self.extra if e[0] != TRANSIENT))

    def to_ini(self) -> str:
        sections: dict[str, list[tuple[str, str]]] = {}
        key = "baserefspec" if self.layered else "refspec"
        sections.setdefault("origin", []).append((key, self.refspec))
        for (section, name), field in _LIST_KEYS.items():
            values: tuple[str, ...] = getattr(self, field)
            if values:
                sections.setdefault(section, []).append((name, _join_list(values)))
        for section, name, value in self.extra:
            sections.setdefault(section, []).append((name, value))
        order = [s for s in _SECTION_ORDER if s in sections]
        order += [s for s in sections if s not in _SECTION_ORDER]
        blocks = []
        for section in order:
            body = "".join(f"{name}={value}\n" for name, value in sections[section])
            blocks.append(f"[{section}]\n{body}")
        return "\n".join(blocks)

    @classmethod
    def from_ini(cls, text: str) -> Origin:
        parser = configparser.ConfigParser(
            interpolation=None,
            delimiters=("=",),
            comment_prefixes=("#",),
            inline_comment_prefixes=None,
            strict=True,
            empty_lines_in_values=False,
            default_section="\0no-default",
        )
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(text)
        except configparser.Error as err:
            raise ConfigError(
                f"Malformed origin file: {err.message.splitlines()[0]}",
                hint="fix or remove the deployment's .origin file",
            ) from err
        if not parser.has_section("origin"):
            raise ConfigError(
                "Malformed origin file: no [origin] group",
                hint="an origin needs [origin] refspec= or baserefspec=",
            )
        origin = parser["origin"]
        if ("refspec" in origin) == ("baserefspec" in origin):
            raise ConfigError(
                "Malformed origin file: [origin] needs exactly one of refspec= and baserefspec=",
                hint="write refspec=REF for a plain base, baserefspec=REF when layered",
            )
        layered = "baserefspec" in origin
        refspec = origin["baserefspec" if layered else "refspec"].strip()
        if not refspec:
            raise ConfigError("Malformed origin file: empty refspec", hint="name the base ref")
        lists: dict[str, tuple[str, ...]] = {}
        extra: list[tuple[str, str, str]] = []
        for section in parser.sections():
            for name, value in parser[section].items():
                if section == "origin" and name in ("refspec", "baserefspec"):
                    continue
                field = _LIST_KEYS.get((section, name))
                if field is not None:
                    lists[field] = _split_list(value)
                else:
                    extra.append((section, name, value))
        return cls(refspec=refspec, layered=layered, extra=tuple(extra), **lists)
