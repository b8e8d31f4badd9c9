"""Progress output: one line per finished step, warnings on their own line."""

from __future__ import annotations

import io
import json

import pytest

from core.progress import JsonProgress, TextProgress


def test_text_progress_in_a_log_writes_one_line_per_finished_step() -> None:
    out = io.StringIO()
    progress = TextProgress(out, tty=False)
    with progress.step("Resolving"):
        pass
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Resolving... done (")


def test_text_progress_on_a_terminal_completes_the_open_line() -> None:
    out = io.StringIO()
    progress = TextProgress(out, tty=True)
    with progress.step("Importing"):
        progress.warning("slow mirror")
    with progress.step("Committing"):
        pass
    lines = out.getvalue().splitlines()
    assert lines[0] == "Importing... "
    assert lines[1] == "warning: slow mirror"
    assert lines[2].startswith("Importing... done (")
    assert lines[3].startswith("Committing... done (")


def test_text_progress_marks_a_step_that_raised_as_failed() -> None:
    out = io.StringIO()
    progress = TextProgress(out, tty=True)
    with pytest.raises(ValueError), progress.step("Assembling"):
        raise ValueError("conflict")
    assert out.getvalue().startswith("Assembling... failed (")


def test_json_progress_emits_start_and_end_with_seconds() -> None:
    out = io.StringIO()
    with JsonProgress(out).step("Solving"):
        pass
    start, end = (json.loads(line) for line in out.getvalue().splitlines())
    assert start == {"type": "step-start", "step": "Solving"}
    assert end["type"] == "step-end" and end["step"] == "Solving" and end["seconds"] >= 0
    assert end["ok"] is True


def test_json_progress_reports_a_failed_step() -> None:
    out = io.StringIO()
    with pytest.raises(RuntimeError), JsonProgress(out).step("Fetching"):
        raise RuntimeError("refused")
    end = json.loads(out.getvalue().splitlines()[-1])
    assert end["step"] == "Fetching" and end["ok"] is False
