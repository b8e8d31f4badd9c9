"""Apply a deployment's ``tmpfiles.d`` to its stateroot's shared ``/var``.

A commit carries no ``/var`` content, only tmpfiles.d lines; every boot creates what is
missing. Two things differ from running ``systemd-tmpfiles --root=DEPLOYMENT``: the
target ``/var`` lives outside the deployment (``ostree/deploy/OS/var``), and user and
group names resolve through the deployment's own ``etc/passwd`` *and* ``usr/lib/passwd``
(nss-altfiles), where layered packages put their users. Nothing existing is ever
overwritten or re-owned, and no symlink inside ``/var`` is followed.
"""

from __future__ import annotations

import io
import os
import posixpath
import shlex
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

_DIR_TYPES = frozenset("dDvqQ")
_HEX = frozenset("0123456789abcdefABCDEF")
_HANDLED = _DIR_TYPES | frozenset("fFLpC")
# What a ``C`` line copies: the bytes and permission bits of a regular file of the
# deployment, or None when the source is missing or not a plain file.
SourceReader = Callable[[str], tuple[bytes, int] | None]


@dataclass(frozen=True)
class TmpfilesLine:
    kind: str  # the type letter, modifiers stripped
    path: str
    mode: int | None
    user: str | None
    group: str | None
    argument: str | None
    source: str  # "file.conf:LINE", for warnings


def _field(value: str | None) -> str | None:
    return None if value in (None, "", "-") else value


def _split(raw: str) -> tuple[list[str], str]:
    """The first six fields (unquoted, as systemd's extract_first_word does) and the
    argument: the rest of the line as written, which systemd does not unquote."""
    stream = io.StringIO(raw.strip())
    lexer = shlex.shlex(stream, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    fields: list[str] = []
    while len(fields) < 6:
        token = lexer.get_token()
        if token is None or token == lexer.eof:
            return fields, ""
        fields.append(token)
    return fields, stream.read().strip()


def _cunescape(text: str) -> str:
    """systemd's C unescaping of an argument: backslash, hex, tab, newline, quotes."""
    out, i = [], 0
    simple = {"\\": "\\", "t": "\t", "n": "\n", '"': '"', "'": "'", "a": "\a", "r": "\r"}
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt in simple:
                out.append(simple[nxt])
                i += 2
                continue
            digits = text[i + 2 : i + 4]
            if nxt == "x" and len(digits) == 2 and all(c in _HEX for c in digits):
                out.append(chr(int(digits, 16)))
                i += 4
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def parse_tmpfiles(text: str, source: str) -> tuple[list[TmpfilesLine], list[str]]:
    """Lines of one tmpfiles.d file, plus warnings for lines that cannot be understood."""
    lines: list[TmpfilesLine] = []
    warnings: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        where = f"{source}:{number}"
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        try:
            fields, rest = _split(raw)
        except ValueError as err:
            warnings.append(f"{where}: {err}")
            continue
        if len(fields) < 2:
            warnings.append(f"{where}: a line needs at least a type and a path")
            continue
        kind = fields[0].rstrip("!-=~^+")
        mode_text = _field(fields[2] if len(fields) > 2 else None)
        mode: int | None = None
        if mode_text is not None:
            try:
                mode = int(mode_text.lstrip("~:"), 8) & 0o7777
            except ValueError:
                warnings.append(f"{where}: bad mode {mode_text!r}")
                continue
        if len(kind) != 1:
            warnings.append(f"{where}: unknown type {fields[0]!r}")
            continue
        lines.append(
            TmpfilesLine(
                kind=kind,
                path=fields[1].replace("%%", "%"),
                mode=mode,
                user=_field(fields[3] if len(fields) > 3 else None),
                group=_field(fields[4] if len(fields) > 4 else None),
                argument=_field(_cunescape(rest).replace("%%", "%") if rest else None),
                source=where,
            )
        )
    return lines, warnings


def through_links(root: Path, path: str) -> str:
    """The ``/var`` path a line really names when a parent is a link into ``/var``.

    A composed tree links ``/opt`` to ``var/opt`` and ``/usr/local`` to
    ``../var/usrlocal``; systemd-tmpfiles follows such a link in a parent, so
    ``L /opt/app - - - - /usr/lib/opt/app`` creates ``/var/opt/app``. Only links in the
    deployment itself are followed (never inside ``/var``), and a path that does not
    end up under ``/var`` is returned unchanged.
    """
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] == "var":
        return path
    for _ in range(8):  # a bounded number of hops: a link loop stops here
        for i in range(len(parts) - 1):  # parents only: the last component is the entry
            here = root.joinpath(*parts[: i + 1])
            if here.is_symlink():
                target = os.readlink(here)
                parent = "" if target.startswith("/") else "/".join(parts[:i])
                joined = posixpath.normpath(f"/{parent}/{target}")
                parts = [p for p in joined.split("/") if p] + parts[i + 1 :]
                break
        else:
            break
        if parts[:1] == ["var"]:
            return "/" + "/".join(parts)
    return path


