"""Progress reporting as a protocol: quiet, text and JSON-lines implementations.

Library code reports phases through a ``Progress``; only the CLI chooses which one.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, TextIO


class Progress(Protocol):
    def message(self, text: str) -> None: ...

    def warning(self, text: str) -> None: ...

    @contextmanager
    def step(self, name: str) -> Iterator[None]: ...

    def update(self, text: str, **counters: int | float) -> None:
        """A running step's counters (objects, bytes, rate): a live line on a terminal,
        a ``progress`` JSON line for scripts; callers send a few per second at most."""


class QuietProgress:
    def message(self, text: str) -> None:
        pass

    def update(self, text: str, **counters: int | float) -> None:
        pass

    def warning(self, text: str) -> None:
        print(f"warning: {text}", file=sys.stderr)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        yield


class TextProgress:
    """Human-readable progress on stderr; each step is timed.

    On a terminal a step shows ``Name...`` while it runs and completes the same line
    with ``done (1.23s)``, as rpm-ostree does; elsewhere (logs, pipes) only the finished
    line is written, so captured output carries one line per step.
    """

    def __init__(self, stream: TextIO | None = None, *, tty: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self._open_line = False

    def _print(self, text: str) -> None:
        self._print_close()
        print(text, file=self.stream, flush=True)

    def message(self, text: str) -> None:
        self._print(text)

    def warning(self, text: str) -> None:
        self._print(f"warning: {text}")

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        if self.tty:
            self._print_open(f"{name}... ")
        outcome = "failed"
        try:
            yield
            outcome = "done"
        finally:
            elapsed = f"{outcome} ({time.monotonic() - start:.2f}s)"
            if self._open_line:
                self.stream.write(f"{elapsed}\n")
                self.stream.flush()
                self._open_line = False
            else:
                self._print(f"{name}... {elapsed}")

    def update(self, text: str, **counters: int | float) -> None:
        if not self.tty:
            return  # logs get the finished step's line only
        self.stream.write(f"\r\x1b[K{text}")
        self.stream.flush()
        self._open_line = True

    def _print_open(self, text: str) -> None:
        self._print_close()
        self.stream.write(text)
        self.stream.flush()
        self._open_line = True

    def _print_close(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False


class JsonProgress:
    """One JSON object per line on stderr, for scripts (``--json-progress``)."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def _emit(self, **fields: object) -> None:
        print(json.dumps(fields, sort_keys=True), file=self.stream, flush=True)

    def message(self, text: str) -> None:
        self._emit(type="message", text=text)

    def warning(self, text: str) -> None:
        self._emit(type="warning", text=text)

    def update(self, text: str, **counters: int | float) -> None:
        self._emit(type="progress", text=text, **counters)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        self._emit(type="step-start", step=name)
        ok = False
        try:
            yield
            ok = True
        finally:
            seconds = round(time.monotonic() - start, 3)
            self._emit(type="step-end", step=name, seconds=seconds, ok=ok)
