"""Run a ``ScriptPlan`` in the sandbox; any failure aborts the whole operation.

Every script runs in its own bwrap over the same overlay (same upper), so each
sees what the previous ones wrote, and a failure is attributed to exactly one
package and script. After the last script, ``/usr/bin/true`` runs in the new
tree: a tree in which not even that runs must not be committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from core import settings
from core.errors import TriggerError
from core.progress import Progress
from triggers import lua
from triggers.limits import Limits
from triggers.model import Script, ScriptPlan
from triggers.mutability import Mutability
from triggers.normalize import normalize_tree
from triggers.overlay import MOUNT_FAILED
from triggers.runner import Sandbox, SandboxResult

SCRIPT_PATH = "/run/strata/script"
SANITY_COMMAND = ("/usr/bin/true",)
DEFAULT_TIMEOUT = float(settings.SCRIPT_TIMEOUT.default)  # STRATA_SCRIPT_TIMEOUT overrides it


def script_command(script: Script, host_lua: lua.HostLua | None) -> list[str]:
    """The argv inside the sandbox; the body (if any) is at ``SCRIPT_PATH``."""
    if script.is_lua:
        if host_lua is None:
            raise TriggerError(f"{script.label}: no Lua interpreter prepared")
        return host_lua.command(SCRIPT_PATH, script.arg)
    if script.body is None:
        # `-p /sbin/ldconfig` with no body: rpm runs the interpreter alone.
        return list(script.interp)
    return [*script.interp, SCRIPT_PATH, *(str(a) for a in script.arg)]


def _failure(script: Script, result: SandboxResult, timeout: float) -> TriggerError:
    if result.returncode == 125 and MOUNT_FAILED in result.output:
        err = TriggerError(
            f"Cannot run {script.label}: mounting the sandbox's overlay failed",
            command=(script.label,),
            returncode=result.returncode,
            output_tail=result.tail(),
            hint="scripts need root and a kernel with overlayfs; the upper directory must "
            "be on a filesystem overlayfs accepts (not itself an overlay)",
        )
        err.add_note(f"sandbox command: {result.command_line}")
        return err
    label = script.label
    if script.trigger_of:
        label += f" (set off by {script.trigger_of})"
    if result.exceeded is not None:
        err = TriggerError(
            f"{label} was killed: it used {result.exceeded}",
            command=(script.label,),
            returncode=result.returncode,
            output_tail=result.tail(),
            hint="the sandbox bounds every script's processes, memory and disk use; "
            "a package that needs more is broken or hostile: fix or drop it",
        )
    elif result.timed_out:
        err = TriggerError(
            f"{label} timed out after {timeout:g}s and was killed",
            command=(script.label,),
            returncode=result.returncode,
            output_tail=result.tail(),
            hint="the script may wait for input or the network; override it if it is known-bad",
        )
    else:
        hint = script.fix_hint or (
            "the script ran offline in a sandbox of the new tree: fix or drop the "
            "package, or override the script if it is known to fail there"
        )
        if result.returncode == 127 and script.interp:
            hint = f"is the interpreter {script.interp[0]} part of the new tree?"
        err = TriggerError(
            f"{label} of {script.nevra or script.package} failed with exit status "
            f"{result.returncode}",
            command=(script.label,),
            returncode=result.returncode,
            output_tail=result.tail(),
            hint=hint,
        )
    err.add_note(f"sandbox command: {result.command_line}")
    return err


def _source_date_epoch(given: int | None) -> int:
    if given is not None:
        return given
    return int(settings.value(settings.SOURCE_DATE_EPOCH))


def script_timeout() -> float:
    """Seconds one script may run: ``STRATA_SCRIPT_TIMEOUT`` (checked), else 300."""
    return float(settings.value(settings.SCRIPT_TIMEOUT))


def run_in_sandbox(sandbox: Sandbox, script: Script, host_lua: lua.HostLua | None) -> SandboxResult:
    """Write the body where the sandbox sees it, then run the script."""
    body_file = sandbox.files_dir / "script"
    body_file.write_text(script.body or "")
    body_file.chmod(0o755)
    stdin = "".join(f"{path}\n" for path in script.stdin).encode()
    env = host_lua.environment() if script.is_lua and host_lua is not None else None
    return sandbox.run(script_command(script, host_lua), stdin=stdin, env=env)


def run_scripts(
    plan: ScriptPlan,
    *,
    lowers: Sequence[Path],
    upper: Path,
    progress: Progress,
    timeout: float | None = None,
    source_date_epoch: int | None = None,
    sanity_check: bool = True,
    limits: Limits | None = None,
    var: Path | None = None,
) -> None:
    """Run every script of ``plan`` over ``lowers`` (topmost first); writes land in ``upper``.

    ``timeout`` limits each script (default: env ``STRATA_SCRIPT_TIMEOUT``, else 300s,
    so an administrator or a test can shorten it without a flag on every verb). Raises
    ``TriggerError`` naming the package, the script, its exit status and its last lines
    of output; the caller then throws ``upper`` away. ``limits`` bound each script's
    processes, memory and disk writes (default ``Limits()``). ``var`` is bound at ``/var``
    (see ``bwrap.var_filesystems``). Files the scripts wrote in a format known to carry
    the wall clock get ``SOURCE_DATE_EPOCH`` instead (see normalize.py).
    """
    timeout = script_timeout() if timeout is None else timeout
    epoch = _source_date_epoch(source_date_epoch)
    host_lua = lua.host_lua() if plan.needs_lua else None
    for label in plan.ignored:
        progress.message(f"Skipping {label} (known not to work offline; see overrides)")
    with Sandbox(
        lowers,
        upper=upper,
        mutability=Mutability.OVERLAY,
        var=var,
        host_dirs=host_lua.host_dirs() if host_lua is not None else (),
        source_date_epoch=epoch,
        timeout=timeout,
        limits=limits or Limits(),
    ) as sandbox:
        for script in plan.scripts:
            with progress.step(f"Running {script.label}"):
                result = run_in_sandbox(sandbox, script, host_lua)
            if result.returncode != 0 or result.timed_out or result.exceeded:
                raise _failure(script, result, timeout)
        if sanity_check:
            result = sandbox.run(SANITY_COMMAND, timeout=min(timeout, 60))
            if result.returncode != 0:
                err = TriggerError(
                    f"The new tree failed its sanity check: {SANITY_COMMAND[0]} exited "
                    f"with status {result.returncode}",
                    command=SANITY_COMMAND,
                    returncode=result.returncode,
                    output_tail=result.tail(),
                    hint="a script may have broken the C library or the loader of the tree",
                )
                err.add_note(f"sandbox command: {result.command_line}")
                raise err
    for path in normalize_tree(upper, epoch):
        progress.message(f"Set the build time in /{path} to SOURCE_DATE_EPOCH ({epoch})")
