"""The sandbox as a context manager: it owns its scratch directories and returns results.

``Sandbox`` wires the pieces together: the overlay (or a plain bind, per
``Mutability``) as ``/``, the bwrap options, the timeout. It keeps every temp
directory in an ``ExitStack`` so they go away however the block ends, and on
exit it removes the mount-point directories bwrap had to create, so they are
not mistaken for script output.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from core.errors import TriggerError
from triggers import bwrap, overlay, seccomp
from triggers.limits import DEFAULT_LIMITS, POLL_SECONDS, Limits, Watchdog
from triggers.mutability import Mutability

log = logging.getLogger("strata.triggers")

TAIL_LINES = 20
MAX_OUTPUT = 1 << 20  # bytes of a command's output kept (its end)


@dataclass(frozen=True)
class SandboxResult:
    """What one command in the sandbox did (like ``subprocess.CompletedProcess``)."""

    args: tuple[str, ...]
    returncode: int
    output: str  # stdout and stderr, interleaved as the command wrote them
    timed_out: bool = False
    exceeded: str | None = None  # the limit it went past and was killed for

    def tail(self, lines: int = TAIL_LINES) -> str:
        return "\n".join(self.output.rstrip("\n").splitlines()[-lines:])

    @property
    def command_line(self) -> str:
        """The exact command, ready to paste into a root shell (``--debug``)."""
        return shlex.join(self.args)


class Sandbox:
    """Run commands with a tree (an overlay of ``lowers``, topmost first) as ``/``.

    ``OVERLAY`` needs ``upper``, an empty or previously used upper directory:
    every write lands there. ``MUTABLE`` binds the single lower read-write.
    ``IMMUTABLE`` shows the lowers as a read-only overlay. ``var`` is a host directory
    bound read-write at ``/var`` (else /var is a throwaway tmpfs). ``host_dirs`` are host
    directories shown read-only under ``/run/host`` (the Lua interpreter lives there). ``limits``
    bound each command's processes, memory and disk writes (``triggers.limits``).
    """

    def __init__(
        self,
        lowers: Sequence[Path],
        *,
        upper: Path | None = None,
        mutability: Mutability = Mutability.OVERLAY,
        rpm_state: Path | None = None,
        var: Path | None = None,
        host_dirs: Sequence[Path] = (),
        source_date_epoch: int = 0,
        timeout: float = 300,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.lowers = tuple(Path(os.path.realpath(p)) for p in lowers)
        self.upper = Path(os.path.realpath(upper)) if upper is not None else None
        self.mutability = mutability
        self.rpm_state = rpm_state
        self.var = Path(os.path.realpath(var)) if var is not None else None
        self.host_dirs = tuple(host_dirs)
        self.source_date_epoch = source_date_epoch
        self.timeout = timeout
        self.limits = limits
        self._stack = ExitStack()
        self._scratch: Path | None = None
        self._existing_plumbing: frozenset[str] = frozenset()
        self._check()

    def _check(self) -> None:
        if not self.lowers:
            raise TriggerError("A sandbox needs a tree to run in (no lower directory given)")
        for lower in self.lowers:
            if not lower.is_dir():
                raise TriggerError(f"Cannot run scripts: the tree {lower} is not a directory")
        if self.mutability == Mutability.OVERLAY:
            if self.upper is None or not self.upper.is_dir():
                raise TriggerError(
                    f"Cannot run scripts: the overlay upper directory {self.upper} is missing",
                    hint="create an empty directory for the scripts' writes",
                )
            for lower in self.lowers:
                if lower.is_relative_to(self.upper) or self.upper.is_relative_to(lower):
                    raise TriggerError(
                        f"Cannot run scripts: the upper directory {self.upper} and the tree "
                        f"{lower} overlap",
                        hint="give the scripts a fresh directory outside every tree",
                    )
        elif self.upper is not None:
            raise TriggerError(f"An upper directory makes no sense with {self.mutability}")
        if self.mutability == Mutability.MUTABLE and len(self.lowers) != 1:
            raise TriggerError("A mutable sandbox binds exactly one tree read-write")

    # -- lifetime -------------------------------------------------------------

    def __enter__(self) -> Sandbox:
        try:
            # Beside the upper: overlayfs wants its work directory on the same filesystem.
            parent = self.upper.parent if self.upper is not None else None
            self._scratch = Path(tempfile.mkdtemp(prefix=".strata-sandbox-", dir=parent))
            self._stack.callback(shutil.rmtree, self._scratch, ignore_errors=True)
            for name in ("merged", "work", "files", "plumbing"):
                (self._scratch / name).mkdir()
            # The bottom layer of every overlay: empty mount points for bwrap, so a
            # committed tree (no /etc, /proc, ... at its top) works even read-only, and
            # bwrap never has to create them in the upper.
            for name in overlay.PLUMBING_DIRS:
                (self._scratch / "plumbing" / name).mkdir()
            seccomp.filter_file(self._scratch)
            if self.rpm_state is None:
                self.rpm_state = self._scratch / "rpm-state"
                self.rpm_state.mkdir()
            if self.mutability == Mutability.MUTABLE:
                tree = self.lowers[0]
                self._existing_plumbing = frozenset(
                    n for n in overlay.PLUMBING_DIRS if os.path.lexists(tree / n)
                )
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self._remove_plumbing()
        finally:
            self._stack.close()

    def _remove_plumbing(self) -> None:
        if self.mutability == Mutability.OVERLAY and self.upper is not None:
            overlay.remove_plumbing(self.upper, self.lowers)
        elif self.mutability == Mutability.MUTABLE:
            tree = self.lowers[0]
            for name in overlay.PLUMBING_DIRS:
                path = tree / name
                if (
                    name not in self._existing_plumbing
                    and path.is_dir()
                    and not path.is_symlink()
                    and not any(path.iterdir())
                ):
                    path.rmdir()

    @property
    def files_dir(self) -> Path:
        """A host directory shown read-only at ``/run/strata``: put script files here."""
        if self._scratch is None:
            raise TriggerError("The sandbox is not open (use it as a context manager)")
        return self._scratch / "files"

    # -- commands -------------------------------------------------------------

    def argv(self, command: Sequence[str], *, env: Mapping[str, str] | None = None) -> list[str]:
        """The full host command that runs ``command`` inside the sandbox."""
        if self._scratch is None:
            raise TriggerError("The sandbox is not open (use it as a context manager)")
        merged = self._scratch / "merged"
        binds = ((self.files_dir, "/run/strata"),) + tuple(
            (d, f"/run/host{d}") for d in self.host_dirs
        )
        tree = self.lowers[0] if self.mutability == Mutability.MUTABLE else merged
        inner = bwrap.sandbox_argv(
            tree,
            list(command),
            writable=self.mutability != Mutability.IMMUTABLE,
            usr_etc=self._has_usr_etc(),
            rpm_state=self.rpm_state,
            var=self.var,
            binds_ro=binds,
            source_date_epoch=self.source_date_epoch,
            env=env,
        )
        inner = bwrap.with_filter(self._scratch / seccomp.FILTER_NAME, inner)
        if tree is not merged:
            return inner
        options = overlay.overlay_options(
            (*self.lowers, self._scratch / "plumbing"),
            self.upper if self.mutability == Mutability.OVERLAY else None,
            self._scratch / "work" if self.mutability == Mutability.OVERLAY else None,
        )
        return overlay.mount_and_exec(options, merged, inner)

    def _has_usr_etc(self) -> bool:
        layers = (self.upper, *self.lowers) if self.upper is not None else self.lowers
        for layer in layers:
            usr_etc = layer / "usr" / "etc"
            if usr_etc.is_symlink() or os.path.lexists(usr_etc) and not usr_etc.is_dir():
                return False  # the topmost layer that has usr/etc decides
            if usr_etc.is_dir():
                return True
        return False

    def run(
        self,
        command: Sequence[str],
        *,
        stdin: bytes = b"",
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> SandboxResult:
        """Run ``command`` in the sandbox; on timeout or past a limit every process in it dies."""
        args = self.argv(command, env=env)
        log.debug("sandbox: %s", shlex.join(args))
        limit = self.timeout if timeout is None else timeout
        proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            umask=0o022,
        )
        writes = self.upper if self.mutability == Mutability.OVERLAY else self.lowers[0]
        watchdog = Watchdog(self.limits, proc.pid, writes)
        try:
            out, timed_out, exceeded = _pump(proc, stdin, time.monotonic() + limit, watchdog)
        finally:
            if proc.poll() is None:
                # bwrap is the session leader's exec'd image; killing it tears down the
                # pid namespace (--die-with-parent), which kills everything inside.
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            if not watchdog.wait_gone():
                log.warning("processes of a killed sandbox are still exiting")
        result = SandboxResult(
            args=tuple(args),
            returncode=proc.returncode,
            output=out.decode("utf-8", errors="replace"),
            timed_out=timed_out,
            exceeded=exceeded,
        )
        if result.returncode != 0:
            log.info("sandbox command failed (%d): %s", result.returncode, result.command_line)
        return result


class _Pipes:
    """The command's stdin (fed from a buffer) and output (its last ``MAX_OUTPUT`` bytes).

    Output beyond the cap is dropped from the front: a script printing forever
    must not fill this process's memory.
    """

    def __init__(self, proc: subprocess.Popen[bytes], stdin: bytes) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.stdin, self.stdout = proc.stdin, proc.stdout
        self.pending = memoryview(stdin)
        self.output = bytearray()
        self.selector = selectors.DefaultSelector()
        os.set_blocking(self.stdout.fileno(), False)
        self.selector.register(self.stdout, selectors.EVENT_READ)
        if self.pending:
            os.set_blocking(self.stdin.fileno(), False)
            self.selector.register(self.stdin, selectors.EVENT_WRITE)
        else:
            self.stdin.close()
        self.reading = True

    def step(self, wait: float) -> None:
        """Move what is ready within ``wait`` seconds (the caller waits for the process
        once the output has ended)."""
        for key, _ in self.selector.select(wait):
            if key.fileobj is self.stdout:
                self._read()
            else:
                self._write()

    def _read(self) -> None:
        chunk = os.read(self.stdout.fileno(), 65536)
        if not chunk:
            self.selector.unregister(self.stdout)
            self.reading = False
            return
        self.output += chunk
        if len(self.output) > MAX_OUTPUT:
            del self.output[: len(self.output) - MAX_OUTPUT]

    def _write(self) -> None:
        try:
            written = os.write(self.stdin.fileno(), self.pending[:65536])
        except BrokenPipeError:  # the command does not read its input: fine
            written = len(self.pending)
        self.pending = self.pending[written:]
        if not self.pending:
            self.selector.unregister(self.stdin)
            self.stdin.close()

    def close(self) -> None:
        self.selector.close()
        if not self.stdin.closed:
            self.stdin.close()


def _pump(
    proc: subprocess.Popen[bytes], stdin: bytes, deadline: float, watchdog: Watchdog
) -> tuple[bytes, bool, str | None]:
    """Run ``proc`` to its end, its deadline or a limit: (output, timed out, limit exceeded)."""
    pipes = _Pipes(proc, stdin)
    try:
        while pipes.reading or proc.poll() is None:
            now = time.monotonic()
            if now >= deadline:
                return bytes(pipes.output), True, None
            if (exceeded := watchdog.check()) is not None:
                return bytes(pipes.output), False, exceeded
            wait = min(POLL_SECONDS, deadline - now)
            if pipes.reading:
                pipes.step(wait)
            else:  # output closed: return the moment bwrap exits, not at the next poll
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=wait)
    finally:
        pipes.close()
    return bytes(pipes.output), False, None