def read_config(root: Path) -> tuple[list[TmpfilesLine], list[str]]:
    """A deployment's tmpfiles.d: ``etc/tmpfiles.d`` overrides ``usr/lib/tmpfiles.d`` by name.

    Paths whose parent is a link into ``/var`` (``/opt/X``) are given as the ``/var``
    path the link leads to (``through_links``).
    """
    chosen: dict[str, Path] = {}
    for rel in ("usr/lib/tmpfiles.d", "etc/tmpfiles.d"):  # later wins
        directory = root / rel
        if directory.is_dir() and not directory.is_symlink():
            for name in os.listdir(directory):
                path = directory / name
                if name.endswith(".conf") and path.is_file() and not path.is_symlink():
                    chosen[name] = path
    lines: list[TmpfilesLine] = []
    warnings: list[str] = []
    for name in sorted(chosen):
        parsed, warned = parse_tmpfiles(chosen[name].read_text(errors="replace"), name)
        lines += [replace(line, path=through_links(root, line.path)) for line in parsed]
        warnings += warned
    return lines, warnings


def read_ids(root: Path, database: str) -> dict[str, int]:
    """name -> id from ``etc/DATABASE`` then ``usr/lib/DATABASE`` (the first mention wins)."""
    ids: dict[str, int] = {}
    for rel in (f"etc/{database}", f"usr/lib/{database}"):
        path = root / rel
        if not path.is_file() or path.is_symlink():
            continue
        for raw in path.read_text(errors="replace").splitlines():
            parts = raw.split(":")
            if len(parts) >= 3 and parts[0] and parts[2].isdigit():
                ids.setdefault(parts[0], int(parts[2]))
    return ids


def _resolve_id(value: str | None, table: Mapping[str, int]) -> int | None:
    if value is None:
        return 0
    if value.isdigit():
        return int(value)
    return table.get(value)


def _safe_target(var_dir: Path, path: str) -> Path | None:
    """``/var/a/b`` -> ``var_dir/a/b`` with every existing parent a real directory."""
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] != "var" or any(p in (".", "..") for p in parts):
        return None
    current = var_dir
    for part in parts[1:-1]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current, 0o755)
            continue
        if not stat.S_ISDIR(st.st_mode):
            return None
    return var_dir.joinpath(*parts[1:]) if len(parts) > 1 else var_dir


def _path_key(line: TmpfilesLine) -> tuple[str, ...]:
    return tuple(p for p in line.path.split("/") if p)


def _under_run_link(var_dir: Path, path: str) -> bool:
    """Whether ``path`` (``/var/...``) goes through a link of ``var_dir`` into ``/run``,
    such as ``/var/run -> ../run`` or ``/var/lock -> ../run/lock``: what lies there is
    runtime state that systemd-tmpfiles creates at every boot, nothing to lay out now."""
    parts = [p for p in path.split("/") if p][1:]
    for i in range(len(parts) - 1):
        here = var_dir.joinpath(*parts[: i + 1])
        if here.is_symlink():
            parent = "/var/" + "/".join(parts[:i])
            joined = posixpath.normpath(posixpath.join(parent, os.readlink(here)))
            return joined == "/run" or joined.startswith("/run/")
        if not here.is_dir():
            return False
    return False


