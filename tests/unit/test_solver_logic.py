"""Solver decisions on package universes written as text (an @System repo is the base)."""

from __future__ import annotations

import pytest

from core.errors import SolveError
from solver.testtags import add_testtags, text_pool
from solver.transaction import LocalFile, PoolInput, solve_pool
from solver.types import Transaction

BASE = """
=Pkg: glibc 2.38 1 x86_64
=Prv: libc.so.6()(64bit)
=Prv: /usr/lib64/libc.so.6
=Pkg: bar 1.0 1 x86_64
=Pkg: bash 5.2 1 x86_64
=Prv: /usr/bin/bash
=Pkg: base-conf 1 1 noarch
=Con: evil
=Pkg: uses-glibc 1 1 x86_64
=Req: libc.so.6()(64bit)
"""

REPO = """
=Pkg: strace 6.1 1 x86_64
=Req: libunwind-ptrace.so.0()(64bit), libc.so.6()(64bit)
=Prv: /usr/bin/strace
=Pkg: libunwind 1.6 1 x86_64
=Prv: libunwind-ptrace.so.0()(64bit)
=Pkg: a 1 1 x86_64
=Req: b
=Pkg: b 1 1 x86_64
=Req: c
=Pkg: c 1 1 x86_64
=Pkg: foo 2.0 1 x86_64
=Req: bar >= 2.0
=Pkg: bar 2.0 1 x86_64
=Pkg: bar 1.0 1 x86_64
=Pkg: evil 1 1 x86_64
=Pkg: left 1 1 x86_64
=Con: right
=Pkg: right 1 1 x86_64
=Pkg: taker 1 1 x86_64
=Obs: glibc
=Pkg: gadget 1.0 1 x86_64
=Pkg: gadget 1.5 1 x86_64
=Pkg: gadget 2.0 1 x86_64
=Pkg: app 1 1 x86_64
=Req: libfancy.so.2()(64bit)
=Pkg: libfancy 2 1 x86_64
=Prv: libfancy.so.2()(64bit)
=Req: glibc >= 2.40
=Pkg: glibc 2.40 1 x86_64
=Prv: libc.so.6()(64bit)
=Pkg: shellscript 1 1 noarch
=Req: /usr/bin/bash
=Pkg: orphan 1 1 x86_64
=Req: libgone.so.1()(64bit), gone-data >= 2, libgone.so.1()(64bit)
=Pkg: needs-orphan 1 1 x86_64
=Req: orphan
"""


def run(*install: str, base: str = BASE, repo: str = REPO, **kw: object) -> Transaction:
    pool = text_pool({"@System": base, "fedora": repo})
    return solve_pool(pool, PoolInput(install=install, **kw))  # type: ignore[arg-type]


def problems(*install: str, **kw: object) -> tuple[str, ...]:
    with pytest.raises(SolveError) as caught:
        run(*install, **kw)
    assert "nothing was changed" in str(caught.value)
    return caught.value.problems


def names(t: Transaction) -> list[str]:
    return [p.nevra for p in t.install]


def test_simple_install_layers_exactly_the_package() -> None:
    t = run("c")
    assert names(t) == ["c-1-1.x86_64"]
    assert t.inactive == () and t.remove == () and t.replace == ()


def test_dependency_chain_is_followed() -> None:
    assert names(run("a")) == ["a-1-1.x86_64", "b-1-1.x86_64", "c-1-1.x86_64"]


def test_soname_dependency_pulls_the_library_and_reuses_the_base_libc() -> None:
    t = run("strace")
    assert names(t) == ["libunwind-1.6-1.x86_64", "strace-6.1-1.x86_64"]


@pytest.mark.parametrize("request_text", ["/usr/bin/strace", "libunwind-ptrace.so.0()(64bit)"])
def test_provides_and_file_requests(request_text: str) -> None:
    expected = {
        "/usr/bin/strace": ["libunwind-1.6-1.x86_64", "strace-6.1-1.x86_64"],
        "libunwind-ptrace.so.0()(64bit)": ["libunwind-1.6-1.x86_64"],
    }
    assert names(run(request_text)) == expected[request_text]


