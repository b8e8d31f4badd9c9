"""What a user reads: the message, the details under it, the hint last."""

from __future__ import annotations

from core.errors import SolveError, StoreError, TriggerError


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