def tree_source(root: Path) -> SourceReader:
    """Read ``C`` sources from the deployment at ``root``: a regular file reached without
    following any symlink (the tree is input like any other)."""

    def read(path: str) -> tuple[bytes, int] | None:
        parts = [p for p in path.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            return None
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return None
        try:
            for part in parts[:-1]:
                nxt = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
                os.close(fd)
                fd = nxt
            leaf = os.open(parts[-1], flags | os.O_NONBLOCK, dir_fd=fd)
            with os.fdopen(leaf, "rb") as f:
                st = os.fstat(f.fileno())
                return (f.read(), st.st_mode & 0o7777) if stat.S_ISREG(st.st_mode) else None
        except OSError:
            return None
        finally:
            os.close(fd)

    return read


def _create(
    line: TmpfilesLine,
    norm: str,
    target: Path,
    owner: tuple[int, int],
    source: SourceReader | None,
) -> str | None:
    """Create one missing entry; a warning instead when the line cannot be carried out."""
    if line.kind in _DIR_TYPES:
        os.mkdir(target, 0o700)
        mode = 0o755 if line.mode is None else line.mode
    elif line.kind in "fF":
        target.write_text(line.argument or "")
        mode = 0o644 if line.mode is None else line.mode
    elif line.kind == "C":
        copied = source(line.argument) if source is not None and line.argument else None
        if copied is None:
            return f"{line.source}: cannot copy {line.argument!r}; skipped"
        target.write_bytes(copied[0])
        mode = copied[1] if line.mode is None else line.mode
    elif line.kind == "p":
        os.mkfifo(target, 0o600)
        mode = 0o644 if line.mode is None else line.mode
    else:  # L
        if line.argument is None:
            return f"{line.source}: symlink {norm} has no target; skipped"
        os.symlink(line.argument, target)
        os.chown(target, *owner, follow_symlinks=False)
        return None
    os.chown(target, *owner)
    os.chmod(target, mode)
    return None


def apply_tmpfiles(
    lines: Sequence[TmpfilesLine],
    var_dir: Path,
    users: Mapping[str, int],
    groups: Mapping[str, int],
    source: SourceReader | None = None,
) -> tuple[list[str], list[str]]:
    """Create what is missing under ``var_dir``; return (created paths, warnings).

    ``C`` lines copy a regular file that ``source`` reads (from the deployment); without
    a reader they are skipped with a warning.
    """
    created: list[str] = []
    warnings: list[str] = []
    seen: set[str] = set()
    # Parents before children, as systemd-tmpfiles processes a path's prefixes first:
    # `L /var/run - - - - ../run` goes before `d /var/run/setrans` from a file read
    # earlier, which would otherwise make /var/run a directory. The sort is stable, so
    # the first line for a path still wins.
    for line in sorted(lines, key=_path_key):
        norm = "/" + "/".join(p for p in line.path.split("/") if p)
        if line.kind not in _HANDLED or not (norm == "/var" or norm.startswith("/var/")):
            continue
        if "%" in norm:
            warnings.append(f"{line.source}: specifiers are not supported in {line.path!r}")
            continue
        if norm in seen:
            continue
        seen.add(norm)
        target = _safe_target(var_dir, norm)
        if target is None:
            if not _under_run_link(var_dir, norm):  # /run is a tmpfs the boot fills
                warnings.append(f"{line.source}: {norm} lies behind a symlink or file; skipped")
            continue
        if os.path.lexists(target):
            continue
        uid, gid = _resolve_id(line.user, users), _resolve_id(line.group, groups)
        if uid is None or gid is None:
            unknown = line.user if uid is None else line.group
            warnings.append(f"{line.source}: unknown user or group {unknown!r}; using root")
            uid, gid = uid or 0, gid or 0
        problem = _create(line, norm, target, (uid, gid), source)
        if problem is not None:
            warnings.append(problem)
            continue
        created.append(norm)
    return created, warnings
