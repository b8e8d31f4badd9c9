"""The system calls a scriptlet may not make, as data, compiled with libseccomp.

Scripts run as real root (no user namespace, so they can chown to package
users); capabilities and namespaces already keep them off most of the kernel,
and this filter closes what those leave open: the kernel keyrings (uid 0's
keyring is the host's, secrets and disk keys included), loading kernels and
modules, eBPF, perf, userfaultfd (a tool for kernel exploits), ptrace and
cross-process memory access, and every way to make a new namespace or mount
(a user namespace would hand a script a full capability set over new mounts).
The list starts from flatpak's blocklist (``flatpak-run.c``) and rpm-ostree's
sandbox, minus ``chroot``: ``useradd --root`` and ``ldconfig -r`` need it.

The filter allows by default and refuses the listed calls with an errno, as
flatpak does: a tool that probes for a call (``clone3``, the new mount API)
gets ``ENOSYS`` and falls back, anything else gets ``EPERM``. On x86_64 the
32-bit entry points are filtered too, so ``int 0x80`` is no way around it.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from core.errors import TriggerError

try:
    import seccomp as libseccomp
except ImportError:  # reported when a sandbox is first set up, with what to install
    libseccomp = None

CLONE_NEWUSER = 0x10000000
TIOCSTI = 0x5412
TIOCLINUX = 0x541C
FILTER_NAME = "seccomp.bpf"


@dataclass(frozen=True)
class Denied:
    """One refused call; ``masked_arg`` = (argument index, mask, value) refuses it only then."""

    syscall: str
    errno: int = errno.EPERM
    masked_arg: tuple[int, int, int] | None = None


DENIED: tuple[Denied, ...] = (
    # The kernel keyrings: uid 0's user keyring is the host's.
    Denied("add_key"),
    Denied("keyctl"),
    Denied("request_key"),
    # Replacing or extending the running kernel.
    Denied("kexec_load"),
    Denied("kexec_file_load"),
    Denied("init_module"),
    Denied("finit_module"),
    Denied("delete_module"),
    # Kernel attack surface a package never needs.
    Denied("bpf"),
    Denied("perf_event_open"),
    Denied("userfaultfd"),
    Denied("io_uring_setup", errno.ENOSYS),
    Denied("io_uring_enter", errno.ENOSYS),
    Denied("io_uring_register", errno.ENOSYS),
    Denied("uselib"),
    Denied("modify_ldt"),
    Denied("lookup_dcookie"),
    Denied("kcmp"),
    # Other processes' memory and state.
    Denied("ptrace"),
    Denied("process_vm_readv"),
    Denied("process_vm_writev"),
    Denied("pidfd_getfd"),
    Denied("move_pages"),
    Denied("migrate_pages"),
    Denied("mbind"),
    Denied("set_mempolicy"),
    Denied("get_mempolicy"),
    # New namespaces (a user namespace gives back every capability) and mounts.
    Denied("unshare"),
    Denied("setns"),
    Denied("clone", masked_arg=(0, CLONE_NEWUSER, CLONE_NEWUSER)),
    Denied("clone3", errno.ENOSYS),  # its flags live in memory: make glibc fall back to clone
    Denied("mount"),
    Denied("umount2"),
    Denied("pivot_root"),
    Denied("open_tree", errno.ENOSYS),
    Denied("move_mount", errno.ENOSYS),
    Denied("fsopen", errno.ENOSYS),
    Denied("fsconfig", errno.ENOSYS),
    Denied("fsmount", errno.ENOSYS),
    Denied("fspick", errno.ENOSYS),
    Denied("mount_setattr", errno.ENOSYS),
    # Files by handle bypass the mount namespace (the "shocker" escape).
    Denied("open_by_handle_at"),
    Denied("name_to_handle_at", errno.ENOSYS),
    # Host-global state: logs, accounting, quotas, swap, clocks, reboot.
    Denied("syslog"),
    Denied("acct"),
    Denied("quotactl"),
    Denied("swapon"),
    Denied("swapoff"),
    Denied("reboot"),
    Denied("settimeofday"),
    Denied("clock_settime"),
    Denied("clock_adjtime"),
    Denied("adjtimex"),
    Denied("iopl"),
    Denied("ioperm"),
    Denied("vhangup"),
    Denied("nfsservctl", errno.ENOSYS),
    Denied("fanotify_init"),
    # Pushing keystrokes into a terminal, or reprogramming the console.
    Denied("ioctl", masked_arg=(1, 0xFFFFFFFF, TIOCSTI)),
    Denied("ioctl", masked_arg=(1, 0xFFFFFFFF, TIOCLINUX)),
)


def _load() -> Any:
    if libseccomp is None:
        raise TriggerError(
            "Cannot run scripts: libseccomp's Python bindings are missing",
            hint="install python3-seccomp (make setup links it into the virtualenv)",
        )
    return libseccomp


def write_filter(out: BinaryIO, denied: tuple[Denied, ...] = DENIED) -> None:
    """Compile ``denied`` into a classic BPF program, in the form ``bwrap --seccomp`` reads."""
    seccomp = _load()
    filt = seccomp.SyscallFilter(seccomp.ALLOW)
    native = seccomp.system_arch()
    if native == seccomp.Arch.X86_64:
        filt.add_arch(seccomp.Arch.X86)
    for rule in denied:
        args = []
        if rule.masked_arg is not None:
            index, mask, value = rule.masked_arg
            args.append(seccomp.Arg(index, seccomp.MASKED_EQ, mask, value))
        # libseccomp knows every name on every architecture (iopl on arm64 is a
        # pseudo-call it drops), so a failure here is a broken libseccomp.
        try:
            filt.add_rule(seccomp.ERRNO(rule.errno), rule.syscall, *args)
        except (RuntimeError, ValueError) as err:
            raise TriggerError(
                f"Cannot build the sandbox's system call filter (refusing {rule.syscall}): {err}",
                hint="check that python3-seccomp matches the installed libseccomp",
            ) from err
    filt.export_bpf(out)


def filter_file(directory: Path) -> Path:
    """Write the filter to ``directory/FILTER_NAME`` and return its path."""
    path = directory / FILTER_NAME
    with path.open("wb") as out:
        write_filter(out)
    return path
