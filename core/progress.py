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


class QuietProgress:
    def message(self, text: str) -> None:
        pass

    def warning(self, text: str) -> None:
        print(f"warning: {text}", file=sys.stderr)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        yield


class TextProgress:
    """Human-readable progress on stderr; each step is timed."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr

    def message(self, text: str) -> None:
        print(text, file=self.stream)

    def warning(self, text: str) -> None:
        print(f"warning: {text}", file=self.stream)

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        print(f"{name}...", file=self.stream, flush=True)
        yield
        print(f"{name}... done ({time.monotonic() - start:.2f}s)", file=self.stream, flush=True)


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

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.monotonic()
        self._emit(type="step-start", step=name)
        yield
        self._emit(type="step-end", step=name, seconds=round(time.monotonic() - start, 3))
