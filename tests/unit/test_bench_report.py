"""The benchmark modules import and read Strata's output as the table needs it.

No timing is asserted here, ever: bench/ prints ratios, it does not judge them in CI.
"""

from __future__ import annotations

import importlib
import json

import pytest

from bench import compose_bench
from bench.measure import Sample, _steps
from bench.report import Row, markdown_table, size_label, text_table
from bench.scenarios import Runs, before_staging, cache_hits


@pytest.mark.parametrize(
    "module",
    ["bench", "bench.__main__", "bench.bases", "bench.compose_bench", "bench.measure",
     "bench.references", "bench.report", "bench.scenarios", "bench.solver_bench",
     "bench.solver_repo"],
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


def _compose_sample(seconds: float, imported: float) -> Sample:
    steps = (("Resolving", 0.1), ("Fetching and importing 40 packages", imported),
             ("Assembling", 0.3), ("Running glibc:%pre", 0.2), ("Running bash:%post", 0.4),
             ("Writing the rpmdb", 0.5), ("Committing", 0.1))  # fmt: skip
    return Sample(seconds, 100 * 1024, steps)


def test_compose_centos_rows_give_the_ratio_the_steps_and_the_package_check() -> None:
    runs = Runs()
    for strata, imported, reference in ((6.0, 2.0, 8.0), (9.0, 3.0, 6.0), (7.0, 2.5, 7.0)):
        runs.add("strata", _compose_sample(strata, imported))
        runs.add("dnf + ostree", Sample(reference, 1))
    met, check = compose_bench.compose_rows(runs, True, 40)
    assert (met.scenario, met.base, met.strata, met.rss) == ("compose-centos", "40 pkgs",
                                                             "7.00s", "100 MiB")  # fmt: skip
    assert "7.00s" in met.references and met.ratio == "1.00x" and met.met is True
    # medians per step; "other" is the median of what the steps leave of each run
    assert "import 2.50s" in check.references and "scripts 0.60s" in check.references
    assert "other 2.90s" in check.references and check.met is True
    runs.add("strata", _compose_sample(20.0, 2.0))
    runs.add("dnf + ostree", Sample(7.0, 1))
    slow, different = compose_bench.compose_rows(runs, False, 39)
    assert slow.ratio == "1.14x" and slow.met is False and slow.base == "39 pkgs"
    assert different.strata == "DIFFERENT packages" and different.met is False


def test_compose_centos_is_skipped_with_the_corpus_hint() -> None:
    row = compose_bench.skip_row()
    assert row.met is None and "corpus is absent" in row.references
