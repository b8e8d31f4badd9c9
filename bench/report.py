"""The benchmark table: one row per (scenario, base, goal), printed as text or Markdown."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

HEADERS = ("scenario", "base", "strata", "peak RSS", "references", "ratio", "goal", "met")


@dataclass(frozen=True)
class Row:
    scenario: str
    base: str
    strata: str  # median seconds, or a size
    rss: str
    references: str
    ratio: str
    goal: str
    met: bool | None  # None: informational, no goal

    def cells(self) -> tuple[str, ...]:
        met = "-" if self.met is None else ("yes" if self.met else "NO")
        return (self.scenario, self.base, self.strata, self.rss, self.references, self.ratio,
                self.goal, met)  # fmt: skip


def size_label(n_files: int) -> str:
    return f"{n_files // 1000}k" if n_files % 1000 == 0 else str(n_files)


def seconds(value: float) -> str:
    return f"{value:.2f}s"


def text_table(rows: Sequence[Row]) -> str:
    table = [HEADERS, *(r.cells() for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADERS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(rows: Sequence[Row]) -> str:
    out = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r.cells()) + " |" for r in rows]
    return "\n".join(out)


def machine() -> str:
    """One line naming the machine the numbers come from."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    fs = subprocess.run(
        ["findmnt", "-n", "-o", "FSTYPE", "-T", str(Path.cwd())],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem_kib // 1024 // 1024} GiB RAM, {fs or '?'}, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def save(rows: Sequence[Row], path: Path, extra: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"machine": machine(), "rows": [asdict(r) for r in rows], **extra}
    path.write_text(json.dumps(data, indent=1))
