"""Fetching a remote store's files: HTTP(S) with keep-alive, or ``file://``.

Each thread keeps its own connection (a few threads = a few connections, as libostree's
pull keeps a few requests in flight). Transient failures (5xx, 408, 429, a timeout, a
reset or truncated response) are retried with exponential backoff; a 404, an unknown host
or a refused connection fail with a message naming the URL. Redirects are followed only
to the same scheme, host and port: a remote must not send a client to another server (or
to a local ``file://``) behind the user's back. Every request has a socket timeout, so a
server that stops sending mid-body is noticed.
"""

from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, TypeVar
from urllib.parse import quote, urljoin, urlsplit

from core.errors import FetchError, StoreError

T = TypeVar("T")
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRIES = 4
MAX_REDIRECTS = 5
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}
_TRANSIENT_ERRORS = (
    TimeoutError,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    http.client.IncompleteRead,
    http.client.RemoteDisconnected,
    http.client.BadStatusLine,
)


class NotFound(FetchError):
    """The server answered 404 (or the file does not exist)."""


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "file") or (
        parts.scheme != "file" and not parts.hostname
    ):
        raise FetchError(
            f"Unsupported remote URL {url!r}",
            hint="use http://HOST/PATH, https://HOST/PATH or file:///PATH",
        )


@dataclass
class Counters:
    requests: int = 0
    bytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, nbytes: int = 0, requests: int = 0) -> None:
        with self.lock:
            self.bytes += nbytes
            self.requests += requests


class _Counting:
    """A response wrapper that counts the bytes read through it."""

    def __init__(self, raw: BinaryIO, counters: Counters) -> None:
        self.raw = raw
        self.counters = counters

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.counters.add(len(data))
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class Transport:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> None:
        check_url(base_url)
        self.base = base_url.rstrip("/") + "/"
        self.parts = urlsplit(self.base)
        self.timeout = DEFAULT_TIMEOUT if timeout is None else timeout
        self.retries = DEFAULT_RETRIES if retries is None else retries
        self.counters = Counters()
        self._local = threading.local()

    def url(self, relpath: str) -> str:
        return self.base + quote(relpath)

    def fetch(self, relpath: str, consume: Callable[[BinaryIO], T]) -> T:
        """Run ``consume`` on the body of ``relpath``; retried whole on transient errors,
        so ``consume`` must leave nothing behind when it raises."""
        url = self.url(relpath)
        delay = 0.2
        for attempt in range(self.retries + 1):
            try:
                return self._once(url, consume)
            except _Retry as err:
                if attempt == self.retries:
                    raise FetchError(
                        f"Fetching {url} failed after {attempt + 1} attempts: {err}",
                        hint="the server or the network is failing; try again later",
                    ) from err
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        raise AssertionError("unreachable")

    def get(self, relpath: str, limit: int) -> bytes:
        def read_all(body: BinaryIO) -> bytes:
            data = body.read(limit + 1)
            if len(data) > limit:
                raise FetchError(f"{self.url(relpath)} is larger than {limit} bytes")
            return data

        return self.fetch(relpath, read_all)

    def _once(self, url: str, consume: Callable[[BinaryIO], T]) -> T:
        if self.parts.scheme == "file":
            return self._file(url, consume)
        for _hop in range(MAX_REDIRECTS + 1):
            conn = self._connection()
            target = urlsplit(url)
            path = target.path + (f"?{target.query}" if target.query else "")
            try:
                conn.request("GET", path, headers={"User-Agent": "strata"})
                response = conn.getresponse()
            except socket.gaierror as err:
                self._drop()
                raise FetchError(
                    f"Cannot resolve host {target.hostname!r} for {url}",
                    hint="check the remote's URL (`strata remote list -u`) and the DNS setup",
                ) from err
            except ConnectionRefusedError as err:
                self._drop()
                raise _Retry(f"connection refused by {target.netloc}") from err
            except (*_TRANSIENT_ERRORS, OSError) as err:
                self._drop()
                raise _Retry(str(err) or type(err).__name__) from err
            self.counters.add(requests=1)
            status = response.status
            if status in (301, 302, 303, 307, 308):
                location = response.getheader("Location") or ""
                response.read()
                url = self._redirect(url, location)
                continue
            return self._body(response, url, consume)
        raise FetchError(f"Too many redirects from {url}")

    def _body(
        self, response: http.client.HTTPResponse, url: str, consume: Callable[[BinaryIO], T]
    ) -> T:
        status = response.status
        if status == 404:
            response.read()
            raise NotFound(f"Not found on the server (404): {url}")
        if status in _TRANSIENT_STATUS:
            response.read()
            raise _Retry(f"HTTP {status} {response.reason}")
        if status != 200:
            self._drop()
            raise FetchError(f"HTTP {status} {response.reason} for {url}")
        try:
            result = consume(_Counting(response, self.counters))  # type: ignore[arg-type]
            if not response.isclosed() and response.read(1):
                self._drop()  # the consumer stopped early: the connection is unusable
        except _TRANSIENT_ERRORS as err:
            self._drop()
            raise _Retry(str(err) or type(err).__name__) from err
        except StoreError as err:
            self._drop()
            raise FetchError(f"{err.args[0]} (from {url})", hint=err.hint) from err
        except BaseException:
            self._drop()
            raise
        return result

    def _redirect(self, url: str, location: str) -> str:
        new = urljoin(url, location)
        parts = urlsplit(new)
        same = (parts.scheme, parts.hostname, parts.port) == (
            self.parts.scheme,
            self.parts.hostname,
            self.parts.port,
        )
        if not location or not same:
            raise FetchError(
                f"Refusing the redirect from {url} to {new or '(nothing)'}: "
                "a remote may only redirect within its own server",
                hint="point the remote at the final URL (`strata remote add NAME URL`)",
            )
        return new

    def _file(self, url: str, consume: Callable[[BinaryIO], T]) -> T:
        path = urlsplit(url).path
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError as err:
            raise NotFound(f"Not found: {url}") from err
        except OSError as err:
            raise FetchError(f"Cannot read {url}: {err.strerror}") from err
        with os.fdopen(fd, "rb") as handle:
            self.counters.add(requests=1)
            try:
                return consume(_Counting(handle, self.counters))  # type: ignore[arg-type]
            except StoreError as err:
                raise FetchError(f"{err.args[0]} (from {url})", hint=err.hint) from err

    def _connection(self) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None:
            host = self.parts.hostname or ""
            if self.parts.scheme == "https":
                conn = http.client.HTTPSConnection(host, self.parts.port, timeout=self.timeout)
            else:
                conn = http.client.HTTPConnection(host, self.parts.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class _Retry(Exception):
    """A transient failure: the request is tried again after a pause."""
