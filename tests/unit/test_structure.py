"""The shape of the code: layers point one way, no module import cycles, modules stay
small, docs/cli.md matches the parser, linters pass."""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "solver", "triggers", "layering")
# What each package may import from the project (DESIGN.md, "Dependencies point one way").
ALLOWED = {
    "core": {"core"},
    "solver": {"solver", "core"},
    "triggers": {"triggers", "core"},
    "layering": {"layering", "solver", "triggers", "core"},
}


def _project_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & (set(PACKAGES) | {"fixtures"})


@pytest.mark.parametrize("package", PACKAGES)
def test_layers_point_one_way(package: str) -> None:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        extra = _project_imports(path) - ALLOWED[package]
        if extra:
            bad.append(f"{path.relative_to(ROOT)} imports {sorted(extra)}")
    assert bad == []


def test_core_knows_nothing_about_rpm() -> None:
    users = [
        str(p.relative_to(ROOT))
        for p in sorted((ROOT / "core").rglob("*.py"))
        if {"rpm", "solv"}
        & {
            n.split(".")[0]
            for node in ast.walk(ast.parse(p.read_text()))
            if isinstance(node, ast.Import | ast.ImportFrom)
            for n in (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
            )
        }
    ]
    assert users == []


def test_modules_stay_small() -> None:
    big = [
        f"{p.relative_to(ROOT)}: {n} lines"
        for package in PACKAGES
        for p in sorted((ROOT / package).rglob("*.py"))
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    ]
    assert big == [], f"STYLE.md: modules stay under {MAX_MODULE_LINES} lines"


# -- import cycles between modules ------------------------------------------------------

