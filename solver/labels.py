"""What a package's name, epoch, version, release and arch may hold.

These fields come from repository metadata and RPM headers (hostile input) and
end up in file names, refs, origin files and ``status``: a name ``../../x`` or
one holding a newline is refused wherever it is read.
"""

from __future__ import annotations

from core.errors import PackageError, StrataError

# Characters a package label never needs, and that would make a path or a line of
# output ambiguous: separators, whitespace, controls.
_FORBIDDEN = frozenset("/\\" + "".join(map(chr, range(33))) + "\x7f")


def check_label(
    value: str,
    what: str,
    *,
    error: type[StrataError] = PackageError,
    where: str = "a package",
) -> None:
    """``error`` unless ``value`` is a non-empty label that is safe in a path or a line."""
    if (
        not value
        or value in (".", "..")
        or value.startswith("-")
        or any(c in _FORBIDDEN for c in value)
        or not value.isprintable()
    ):
        raise error(
            f"refusing {where} whose {what} is {value!r}: not a plain label",
            hint="the package or its repository metadata is malformed or hostile",
        )