def test_versioned_request_picks_a_matching_version() -> None:
    assert names(run("gadget < 2.0")) == ["gadget-1.5-1.x86_64"]
    assert names(run("gadget >= 1.5")) == ["gadget-2.0-1.x86_64"]
    assert names(run("gadget")) == ["gadget-2.0-1.x86_64"]


def test_dependency_on_newer_base_package_explains_the_lock() -> None:
    (problem,) = problems("foo")
    assert problem.startswith(
        "foo-2.0-1.x86_64 requires bar >= 2.0, but the base has bar-1.0-1.x86_64"
    )
    assert "base packages are not changed by layering" in problem
    assert "rebase to a newer base, or `strata override replace` bar" in problem


def test_indirect_lock_problem_names_the_chain() -> None:
    (problem,) = problems("app")
    assert "libfancy-2-1.x86_64 requires glibc >= 2.40, but the base has glibc-2.38-1" in problem
    assert "`strata override replace` glibc" in problem


def test_missing_dependency_is_said_plainly() -> None:
    repo = REPO.replace("=Prv: libunwind-ptrace.so.0()(64bit)\n", "")
    (problem,) = problems("strace", repo=repo)
    assert problem.startswith(
        "strace-6.1-1.x86_64 requires libunwind-ptrace.so.0()(64bit), which nothing in the "
        "base or the enabled repositories provides"
    )


def test_conflict_between_two_requests() -> None:
    (problem,) = problems("left", "right")
    assert "left-1-1.x86_64 conflicts with right provided by right-1-1.x86_64" in problem
    assert "drop one of the requests" in problem


def test_conflict_with_a_base_package_names_it_and_the_override() -> None:
    (problem,) = problems("evil")
    assert "base package base-conf-1-1.noarch conflicts with evil" in problem
    assert "`strata override remove` base-conf" in problem


def test_obsoleting_a_base_package_is_refused() -> None:
    (problem,) = problems("taker")
    assert "taker-1-1.x86_64 obsoletes glibc, which would remove base package glibc-2.38-1" in (
        problem
    )


def test_requests_the_base_satisfies_are_inactive_not_errors() -> None:
    t = run("bar", "/usr/bin/bash", "libc.so.6()(64bit)", "c")
    assert names(t) == ["c-1-1.x86_64"]
    assert t.inactive == (
        ("bar", "bar-1.0-1.x86_64"),
        ("/usr/bin/bash", "bash-5.2-1.x86_64"),
        ("libc.so.6()(64bit)", "glibc-2.38-1.x86_64"),
    )


def test_base_is_never_upgraded_even_when_newer_exists() -> None:
    # bar-2.0 is available, but "bar" is satisfied by the base: nothing changes.
    t = run("bar", "a")
    assert "bar-2.0-1.x86_64" not in names(t)
    assert t.remove == () and t.replace == ()


def test_lock_makes_the_solver_pick_an_older_compatible_version() -> None:
    repo = REPO + "=Pkg: tool 1 1 x86_64\n=Pkg: tool 2 1 x86_64\n=Req: bar >= 2.0\n"
    assert names(run("tool", repo=repo)) == ["tool-1-1.x86_64"]


def test_unknown_name_suggests_close_matches() -> None:
    (problem,) = problems("stace")
    assert problem == "No package matches 'stace'; did you mean: strace?"


def test_unknown_version_lists_what_exists() -> None:
    (problem,) = problems("gadget > 3")
    assert "No package matches 'gadget > 3'; available versions: gadget-1.0-1.x86_64" in problem