MAX_MODULE_LINES = 600
MODULE_ROOTS = (*PACKAGES, "fixtures")


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the project (packages by __init__)."""
    out = {}
    for package in MODULE_ROOTS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _absolute(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    package = package[: len(package) - node.level + 1]
    return ".".join([*package, *([node.module] if node.module else [])])


def _import_nodes(path: Path) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import of a module: top level, in functions, under TYPE_CHECKING alike. A
    package's ``__getattr__`` is a lazy re-export, not a dependency of the package."""
    tree = ast.parse(path.read_text(), filename=str(path))
    lazy: set[int] = set()
    if path.name == "__init__.py":
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                lazy.update(id(n) for n in ast.walk(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in lazy:
            yield node


def _reexports(modules: dict[str, Path]) -> dict[str, dict[str, str]]:
    """package -> {name: the module the package's __init__ takes it from}."""
    out: dict[str, dict[str, str]] = {}
    for name, path in modules.items():
        if path.name != "__init__.py":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        names = out.setdefault(name, {})
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                base = _absolute(name, path, node)
                for alias in node.names:
                    if f"{base}.{alias.name}" not in modules:
                        names[alias.asname or alias.name] = base
    return out


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: line}. ``from pkg import sub`` is an edge to the
    submodule; ``from pkg import Name`` to the module pkg's __init__ takes Name from."""
    modules = _modules()
    reexports = _reexports(modules)
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for name, path in modules.items():
        for node in _import_nodes(path):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    while parts and ".".join(parts) not in modules:
                        parts.pop()
                    targets.append(".".join(parts))
            else:
                base = _absolute(name, path, node)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(
                        sub if sub in modules else reexports.get(base, {}).get(alias.name, base)
                    )
            for target in targets:
                if target in modules and target != name:
                    graph[name].setdefault(target, node.lineno)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_between_modules() -> None:
    graph = import_graph()
    report = []
    for component in cycles(graph):
        edges = [
            f"  {a} (line {line}) imports {b}"
            for a in component
            for b, line in sorted(graph[a].items())
            if b in component
        ]
        report.append("import cycle:\n" + "\n".join(edges))
    assert report == [], "\n".join(report)


def test_the_cycle_check_sees_type_checking_and_submodule_imports() -> None:
    graph = import_graph()
    # `from core.store import gitpack` names the submodule, not the package
    assert "core.store.gitpack" in graph["core.store.treeedit"]
    # `from core.store import Store` is an edge to the module behind the lazy re-export
    assert "core.store.repo" in graph["core.sysroot.sysroot"]
    # a TYPE_CHECKING import counts (layering.cli imports SpareMode only for typing)
    assert "layering.cli.spare_jobs" in graph["layering.cli"]
    assert cycles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if found is None:
        pytest.fail(f"{name} is not installed in the virtualenv; run `make setup`")
    return found


def test_ruff_lint() -> None:
    result = subprocess.run(
        [_tool("ruff"), "check", "--no-cache", "."],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = subprocess.run(
        [_tool("ruff"), "format", "--check", "--no-cache", "."],
        check=False,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = subprocess.run([_tool("mypy")], check=False, cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


# -- docs/cli.md is the flag reference ---------------------------------------------------

CLI_DOC = ROOT / "docs" / "cli.md"
_FLAG = re.compile(r"--[a-z0-9][a-z0-9-]*")
_GROUP = re.compile(r"\[([A-Z][A-Z ]*OPTIONS)\]")


def _verbs() -> dict[str, set[str]]:
    """'admin deploy' -> the long flags argparse accepts there: not --help, nor an internal
    flag whose help is suppressed (how a detached builder is started)."""
    from layering.cli import build_parser  # noqa: PLC0415 - only this test needs the CLI

    out: dict[str, set[str]] = {}

    def walk(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> None:
        flags = {
            o
            for a in parser._actions
            if a.help != argparse.SUPPRESS
            for o in a.option_strings
            if o.startswith("--")
        }
        out[" ".join(path)] = flags - {"--help"}
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, (*path, name))

    walk(build_parser(), ())
    return out


def _doc_tables(text: str) -> dict[str, set[str]]:
    """Option tables by name ("GLOBAL OPTIONS", "REPO OPTIONS"): the nearest heading or
    bold label above the table names it; its rows' first cells hold the flags."""
    tables: dict[str, set[str]] = {}
    label = ""
    for line in text.splitlines():
        heading = re.match(r"#+\s+(.*)", line) or re.match(r"\*\*([^*]+)\*\*", line)
        if heading:
            label = re.sub(r"[^A-Za-z ]", "", heading.group(1)).strip().upper()
        elif line.startswith("|") and label.endswith("OPTIONS"):
            tables.setdefault(label, set()).update(_FLAG.findall(line.split("|")[1]))
    return tables


def _doc_synopses(text: str, verbs: set[str]) -> dict[str, tuple[set[str], set[str]]]:
    """verb -> (flags on its synopsis lines, option groups they name), from the lines of
    code blocks that start with `strata` (several verbs joined by "  /  "); indented lines
    starting with "[" or "--" continue the verb above."""
    out: dict[str, tuple[set[str], set[str]]] = {}
    in_code = False
    current: str | None = None
    for raw in text.splitlines():
        if raw.startswith("```"):
            in_code, current = not in_code, None
            continue
        if not in_code:
            continue
        line = raw.split("#", 1)[0]
        if line.startswith(" ") and line.strip()[:1] in ("[", "-") and current is not None:
            out[current][0].update(_FLAG.findall(line))
            out[current][1].update(_GROUP.findall(line))
            continue
        current = None
        for part in line.split("  /  "):
            words = part.split()
            if words and words[0] == "strata":
                words = words[1:]
            while words and words[0].startswith("--"):
                words = words[2:] if words[0] in ("--sysroot", "--os") else words[1:]
            for n in range(len(words), 0, -1):
                if " ".join(words[:n]) in verbs:
                    current = " ".join(words[:n])
                    flags, groups = out.setdefault(current, (set(), set()))
                    flags.update(_FLAG.findall(" ".join(words[n:])))
                    groups.update(_GROUP.findall(part))
                    break
    return out


def test_docs_cli_md_documents_every_flag_and_only_real_ones() -> None:
    verbs = _verbs()
    text = CLI_DOC.read_text()
    tables = _doc_tables(text)
    global_flags = verbs[""]
    problems = []
    listed = tables.get("GLOBAL OPTIONS", set())
    if listed != global_flags:
        problems.append(
            f"the 'Global options' table of docs/cli.md lists {sorted(listed)}, "
            f"strata accepts {sorted(global_flags)} before and after every verb"
        )
    leaves = {v for v in verbs if v and not any(o.startswith(v + " ") for o in verbs)}
    synopses = _doc_synopses(text, set(verbs) - {""})
    for verb in sorted(leaves):
        if verb not in synopses:
            problems.append(f"strata {verb}: no synopsis line in docs/cli.md")
            continue
        flags, groups = synopses[verb]
        for group in sorted(groups - set(tables)):
            problems.append(f"strata {verb}: docs/cli.md names [{group}] but has no such table")
        documented = flags.union(*(tables.get(g, set()) for g in groups))
        accepted = verbs[verb] - global_flags
        problems += [
            f"strata {verb} accepts {flag}, docs/cli.md does not document it "
            f"(add it to the '{verb}' synopsis line and say what it does)"
            for flag in sorted(accepted - documented)
        ]
        problems += [
            f"docs/cli.md documents {flag} for strata {verb}, which does not accept it"
            for flag in sorted(documented - accepted)
        ]
    known = set().union(*verbs.values())
    problems += [
        f"docs/cli.md mentions {flag}, which no strata verb accepts"
        for flag in sorted(set(_FLAG.findall(text)) - known)
    ]
    assert problems == [], "\n".join(problems)
