"""Download or copy one URL to a file, verified, or not at all.

Metadata and packages come from ``file://`` or ``http(s)://``. Every download
lands in a temp file next to its destination and is renamed into place only
after its checksum matched, so a failed or corrupt fetch leaves nothing behind.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import os
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from core.errors import FetchError
from core.faults import fault_point
from solver.types import Speed

TIMEOUT = 30.0
DEFAULT_SPEED = Speed()
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
    """A readable binary stream for ``url``; ``FetchError`` says why it cannot be opened.

    ``timeout`` bounds connecting and each single read; ``copy`` bounds the rate.
    """
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
            hint="check the URL and that the server is reachable"
            + (f"; {SLOW_HINT}" if "timed out" in _describe(err) else ""),
        ) from err
    with stream:
        yield stream


SLOW_HINT = (
    "for a slow server raise timeout= (seconds) or lower minrate= (bytes/s) in its .repo "
    "file, as for dnf; STRATA_FETCH_DEADLINE bounds a whole download"
)


class _RateWindow:
    """Enforces ``Speed`` on one transfer: over any ``timeout`` seconds at least
    ``minrate * timeout`` bytes must arrive, and the whole transfer ends by ``deadline``."""

    def __init__(self, url: str, speed: Speed) -> None:
        self.url = url
        self.speed = speed
        self.start = time.monotonic()
        self.samples: collections.deque[tuple[float, int]] = collections.deque([(self.start, 0)])
        self.total = 0

    def add(self, count: int) -> None:
        now = time.monotonic()
        self.total += count
        self.samples.append((now, self.total))
        window = self.speed.timeout
        while len(self.samples) > 1 and self.samples[1][0] <= now - window:
            self.samples.popleft()
        since, then = self.samples[0]
        if now - since >= window and (self.total - then) < self.speed.minrate * window:
            raise FetchError(
                f"cannot fetch {self.url}: slower than minrate={self.speed.minrate} bytes/s "
                f"over timeout={self.speed.timeout:g} s "
                f"({self.total - then} bytes in the last {now - since:.0f} s)",
                hint=SLOW_HINT,
            )
        if now - self.start > self.speed.deadline:
            raise FetchError(
                f"cannot fetch {self.url}: not done after {self.speed.deadline:g} s "
                f"(STRATA_FETCH_DEADLINE), {self.total} bytes received",
                hint=SLOW_HINT,
            )


def _reader(stream: BinaryIO) -> Callable[[int], bytes]:
    # read1 returns what has arrived instead of waiting for a full chunk, so the rate
    # is checked as bytes trickle in.
    read1 = getattr(stream, "read1", None)
    return read1 if callable(read1) else stream.read


def copy(url: str, stream: BinaryIO, sink: Callable[[bytes], object], speed: Speed) -> None:
    """Read ``stream`` to its end into ``sink``, within ``speed``; ``FetchError`` names the URL."""
    window = _RateWindow(url, speed)
    read = _reader(stream)
    try:
        while chunk := read(_CHUNK):
            sink(chunk)
            window.add(len(chunk))
    except OSError as err:
        slow = "timed out" in _describe(err)
        hint = SLOW_HINT if slow else "the transfer was interrupted; try again"
        raise FetchError(f"cannot fetch {url}: {_describe(err)}", hint=hint) from err


MAX_SMALL = 64 << 20  # bytes: no repomd.xml comes near; a mirror sending more is broken


def read_url(url: str, *, speed: Speed = DEFAULT_SPEED, limit: int = MAX_SMALL) -> bytes:
    """The whole content of a small URL (a ``repomd.xml``), held in memory: at most
    ``limit`` bytes, so an endless answer cannot exhaust memory."""
    parts: list[bytes] = []
    size = 0

    def keep(chunk: bytes) -> None:
        nonlocal size
        size += len(chunk)
        if size > limit:
            raise FetchError(
                f"cannot fetch {url}: more than {limit} bytes for a metadata file",
                hint="the mirror is broken or hostile; check the repo's baseurl or mirrors",
            )
        parts.append(chunk)

    with open_url(url, timeout=speed.timeout) as stream:
        copy(url, stream, keep, speed)
    return b"".join(parts)


def fetch(
    url: str, dest: Path, *, checksum: str = "", speed: Speed = DEFAULT_SPEED, size: int = 0
) -> Path:
    """Copy ``url`` to ``dest`` (temp file + rename), verifying ``checksum`` when given.

    ``size`` (when not 0) is what the metadata promises: the transfer stops at the first byte
    past it, so a hostile mirror cannot fill the disk before the checksum is compared.
    On any failure ``dest`` is left as it was and ``FetchError`` names the URL.
    """
    algo, expected = parse_checksum(checksum) if checksum else ("sha256", "")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.new(algo)
        with os.fdopen(fd, "wb") as out, open_url(url, timeout=speed.timeout) as stream:
            received = 0

            def sink(chunk: bytes) -> None:
                nonlocal received
                received += len(chunk)
                if size and received > size:
                    raise FetchError(
                        f"cannot fetch {url}: more than the {size} bytes its metadata states",
                        hint="the mirror is broken or hostile, or the metadata is stale; "
                        "refresh it (`strata cleanup --repomd`) and try again",
                    )
                h.update(chunk)
                out.write(chunk)

            copy(url, stream, sink, speed)
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
