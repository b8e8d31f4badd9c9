"""Many small GETs on one keep-alive connection, pipelined (HTTP/1.1).

A pull asks for tens of thousands of small static files. One request at a time per
connection pays a round trip and ``http.client``'s per-response machinery each time;
sending a window of requests ahead and reading the responses in order keeps the server
busy and costs a few microseconds of parsing per object. Only the plain case is handled
here: ``200`` with a ``Content-Length`` body (what nginx and any static server send for a
file) and ``404``. Anything else — a redirect, a 5xx, a chunked or oversized body, a
timeout, a reset — hands the object (and those queued behind it) to
:meth:`Transport.fetch`, which retries with backoff and applies the redirect policy.
"""

from __future__ import annotations

import io
import queue
import socket
import ssl
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from core.errors import StoreError

if TYPE_CHECKING:
    from core.remote.transport import Transport

T = TypeVar("T")
DEPTH = 8  # requests sent ahead on one connection (what a kill can lose, per connection)
MAX_HEADER = 64 << 10
MAX_BODY = 32 << 20  # larger objects stream through Transport.fetch


class _Fallback(Exception):
    """This response (and the connection) cannot be handled here."""


class _NotFound(Exception):
    pass


def fetch_many(
    transport: Transport,
    relpaths: list[str],
    consume: Callable[[int, BinaryIO], T],
    connections: int,
) -> list[T]:
    """``consume(i, body)`` (a readable body) for every ``relpaths[i]``, on
    ``connections`` pipelined connections; results in input order. ``consume`` must be
    thread-safe."""
    if not relpaths:
        return []
    if transport.parts.scheme == "file":
        return [_slow(transport, relpaths[i], i, consume) for i in range(len(relpaths))]
    results: list[T | None] = [None] * len(relpaths)
    slices = [list(range(k, len(relpaths), connections)) for k in range(connections)]
    slices = [s for s in slices if s]
    abort = threading.Event()  # one connection failed for good: the others stop too

    def work(indices: list[int]) -> None:
        try:
            _Connection(transport, abort).run(relpaths, indices, consume, results)
        except BaseException:
            abort.set()
            raise

    with ThreadPoolExecutor(len(slices)) as pool:
        for done in pool.map(work, slices):
            del done
    return results  # type: ignore[return-value]


def _slow(transport: Transport, relpath: str, i: int, consume: Callable[[int, BinaryIO], T]) -> T:
    return transport.fetch(relpath, lambda body: consume(i, body))