def test_every_problem_is_reported_at_once() -> None:
    found = problems("stace", "foo", "left", "right", "evil", "c")
    assert len(found) == 4
    assert found[0].startswith("No package matches 'stace'")
    joined = "\n".join(found)
    for needle in ("bar >= 2.0", "conflicts with right", "conflicts with evil"):
        assert needle in joined


def test_override_remove_takes_a_base_package_out() -> None:
    t = run("c", override_remove=("bar",))
    assert t.remove == ("bar-1.0-1.x86_64",)
    assert names(t) == ["c-1-1.x86_64"]


def test_override_remove_of_a_needed_base_package_says_who_needs_it() -> None:
    (problem,) = problems(override_remove=("glibc",))
    assert "base package uses-glibc-1-1.x86_64 requires libc.so.6()(64bit)" in problem
    assert "override-remove uses-glibc as well" in problem


def test_override_remove_needed_by_a_layered_package_says_to_uninstall_it() -> None:
    (problem,) = problems("shellscript", override_remove=("bash",))
    assert "shellscript-1-1.noarch requires /usr/bin/bash" in problem
    assert "`strata uninstall` shellscript (or the request that brings it) first" in problem
    assert "override-remove shellscript" not in problem, "only base packages are removed so"


def test_override_remove_of_a_name_not_in_the_base_is_an_error() -> None:
    (problem,) = problems(override_remove=("strace",))
    assert "'strace' is not a package of the base" in problem


def _with_commandline(text: str) -> tuple[object, dict[int, LocalFile]]:
    pool = text_pool({"@System": BASE, "fedora": REPO})
    repo = add_testtags(pool, "@commandline", text)
    pool.createwhatprovides()
    files = {s.id: LocalFile(f"/rpms/{s.name}.rpm", "sha256:00") for s in repo.solvables}
    return pool, files


def test_override_replace_swaps_a_base_package_and_unblocks_a_dependency() -> None:
    pool, files = _with_commandline("=Pkg: bar 3.0 1 x86_64\n")
    t = solve_pool(pool, PoolInput(install=("foo",), override_replace=files))  # type: ignore[arg-type]
    ((old, new),) = t.replace
    assert old == "bar-1.0-1.x86_64" and new.nevra == "bar-3.0-1.x86_64"
    assert new.repo == "@commandline" and new.location == "/rpms/bar.rpm"
    assert names(t) == ["foo-2.0-1.x86_64"]
    assert t.remove == ()


def test_override_replace_downgrade() -> None:
    pool, files = _with_commandline("=Pkg: bar 0.5 1 x86_64\n")
    t = solve_pool(pool, PoolInput(override_replace=files))  # type: ignore[arg-type]
    assert [(old, new.nevra) for old, new in t.replace] == [
        ("bar-1.0-1.x86_64", "bar-0.5-1.x86_64")
    ]


def test_override_replace_of_a_name_not_in_the_base_is_an_error() -> None:
    pool, files = _with_commandline("=Pkg: newthing 1 1 x86_64\n")
    with pytest.raises(SolveError) as caught:
        solve_pool(pool, PoolInput(override_replace=files))  # type: ignore[arg-type]
    assert "the base has no package named newthing" in caught.value.problems[0]


def test_local_rpm_of_a_base_name_without_override_is_refused() -> None:
    pool, files = _with_commandline("=Pkg: bar 3.0 1 x86_64\n")
    with pytest.raises(SolveError) as caught:
        solve_pool(pool, PoolInput(local=files))  # type: ignore[arg-type]
    (problem,) = caught.value.problems
    assert "bar-3.0-1.x86_64 would replace base package bar-1.0-1.x86_64" in problem
    assert "`strata override replace` bar" in problem


def test_local_rpm_is_layered_with_its_path() -> None:
    pool, files = _with_commandline("=Pkg: mine 1 1 x86_64\n=Req: c\n")
    t = solve_pool(pool, PoolInput(local=files))  # type: ignore[arg-type]
    assert names(t) == ["c-1-1.x86_64", "mine-1-1.x86_64"]
    mine = t.install[1]
    assert (mine.repo, mine.location, mine.checksum) == (
        "@commandline",
        "/rpms/mine.rpm",
        "sha256:00",
    )


