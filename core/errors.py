"""One root exception and a subclass per domain.

Library code raises these with a message that says what failed, on what input and
what to do next; only the CLI turns them into exit codes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class StrataError(Exception):
    """Root of every error Strata reports to a user."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint

    def with_context(self, context: str) -> StrataError:
        """Return a copy of this error prefixed by ``context`` ("Staging deployment: ...")."""
        err = type(self).__new__(type(self))
        err.__dict__.update(self.__dict__)
        err.args = (f"{context}: {self.args[0] if self.args else ''}", *self.args[1:])
        return err

    def details(self) -> list[str]:
        """Lines shown under the message, before the hint (subclasses add theirs)."""
        return []

    def __str__(self) -> str:
        text = str(self.args[0]) if self.args else ""
        for line in self.details():
            text += f"\n  {line}"
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


@contextmanager
def error_context(context: str) -> Iterator[None]:
    """Prefix any StrataError raised inside with ``context``, keeping its class and hint.

    Phases nest, so a failure reads as the path to it, outermost first, the way
    libostree's ``GLNX_AUTO_PREFIX_ERROR`` builds "Staging deployment: writing origin: …".
    """
    try:
        yield
    except StrataError as err:
        raise err.with_context(context) from err


class StoreError(StrataError):
    """The object store: missing objects or refs, corruption, hostile trees."""


class SysrootError(StrataError):
    """Sysroot layout, deployments, boot entries, /etc merge."""


class LockError(SysrootError):
    """Another mutating command holds the sysroot lock."""


class SolveError(StrataError):
    """The solver found problems; ``problems`` lists every one of them."""

    def __init__(self, message: str, *, problems: tuple[str, ...] = (), hint: str | None = None):
        super().__init__(message, hint=hint)
        self.problems = problems

    def details(self) -> list[str]:
        return [f"- {problem}" for problem in self.problems]


class FetchError(StrataError):
    """Downloading or verifying repository metadata or packages."""


class PackageError(StrataError):
    """A malformed, corrupted or hostile RPM."""


class ConflictError(StrataError):
    """Two packages (or a package and the base) provide one path differently."""


class TriggerError(StrataError):
    """A scriptlet or file trigger failed in the sandbox."""

    def __init__(
        self,
        message: str,
        *,
        command: tuple[str, ...] = (),
        returncode: int | None = None,
        output_tail: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.command = command
        self.returncode = returncode
        self.output_tail = output_tail

    def details(self) -> list[str]:
        if not self.output_tail:
            return []
        return ["last output:", *("  " + line for line in self.output_tail.splitlines())]


class ConfigError(StrataError):
    """Malformed input files: treefiles, .repo files, origin files."""