class _Connection:
    def __init__(self, transport: Transport, abort: threading.Event) -> None:
        self.t = transport
        self.abort = abort
        self.sock: socket.socket | None = None
        self.buf = bytearray()
        self.sent = 0  # requests sent and not yet answered (the scheduler's window)
        parts = transport.parts
        self.host = parts.hostname or ""
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.base_path = parts.path

    def run(
        self,
        relpaths: list[str],
        indices: list[int],
        consume: Callable[[int, BinaryIO], T],
        results: list[T | None],
    ) -> None:
        self.done = 0  # indices[:done] have their results
        try:
            self._pipeline(relpaths, indices, consume, results)
        except (_Fallback, OSError):
            pass  # whatever is left goes the slow, retrying way
        finally:
            self._close()
        for i in indices[self.done :]:
            if self.abort.is_set():
                return
            results[i] = _slow(self.t, relpaths[i], i, consume)

    def _pipeline(
        self,
        relpaths: list[str],
        indices: list[int],
        consume: Callable[[int, BinaryIO], T],
        results: list[T | None],
    ) -> None:
        from core.errors import FetchError  # noqa: PLC0415 - keeps start-up light
        from core.remote.transport import NotFound  # noqa: PLC0415 - transport imports us

        self._connect()
        sent = 0  # indices[:sent] have been requested
        while self.done < len(indices):
            if self.abort.is_set():
                return
            if sent - self.done < DEPTH // 2 and sent < len(indices):
                upto = min(len(indices), self.done + DEPTH)
                batch = [self._request(relpaths[i]) for i in indices[sent:upto]]
                assert self.sock is not None
                self.sock.sendall(b"".join(batch))
                sent = upto
            i = indices[self.done]
            try:
                body, closing = self._response()
            except _NotFound as err:
                raise NotFound(f"Not found on the server (404): {self.t.url(relpaths[i])}") from err
            try:
                results[i] = consume(i, io.BytesIO(body))
            except StoreError as err:
                url = self.t.url(relpaths[i])
                raise FetchError(f"{err.args[0]} (from {url})", hint=err.hint) from err
            self.done += 1
            if closing:
                raise _Fallback("the server closes the connection")

    def _connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), timeout=self.t.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.t.parts.scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
        self.sock = sock

    def _close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.buf.clear()
        self.sent = 0

    def _request(self, relpath: str) -> bytes:
        path = self.t.url(relpath)[len(f"{self.t.parts.scheme}://{self.t.parts.netloc}") :]
        return (
            f"GET {path} HTTP/1.1\r\nHost: {self.t.parts.netloc}\r\n"
            "User-Agent: strata\r\nAccept-Encoding: identity\r\n\r\n"
        ).encode()

    def _fill(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(1 << 18)
        if not chunk:
            raise _Fallback("connection closed")
        self.buf += chunk

    def _response(self) -> tuple[bytes, bool]:
        while (end := self.buf.find(b"\r\n\r\n")) < 0:
            if len(self.buf) > MAX_HEADER:
                raise _Fallback("oversized header")
            self._fill()
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        del self.buf[: end + 4]
        status_line = head[0].split(" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith("HTTP/1."):
            raise _Fallback("not an HTTP/1.x response")
        status = int(status_line[1])
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length_text = headers.get("content-length")
        if length_text is None or "transfer-encoding" in headers or not length_text.isdigit():
            raise _Fallback("no content length")
        length = int(length_text)
        if length > MAX_BODY:
            raise _Fallback("large body")
        while len(self.buf) < length:
            self._fill()
        body = bytes(self.buf[:length])
        del self.buf[:length]
        self.t.counters.add(end + 4 + length, requests=1)
        if status == 404:
            raise _NotFound
        if status != 200:
            raise _Fallback(f"HTTP {status}")
        return body, headers.get("connection", "").lower() == "close"


class Scheduler:
    """A stream of GETs on ``connections`` pipelined connections, fed while it runs.

    :meth:`submit` queues a path and what to do with its body; a callback may submit
    more (a tree's entries as it arrives), so the download of a tree's files overlaps the
    walk of the trees after it. :meth:`run` returns when nothing is left, or raises the
    first error (the other connections stop at once).
    """

    def __init__(self, transport: Transport, connections: int) -> None:
        self.t = transport
        self.connections = connections
        self.queue: queue.Queue[tuple[str, Callable[[BinaryIO], None]]] = queue.Queue()
        self.lock = threading.Lock()
        self.outstanding = 0
        self.finished = threading.Event()
        self.abort = threading.Event()
        self.error: BaseException | None = None

    def submit(self, relpath: str, consume: Callable[[BinaryIO], None]) -> None:
        with self.lock:
            self.outstanding += 1
        self.queue.put((relpath, consume))

    def run(self) -> None:
        with self.lock:
            if self.outstanding == 0:
                return
        threads = [threading.Thread(target=self._worker) for _ in range(self.connections)]
        for thread in threads:
            thread.start()
        self.finished.wait()
        self.abort.set()
        for thread in threads:
            thread.join()
        if self.error is not None:
            raise self.error

    def _done_one(self) -> None:
        with self.lock:
            self.outstanding -= 1
            if self.outstanding == 0:
                self.finished.set()

    def _fail(self, err: BaseException) -> None:
        with self.lock:
            if self.error is None:
                self.error = err
        self.abort.set()
        self.finished.set()

    def _slow(self, item: tuple[str, Callable[[BinaryIO], None]]) -> None:
        relpath, consume = item
        self.t.fetch(relpath, consume)
        self._done_one()

    def _worker(self) -> None:
        try:
            self._loop()
        except BaseException as err:  # noqa: BLE001 - handed to run(), which raises it
            self._fail(err)

    def _take(self, inflight: deque[tuple[str, Callable[[BinaryIO], None]]]) -> list[str]:
        """Queue items to send, up to the window; waits a little only when idle."""
        batch = []
        while len(inflight) < DEPTH:
            try:
                item = self.queue.get(block=not inflight, timeout=0.02)
            except queue.Empty:
                break
            inflight.append(item)
            batch.append(item[0])
        return batch

    def _exchange(
        self, conn: _Connection, inflight: deque[tuple[str, Callable[[BinaryIO], None]]]
    ) -> tuple[bytes, bool] | None:
        """Send what is new, read the oldest response; None when the connection failed
        (what was in flight then went the slow, retrying way)."""
        from core.remote.transport import NotFound  # noqa: PLC0415 - transport imports us

        try:
            if conn.sock is None:
                conn._connect()
                conn.sent = 0
            paths = [path for path, _ in inflight][conn.sent :]
            if paths:
                assert conn.sock is not None
                conn.sock.sendall(b"".join(conn._request(p) for p in paths))
                conn.sent += len(paths)
            return conn._response()
        except _NotFound as err:
            raise NotFound(f"Not found on the server (404): {self.t.url(inflight[0][0])}") from err
        except (_Fallback, OSError):
            conn._close()
            while inflight:
                self._slow(inflight.popleft())
            return None

    def _loop(self) -> None:
        from core.errors import FetchError  # noqa: PLC0415 - keeps start-up light

        conn = _Connection(self.t, self.abort)
        inflight: deque[tuple[str, Callable[[BinaryIO], None]]] = deque()
        try:
            while not self.abort.is_set():
                self._take(inflight)
                if not inflight:
                    continue
                if self.t.parts.scheme == "file":
                    while inflight:
                        self._slow(inflight.popleft())
                    continue
                answer = self._exchange(conn, inflight)
                if answer is None:
                    continue
                body, closing = answer
                relpath, consume = inflight.popleft()
                conn.sent -= 1
                try:
                    consume(io.BytesIO(body))
                except StoreError as err:
                    url = self.t.url(relpath)
                    raise FetchError(f"{err.args[0]} (from {url})", hint=err.hint) from err
                self._done_one()
                if closing:
                    conn._close()
        finally:
            conn._close()
