"""The data that crosses the triggers seam: what runs, in which order, with what input."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

LUA = "<lua>"
"""rpm's marker for a scriptlet run by its embedded Lua interpreter (``-p <lua>``)."""

DEFAULT_INTERP = ("/bin/sh",)


class ScriptKind(StrEnum):
    """The scriptlets and triggers Strata runs, named as rpm prints them."""

    PRE = "%pre"
    POST = "%post"
    POSTTRANS = "%posttrans"
    TRIGGERIN = "%triggerin"
    FILETRIGGERIN = "%filetriggerin"
    TRANSFILETRIGGERIN = "%transfiletriggerin"


@dataclass(frozen=True)
class Script:
    """One script to run in the sandbox.

    ``interp`` is the interpreter with its arguments (``("/bin/sh",)``,
    ``("<lua>",)``, ``("/sbin/ldconfig",)``); ``body`` is None for the
    ``-p /sbin/ldconfig`` form, where the interpreter runs on its own.
    ``arg`` holds rpm's numeric arguments ($1, $2): 1 for an install.
    ``stdin`` lists the paths a file trigger is fed, one per line.
    ``trigger_of`` names the package that set an old-style trigger off.
    ``fix_hint`` says what to do when it fails, for a script no package ships (a
    treefile's postprocess line); empty: the advice for a package's script.
    """

    package: str
    kind: ScriptKind
    interp: tuple[str, ...]
    body: str | None
    arg: tuple[int, ...] = (1,)
    stdin: tuple[str, ...] = ()
    nevra: str = ""
    trigger_of: str = ""
    priority: int = 0
    fix_hint: str = ""

    @property
    def label(self) -> str:
        """``package:%kind``, how errors and progress name the script."""
        return f"{self.package}:{self.kind}"

    @property
    def is_lua(self) -> bool:
        return self.interp[:1] == (LUA,)


@dataclass(frozen=True)
class ScriptPlan:
    """Every script of one operation, in run order; ``ignored`` names those an override dropped."""

    scripts: tuple[Script, ...] = ()
    ignored: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.scripts)

    @property
    def needs_lua(self) -> bool:
        return any(s.is_lua for s in self.scripts)
