"""docs/reliability.md's threat model names the tests behind each promise: they exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"


def test_every_test_the_threat_model_names_exists() -> None:
    text = DOC.read_text()
    model = text[text.index("## Threat model") : text.index("## Known gaps")]
    files: dict[str, str] = {}
    last_file = ""
    checked = 0
    for ref in re.findall(r"`((?:tests/[\w/]+\.py)?(?:\w+\.py)?(?:::\w+)?)`", model):
        path, _, name = ref.partition("::")
        if path:
            matches = [p for p in ROOT.glob(f"tests/**/{Path(path).name}")]
            assert matches, f"{path} named in the threat model does not exist"
            last_file = str(matches[0])
            files.setdefault(last_file, matches[0].read_text())
        if name:
            assert last_file, ref
            assert f"def {name}(" in files[last_file], f"{ref}: no such test in {last_file}"
            checked += 1
    assert checked >= 8
