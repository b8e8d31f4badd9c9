"""A Fedora-sized synthetic rpm-md repository and a matching base, for solver benchmarks.

Building 50,000 real RPMs would take hours, and a depsolver reads only metadata,
so this writes ``primary.xml`` and ``filelists.xml`` directly (gzip, with a
correct ``repomd.xml``). The shape follows Fedora's x86_64 repo: about 30% of
packages are libraries with sonames, ~6 requires per package (sonames, names,
versioned names, ``/usr/bin`` file deps, a few rich deps), ~5% of names also
in an older version, some obsoletes, ~15 files per package.

The first ``base_count`` packages form a closed "core" set: the base image.
Those are built as real RPMs (through ``fixtures.rpms``) and installed with
``rpm --justdb`` into a base rpmdb, so both Strata and dnf read a real base.
"""

from __future__ import annotations

import gzip
import hashlib
import random
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr


@dataclass
class Pkg:
    index: int
    name: str
    version: str
    release: str = "1.fc40"
    provides: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    obsoletes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    @property
    def nevra(self) -> str:
        return f"{self.name}-{self.version}-{self.release}.x86_64"

    @property
    def pkgid(self) -> str:
        return hashlib.sha256(self.nevra.encode()).hexdigest()


class _Universe:
    """The packages generated so far, and how a new one picks its requirements."""

    def __init__(self, base_count: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.base_count = base_count
        self.pkgs: list[Pkg] = []
        self.sonames: list[tuple[int, str]] = []  # (index, soname) of libraries so far
        self.binaries: list[tuple[int, str]] = []

    def package(self, i: int) -> Pkg:
        rng = self.rng
        kind = "lib" if rng.random() < 0.3 else "app"
        name = f"{kind}{i:05d}-{rng.choice(['utils', 'core', 'devel', 'tools', 'data'])}"
        p = Pkg(i, name, f"{rng.randint(0, 9)}.{rng.randint(0, 30)}")
        files = [f"/usr/share/doc/{name}/README", f"/usr/share/licenses/{name}/COPYING"]
        if kind == "lib":
            so = f"lib{i:05d}.so.{rng.randint(0, 3)}()(64bit)"
            p.provides.append(so)
            files.append(f"/usr/lib64/lib{i:05d}.so.{i % 4}")
            self.sonames.append((i, so))
        else:
            binary = f"/usr/bin/tool{i:05d}"
            files.append(binary)
            self.binaries.append((i, binary))
        files += [f"/usr/share/{name}/file{k}.dat" for k in range(rng.randint(5, 20))]
        p.files = files
        for _ in range(rng.randint(2, 10) if i else 0):
            dep = self.requirement(i)
            if dep:
                p.requires.append(dep)
        p.requires = sorted(set(p.requires))
        return p

    def requirement(self, i: int) -> str | None:  # noqa: PLR0911 - one return per dep kind
        """One dependency of package ``i``: core packages only need the core; others mostly."""
        rng, base = self.rng, self.base_count
        in_core = rng.random() < (0.8 if i >= base else 1.0)
        hi = min(i, base) if in_core else i
        lo = 0 if in_core else base
        if hi <= lo:
            return None
        roll = rng.random()
        if in_core:  # the base: anything of the core below hi
            libs = [so for idx, so in self.sonames[:base] if idx < hi]
            bins = [b for idx, b in self.binaries[:base] if idx < hi]
        else:  # recent non-core packages, like a library stack
            libs = [so for idx, so in self.sonames[-200:] if lo <= idx < hi]
            bins = [b for idx, b in self.binaries[-300:] if lo <= idx < hi]
        if roll < 0.55:
            return rng.choice(libs) if libs else None
        if roll < 0.75:
            return self.pkgs[rng.randrange(lo, hi)].name
        if roll < 0.85:
            other = self.pkgs[rng.randrange(lo, hi)]
            return f"{other.name} >= {other.version}"
        if roll < 0.97:
            return rng.choice(bins) if bins else None
        if i >= base:
            a, b = rng.randrange(lo, hi), rng.randrange(lo, hi)
            return f"({self.pkgs[a].name} or {self.pkgs[b].name})"
        return None


def generate(count: int, base_count: int, seed: int = 40) -> list[Pkg]:
    """``count`` packages; deps of core packages stay inside the core."""
    universe = _Universe(base_count, seed)
    for i in range(count):
        universe.pkgs.append(universe.package(i))
    pkgs, rng = universe.pkgs, universe.rng
    # Updates: ~5% of non-core names also exist in an older version; a few renames.
    extra: list[Pkg] = []
    for p in pkgs[base_count:]:
        if rng.random() < 0.05:
            old = Pkg(len(pkgs) + len(extra), p.name, "0." + p.version, p.release)
            old.provides, old.requires, old.files = p.provides, p.requires, p.files
            extra.append(old)
        if rng.random() < 0.005:
            p.obsoletes.append(f"{p.name}-legacy < 99")
    return pkgs + extra


def _entry(dep: str) -> str:
    if dep.startswith("("):
        return f"<rpm:entry name={quoteattr(dep)}/>"
    parts = dep.split()
    if len(parts) == 3:
        flag = {">=": "GE", "<=": "LE", "=": "EQ", "<": "LT", ">": "GT"}[parts[1]]
        return f'<rpm:entry name={quoteattr(parts[0])} flags="{flag}" ver={quoteattr(parts[2])}/>'
    return f"<rpm:entry name={quoteattr(dep)}/>"


def _primary(pkgs: list[Pkg]) -> Iterator[str]:
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield (
        '<metadata xmlns="http://linux.duke.edu/metadata/common" '
        f'xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="{len(pkgs)}">\n'
    )
    for p in pkgs:
        provides = [f"{p.name} = {p.version}-{p.release}", *p.provides]
        prv = "".join(
            f'<rpm:entry name={quoteattr(d.split()[0])} flags="EQ" epoch="0" '
            f'ver="{p.version}" rel="{p.release}"/>'
            if " = " in d
            else _entry(d)
            for d in provides
        )
        req = "".join(_entry(d) for d in p.requires)
        obs = "".join(_entry(d) for d in p.obsoletes)
        primary_files = "".join(
            f"<file>{escape(f)}</file>" for f in p.files if f.startswith(("/usr/bin/", "/etc/"))
        )
        yield (
            f'<package type="rpm"><name>{p.name}</name><arch>x86_64</arch>'
            f'<version epoch="0" ver="{p.version}" rel="{p.release}"/>'
            f'<checksum type="sha256" pkgid="YES">{p.pkgid}</checksum>'
            f"<summary>Synthetic package {p.index}</summary>"
            f"<description>Package {p.index} of a benchmark repository.</description>"
            "<packager>bench</packager><url>https://example.invalid/</url>"
            '<time file="1700000000" build="1700000000"/>'
            '<size package="123456" installed="345678" archive="346000"/>'
            f'<location href="Packages/{p.name[0]}/{p.nevra}.rpm"/>'
            "<format><rpm:license>MIT</rpm:license><rpm:vendor>bench</rpm:vendor>"
            "<rpm:group>Unspecified</rpm:group><rpm:buildhost>bench</rpm:buildhost>"
            f"<rpm:sourcerpm>{p.name}-{p.version}-{p.release}.src.rpm</rpm:sourcerpm>"
            '<rpm:header-range start="4504" end="20000"/>'
            f"<rpm:provides>{prv}</rpm:provides>"
            + (f"<rpm:requires>{req}</rpm:requires>" if req else "")
            + (f"<rpm:obsoletes>{obs}</rpm:obsoletes>" if obs else "")
            + f"{primary_files}</format></package>\n"
        )
    yield "</metadata>\n"


def _filelists(pkgs: list[Pkg]) -> Iterator[str]:
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'
    yield f'<filelists xmlns="http://linux.duke.edu/metadata/filelists" packages="{len(pkgs)}">\n'
    for p in pkgs:
        files = "".join(f"<file>{escape(f)}</file>" for f in p.files)
        yield (
            f'<package pkgid="{p.pkgid}" name="{p.name}" arch="x86_64">'
            f'<version epoch="0" ver="{p.version}" rel="{p.release}"/>{files}</package>\n'
        )
    yield "</filelists>\n"


def _write_gz(path: Path, chunks: Iterator[str]) -> tuple[str, str, int, int]:
    opened = hashlib.sha256()
    size = 0
    with gzip.open(path, "wb", compresslevel=6) as f:
        for chunk in chunks:
            data = chunk.encode()
            opened.update(data)
            size += len(data)
            f.write(data)
    closed = hashlib.sha256(path.read_bytes()).hexdigest()
    return closed, opened.hexdigest(), path.stat().st_size, size


def write_repo(directory: Path, pkgs: list[Pkg]) -> Path:
    """primary + filelists (gzip) and repomd.xml under ``directory/repodata``."""
    repodata = directory / "repodata"
    repodata.mkdir(parents=True, exist_ok=True)
    records = []
    for kind, chunks in (("primary", _primary(pkgs)), ("filelists", _filelists(pkgs))):
        tmp = repodata / f"{kind}.xml.gz"
        closed, opened, size, open_size = _write_gz(tmp, chunks)
        final = repodata / f"{closed}-{kind}.xml.gz"
        tmp.replace(final)
        records.append(
            f'<data type="{kind}"><checksum type="sha256">{closed}</checksum>'
            f'<open-checksum type="sha256">{opened}</open-checksum>'
            f'<location href="repodata/{final.name}"/><timestamp>{int(time.time())}</timestamp>'
            f"<size>{size}</size><open-size>{open_size}</open-size></data>"
        )
    (repodata / "repomd.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<repomd xmlns="http://linux.duke.edu/metadata/repo" '
        'xmlns:rpm="http://linux.duke.edu/metadata/rpm">'
        f"<revision>{int(time.time())}</revision>" + "".join(records) + "</repomd>\n"
    )
    return directory


def write_base(root: Path, core: list[Pkg]) -> Path:
    """Build the core packages as real RPMs and record them in ``root``'s rpmdb (justdb)."""
    from fixtures.rpms import build_rpm

    rpms = [
        build_rpm(
            p.name,
            p.version,
            p.release,
            provides=p.provides,
            requires=p.requires,
            files={f: "x" for f in p.files if f.startswith(("/usr/bin/", "/usr/lib64/"))},
            autoreqprov=False,
        )
        for p in core
    ]
    dbpath = "/usr/lib/sysimage/rpm"
    cmd = ["rpm", "-i", "--root", str(root), "--dbpath", dbpath, "--justdb", "--nodeps"]
    subprocess.run([*cmd, "--noscripts", *map(str, rpms)], check=True, capture_output=True)
    return root / dbpath.lstrip("/")
