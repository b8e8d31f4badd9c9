"""The systemd units Strata ships pass ``systemd-analyze verify``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNITS = Path(__file__).resolve().parents[2] / "layering" / "units"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    names = sorted(p.name for p in UNITS.iterdir())
    assert names == [
        "strata-automatic.service",
        "strata-automatic.timer",
        "strata-finalize-staged.service",
    ]
    # the units name /usr/bin/strata, where a package installs it; verify checks that the
    # command exists, so point them at this checkout's entry point
    strata = Path(sys.executable).parent / "strata"
    assert strata.is_file()
    for name in names:
        text = (UNITS / name).read_text()
        (tmp_path / name).write_text(text.replace("/usr/bin/strata", str(strata)))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / n) for n in names)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.strip() == "", result.stderr
    # the timer starts the trigger, which runs the policy verb
    timer = (UNITS / "strata-automatic.timer").read_text()
    assert "WantedBy=timers.target" in timer
    service = (UNITS / "strata-automatic.service").read_text()
    assert "upgrade --trigger-automatic-update-policy" in service
    assert (
        "ExecStop=/usr/bin/strata admin finalize-staged"
        in (UNITS / "strata-finalize-staged.service").read_text()
    )
