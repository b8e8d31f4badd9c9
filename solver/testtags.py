"""Repositories written as text, in the spirit of libsolv's testcase "testtags" format.

Solver logic is easiest to read and review when a test states its package
universe in a few lines. Debian's Python bindings cannot read libsolv
testcases, so this small reader builds the same solvables directly::

    =Pkg: strace 6.1 1 x86_64
    =Req: libunwind-ptrace.so.0()(64bit)
    =Prv: /usr/bin/strace
    =Con: old-strace < 2
    =Obs: strace-legacy
    =Rec: strace-doc
    =Sup: some-package

A repo named ``@System`` stands for the base (the pool's installed repo).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import solv

_TAGS = {
    "Prv": solv.SOLVABLE_PROVIDES,
    "Req": solv.SOLVABLE_REQUIRES,
    "Con": solv.SOLVABLE_CONFLICTS,
    "Obs": solv.SOLVABLE_OBSOLETES,
    "Rec": solv.SOLVABLE_RECOMMENDS,
    "Sup": solv.SOLVABLE_SUPPLEMENTS,
    "Sug": solv.SOLVABLE_SUGGESTS,
    "Enh": solv.SOLVABLE_ENHANCES,
}
_OPS = {
    "<": solv.REL_LT,
    "<=": solv.REL_LT | solv.REL_EQ,
    "=": solv.REL_EQ,
    "==": solv.REL_EQ,
    ">=": solv.REL_GT | solv.REL_EQ,
    ">": solv.REL_GT,
}
_LINE = re.compile(r"^(?:#>)?=(\w+):\s*(.*)$")


def parse_dep(pool: solv.Pool, text: str) -> int:
    """A dependency id for ``name``, ``name OP evr`` or an rpm rich dependency ``(a or b)``."""
    text = text.strip()
    if text.startswith("("):
        dep = pool.parserpmrichdep(text)
        if not dep:
            raise ValueError(f"cannot parse rich dependency {text!r}")
        return int(dep.id)
    parts = text.split()
    if len(parts) == 1:
        return int(pool.str2id(parts[0]))
    if len(parts) == 3 and parts[1] in _OPS:
        return int(pool.rel2id(pool.str2id(parts[0]), pool.str2id(parts[2]), _OPS[parts[1]]))
    raise ValueError(f"cannot parse dependency {text!r}")


def add_testtags(pool: solv.Pool, name: str, text: str) -> solv.Repo:
    """Add a repo ``name`` holding the packages described by ``text``."""
    repo = pool.add_repo(name)
    solvable = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or (line.startswith("#") and not line.startswith("#>")):
            continue
        match = _LINE.match(line)
        if not match:
            raise ValueError(f"{name}:{number}: cannot parse {raw!r}")
        tag, value = match.groups()
        if tag == "Pkg":
            fields = value.split()
            if len(fields) != 4:
                raise ValueError(f"{name}:{number}: =Pkg: wants NAME VERSION RELEASE ARCH")
            pname, version, release, arch = fields
            solvable = repo.add_solvable()
            solvable.name = pname
            solvable.evr = f"{version}-{release}"
            solvable.arch = arch
            self_provide = pool.rel2id(solvable.nameid, solvable.evrid, solv.REL_EQ)
            solvable.add_deparray(solv.SOLVABLE_PROVIDES, self_provide)
        elif tag in _TAGS:
            if solvable is None:
                raise ValueError(f"{name}:{number}: ={tag}: before any =Pkg:")
            for dep in _split_deps(value):
                solvable.add_deparray(_TAGS[tag], parse_dep(pool, dep))
        elif tag == "Fls":
            if solvable is None:
                raise ValueError(f"{name}:{number}: =Fls: before any =Pkg:")
            for path in value.split():
                solvable.add_deparray(solv.SOLVABLE_PROVIDES, pool.str2id(path))
        else:
            raise ValueError(f"{name}:{number}: unknown tag ={tag}:")
    repo.internalize()
    return repo


def _split_deps(value: str) -> list[str]:
    """One dependency per line, or several separated by ``,`` outside parentheses."""
    deps, depth, current = [], 0, ""
    for char in value:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            deps.append(current)
            current = ""
        else:
            current += char
    deps.append(current)
    return [d.strip() for d in deps if d.strip()]


def text_pool(repos: Mapping[str, str], *, arch: str = "x86_64") -> solv.Pool:
    """A pool with one repo per entry; ``@System`` (if given) becomes the installed repo."""
    pool = solv.Pool()
    pool.setdisttype(solv.Pool.DISTTYPE_RPM)
    pool.setarch(arch)
    for name, text in repos.items():
        repo = add_testtags(pool, name, text)
        if name == "@System":
            pool.installed = repo
    pool.addfileprovides()
    pool.createwhatprovides()
    return pool
