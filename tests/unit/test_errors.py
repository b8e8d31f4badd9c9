"""What a user reads: the message, the details under it, the hint last."""

from __future__ import annotations

import pytest

from core.errors import SolveError, StoreError, TriggerError, error_context


def test_solve_error_lists_every_problem_before_the_hint() -> None:
    err = SolveError(
        "cannot resolve the requested packages (2 problems)",
        problems=("No package matches 'stace'; did you mean: strace?", "foo conflicts with bar"),
        hint="nothing was changed",
    )
    assert str(err).splitlines() == [
        "cannot resolve the requested packages (2 problems)",
        "  - No package matches 'stace'; did you mean: strace?",
        "  - foo conflicts with bar",
        "  hint: nothing was changed",
    ]


def test_trigger_error_shows_the_output_tail_then_the_hint() -> None:
    err = TriggerError(
        "foo-1-1.x86_64: %post failed with exit status 3",
        command=("foo:%post",),
        returncode=3,
        output_tail="line one\nline two",
        hint="the package's script is broken",
    )
    assert str(err).splitlines()[1:] == [
        "  last output:",
        "    line one",
        "    line two",
        "  hint: the package's script is broken",
    ]


def test_context_prefixes_the_message_and_keeps_type_and_hint() -> None:
    err = StoreError("object 12ab missing", hint="run fsck").with_context("Staging deployment")
    assert isinstance(err, StoreError)
    assert str(err) == "Staging deployment: object 12ab missing\n  hint: run fsck"


def test_error_context_nests_outermost_first_and_keeps_the_class() -> None:
    outer, inner = error_context("Assembling"), error_context("running scripts")
    with pytest.raises(TriggerError) as caught, outer, inner:
        raise TriggerError("glibc:%post failed", returncode=1, hint="fix it")
    err = caught.value
    assert str(err) == "Assembling: running scripts: glibc:%post failed\n  hint: fix it"
    assert err.returncode == 1
    assert isinstance(err.__cause__, TriggerError)


def test_error_context_leaves_other_exceptions_alone() -> None:
    with pytest.raises(ValueError, match="^plain$"), error_context("Assembling"):
        raise ValueError("plain")