def test_local_rpm_identical_to_a_base_package_is_inactive() -> None:
    pool, files = _with_commandline("=Pkg: bar 1.0 1 x86_64\n")
    t = solve_pool(pool, PoolInput(local=files))  # type: ignore[arg-type]
    assert t.install == () and t.inactive == (("/rpms/bar.rpm", "bar-1.0-1.x86_64"),)


def test_result_is_deterministic_across_runs_and_request_order() -> None:
    first = run("strace", "a", "gadget")
    second = run("gadget", "strace", "a")
    assert first.install == second.install
    assert names(first) == sorted(names(first))
    split = REPO.index("=Pkg: foo")
    pool = text_pool({"@System": BASE, "extra": REPO[split:], "fedora": REPO[:split]})
    third = solve_pool(pool, PoolInput(install=("strace", "a", "gadget")))
    assert names(third) == names(first)


def test_empty_request_is_an_empty_transaction() -> None:
    assert run() == Transaction(install=())


def test_request_for_an_obsoleted_name_installs_its_successor() -> None:
    repo = REPO + "=Pkg: oldtool 1 1 x86_64\n=Pkg: newtool 2 1 x86_64\n=Obs: oldtool < 2\n"
    assert names(run("oldtool", repo=repo)) == ["newtool-2-1.x86_64"]


def test_explicit_newer_version_of_a_base_package_points_to_override_replace() -> None:
    (problem,) = problems("bar >= 2.0")
    assert "bar-2.0-1.x86_64 would replace base package bar-1.0-1.x86_64" in problem
    assert "`strata override replace` bar" in problem


def test_foreign_architecture_local_package_is_refused() -> None:
    pool, files = _with_commandline("=Pkg: armthing 1 1 aarch64\n")
    with pytest.raises(SolveError) as caught:
        solve_pool(pool, PoolInput(local=files))  # type: ignore[arg-type]
    (problem,) = caught.value.problems
    assert problem.startswith("armthing-1-1.aarch64 is built for aarch64, which this system cannot")


def test_a_problem_names_the_requested_package_first_then_each_alternative() -> None:
    repo = REPO + (
        "=Pkg: multi 1 1 x86_64\n=Req: libmulti\n"
        "=Pkg: libmulti-a 1 1 x86_64\n=Prv: libmulti\n=Req: nothing-a\n"
        "=Pkg: libmulti-b 1 1 x86_64\n=Prv: libmulti\n=Req: bar >= 5\n"
        "=Pkg: bar 5 1 x86_64\n"
    )
    (problem,) = problems("multi", repo=repo)
    assert problem.startswith("multi-1-1.x86_64 requires libmulti, but none of its providers")
    assert "libmulti-a-1-1.x86_64 requires nothing-a, which nothing" in problem
    assert "libmulti-b-1-1.x86_64 requires bar >= 5, but the base has bar-1.0-1.x86_64" in problem
    assert problem.endswith("`strata override replace` bar")


def test_rich_dependencies_are_understood() -> None:
    repo = REPO + "=Pkg: richok 1 1 x86_64\n=Req: (c or nope)\n"
    assert names(run("richok", repo=repo)) == ["c-1-1.x86_64", "richok-1-1.x86_64"]


def test_every_missing_requirement_of_a_package_is_named_in_one_sentence() -> None:
    (problem,) = problems("orphan")
    assert problem == (
        "orphan-1-1.x86_64 requires libgone.so.1()(64bit) and gone-data >= 2, which nothing "
        "in the base or the enabled repositories provides: enable repositories that provide "
        "them, or add the RPMs that do"
    )
    (through,) = problems("needs-orphan")
    assert through.count("libgone.so.1()(64bit)") == 1 and "gone-data >= 2" in through
