"""Text files of the sysroot, decoded as untrusted input.

Boot entries, origin files and state files are written by Strata, but anyone
with root (or a broken tool) may have edited them. A byte that is not UTF-8 is
tolerated where the line is only ever displayed (a comment, a boot entry's
title: it shows with U+FFFD) and refused, naming the file and the line,
wherever the text would be acted upon. Never a ``UnicodeDecodeError``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.errors import StrataError


def comment(line: str) -> bool:
    return line.startswith("#") or line.startswith(";")


def decode_text(
    data: bytes,
    path: Path,
    *,
    displayed: Callable[[str], bool] = comment,
    error: type[StrataError] = StrataError,
    hint: str = "restore or fix the file; nothing was changed",
) -> str:
    """``data`` as text; lines that are not UTF-8 pass only when ``displayed`` says so."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        pass
    lines = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            lines.append(raw.decode())
            continue
        except UnicodeDecodeError:
            text = raw.decode("utf-8", "replace")
        if not displayed(text.strip()):
            raise error(f"{path}:{number} is not UTF-8 text: {text.strip()!r}", hint=hint)
        lines.append(text)
    return "\n".join(lines)


def read_text(path: Path, **kw: object) -> str:
    """``decode_text`` of a file's bytes (OSError as ``Path.read_bytes``)."""
    return decode_text(path.read_bytes(), path, **kw)  # type: ignore[arg-type]
