"""Every ``strata`` command builds the whole parser, so building it must not load what only
some verbs need: pygit2, rpm, libsolv, yaml, the network stack and the engine cost a
``strata --help`` (or a usage error) ~0.2 s of start-up otherwise. Handlers import them.
"""

from __future__ import annotations

import json
import subprocess
import sys

# What the verbs import when they run, and nothing may import to build the parser.
HEAVY = ("pygit2", "rpm", "solv", "yaml", "ssl", "urllib.request", "layering.engine.engine")

SCRIPT = """
import json, sys
from layering.cli import build_parser
parser = build_parser()
for argv in (["install", "strace", "--dry-run"], ["db", "list"], ["compose", "tree",
             "--repo", "r", "t.yaml"], ["status"], ["log", "ref"], ["admin", "status"]):
    parser.parse_args(argv)
print(json.dumps(sorted(sys.modules)))
"""


def test_building_the_parser_loads_no_verb_implementation() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True
    )
    loaded = set(json.loads(proc.stdout))
    assert sorted(loaded & set(HEAVY)) == []


def test_version_prints_the_package_version_and_exits_0() -> None:
    from importlib.metadata import version  # noqa: PLC0415 - this test only

    proc = subprocess.run(
        [sys.executable, "-m", "layering.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, f"strata {version('strata')}\n", "")
