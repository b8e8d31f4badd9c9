"""Download or copy one URL to a file, verified, or not at all.

Metadata and packages come from ``file://`` or ``http(s)://``. Every download
lands in a temp file next to its destination and is renamed into place only
after its checksum matched, so a failed or corrupt fetch leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from core.errors import FetchError
from core.faults import fault_point

TIMEOUT = 30.0
_CHUNK = 1 << 20
_ALGORITHMS = {"sha256", "sha512", "sha384", "sha224", "sha1", "md5"}


def parse_checksum(checksum: str) -> tuple[str, str]:
    """``"sha256:HEX"`` -> ``("sha256", "hex")``; ``FetchError`` for anything else."""
    algo, sep, digest = checksum.partition(":")
    algo = algo.lower()
    if algo == "sha":
        algo = "sha1"
    if not sep or algo not in _ALGORITHMS or not digest:
        raise FetchError(
            f"unsupported checksum {checksum!r}",
            hint="checksums are written ALGORITHM:HEX, e.g. sha256:…",
        )
    return algo, digest.lower()


def file_checksum(path: Path, algo: str = "sha256") -> str:
    """Hex digest of a file, read in chunks."""
    h = hashlib.new(algo)
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def local_path(url: str) -> Path | None:
    """The filesystem path of a ``file://`` URL (or a plain absolute path), else None."""
    if url.startswith("/"):
        return Path(url)
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise FetchError(f"cannot fetch {url}: file:// URLs must not name a host")
        return Path(urllib.parse.unquote(parsed.path))
    return None


def _describe(err: BaseException) -> str:  # noqa: PLR0911 - one line per failure kind
    if isinstance(err, urllib.error.HTTPError):
        return f"HTTP {err.code} {err.reason}"
    if isinstance(err, urllib.error.URLError):
        reason = err.reason
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused"
        if isinstance(reason, socket.timeout | TimeoutError):
            return "timed out"
        if isinstance(reason, socket.gaierror):
            return f"host not found ({reason.strerror})"
        return str(reason)
    if isinstance(err, TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(err, FileNotFoundError):
        return "no such file"
    if isinstance(err, OSError):
        return err.strerror or str(err)
    return str(err)


@contextlib.contextmanager
def open_url(url: str, *, timeout: float = TIMEOUT) -> Iterator[BinaryIO]:
    """A readable binary stream for ``url``; ``FetchError`` says why it cannot be opened."""
    path = local_path(url)
    try:
        if path is not None:
            stream: BinaryIO = path.open("rb")
        else:
            scheme = urllib.parse.urlsplit(url).scheme
            if scheme not in ("http", "https"):
                raise FetchError(
                    f"cannot fetch {url}: unsupported URL scheme {scheme!r}",
                    hint="use file://, http:// or https://",
                )
            stream = urllib.request.urlopen(url, timeout=timeout)  # noqa: S310
    except FetchError:
        raise
    except (OSError, ValueError) as err:
        raise FetchError(
            f"cannot fetch {url}: {_describe(err)}",
            hint="check the URL and that the server is reachable",
        ) from err
    with stream:
        yield stream


def read_url(url: str, *, timeout: float = TIMEOUT) -> bytes:
    """The whole content of a (small) URL, e.g. a ``repomd.xml``."""
    with open_url(url, timeout=timeout) as stream:
        try:
            return stream.read()
        except OSError as err:
            raise FetchError(f"cannot fetch {url}: {_describe(err)}") from err


def fetch(url: str, dest: Path, *, checksum: str = "", timeout: float = TIMEOUT) -> Path:
    """Copy ``url`` to ``dest`` (temp file + rename), verifying ``checksum`` when given.

    On any failure ``dest`` is left as it was and ``FetchError`` names the URL.
    """
    algo, expected = parse_checksum(checksum) if checksum else ("sha256", "")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.new(algo)
        with os.fdopen(fd, "wb") as out, open_url(url, timeout=timeout) as stream:
            try:
                while chunk := stream.read(_CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            except OSError as err:
                raise FetchError(
                    f"cannot fetch {url}: {_describe(err)}",
                    hint="the transfer was interrupted; try again",
                ) from err
        if expected and h.hexdigest() != expected:
            raise FetchError(
                f"checksum mismatch for {url}: expected {algo}:{expected}, "
                f"got {algo}:{h.hexdigest()}",
                hint="the file is corrupt or the repository changed; refresh the metadata "
                "(`strata cleanup --repomd`) and try again",
            )
        fault_point("fetch-before-rename")
        tmp.replace(dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest
