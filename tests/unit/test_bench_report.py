"""The benchmark modules import and read Strata's output as the table needs it.

No timing is asserted here, ever: bench/ prints ratios, it does not judge them in CI.
"""

from __future__ import annotations

import importlib
import json

import pytest

from bench.measure import Sample, _steps
from bench.report import Row, markdown_table, size_label, text_table
from bench.scenarios import before_staging, cache_hits


@pytest.mark.parametrize(
    "module",
    ["bench", "bench.__main__", "bench.bases", "bench.measure", "bench.references",
     "bench.report", "bench.scenarios", "bench.solver_bench", "bench.solver_repo"],
)  # fmt: skip
def test_bench_modules_import(module: str) -> None:
    importlib.import_module(module)


def test_step_timings_come_from_json_progress_and_split_off_staging() -> None:
    stderr = "\n".join(
        [
            json.dumps({"type": "step-start", "step": "Resolving"}),
            json.dumps({"type": "step-end", "step": "Resolving", "seconds": 0.5, "ok": True}),
            "warning: not JSON",
            json.dumps({"type": "step-end", "step": "Staging", "seconds": 2.0, "ok": True}),
        ]
    )
    sample = Sample(3.0, 1000, _steps(stderr))
    assert sample.steps == (("Resolving", 0.5), ("Staging", 2.0))
    assert before_staging(sample) == pytest.approx(1.0)


def test_cache_hits_read_from_the_summary() -> None:
    out = "Added:\n  a-1-1.noarch\nPackages: 10 cached, 0 downloaded\nRun 'reboot' ..."
    assert cache_hits(Sample(1.0, 1, stdout=out)) == (10, 0)
    assert cache_hits(Sample(1.0, 1, stdout="No changes.")) is None


def test_table_has_one_line_per_row_and_says_which_goals_are_met() -> None:
    rows = [
        Row("install-one", size_label(50_000), "1.00s", "50 MiB", "cp", "1.2x", "<= 1.5x", True),
        Row("disk", size_label(10_000), "70 MiB", "", "ostree", "1.3x", "<= 1.1x", False),
        Row("install-one", "10k", "1.00s", "", "dnf", "2x", "(reference)", None),
    ]  # fmt: skip
    text = text_table(rows).splitlines()
    assert len(text) == 2 + len(rows)
    assert text[2].split()[:2] == ["install-one", "50k"] and text[2].endswith("yes")
    assert text[3].endswith("NO") and text[4].endswith("-")
    assert markdown_table(rows).count("\n") == 1 + len(rows)
