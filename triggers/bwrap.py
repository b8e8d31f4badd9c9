"""bubblewrap argument lists, built by small pure functions.

Nothing here runs a process: each function returns the arguments for one
concern (a bind, the API filesystems, the namespaces, the capability set, the
environment), so the whole sandbox command is unit-testable and can be printed
ready to paste with ``--debug``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

BWRAP = "bwrap"

# The capabilities a scriptlet keeps. The sandbox runs as real root without a user
# namespace (so files can be chowned to package users); everything else is dropped.
ADDED_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",  # chown files to users and groups a package creates (%pre useradd)
    "CAP_DAC_OVERRIDE",  # root scripts read/write files whatever their mode (0600 configs)
    "CAP_FOWNER",  # chmod/utime/setxattr on files root does not own
    "CAP_FSETID",  # keep setuid/setgid bits when root modifies such a file
    "CAP_KILL",  # scripts stop helper daemons they started (inside the pid namespace)
    "CAP_SETGID",  # su/runuser/setpriv: run a helper as a package group
    "CAP_SETUID",  # ... and as a package user
    "CAP_SETPCAP",  # drop capabilities further in a helper (setpriv, capsh)
    "CAP_SYS_CHROOT",  # tools that chroot, e.g. useradd --root, ldconfig -r
    "CAP_SETFCAP",  # setcap: give a binary file capabilities (ping, newuidmap)
)

BASE_PATH = "/usr/sbin:/usr/bin"

# The descriptor bwrap reads the system call filter from (see ``with_filter``).
SECCOMP_FD = 3
_OPEN_FILTER_THEN_EXEC = f'exec {SECCOMP_FD}<"$1" && shift && exec "$@"'


def bind(src: Path | str, dst: str) -> list[str]:
    """Bind ``src`` (host side) read-write at ``dst`` (sandbox side)."""
    return ["--bind", str(src), dst]


def bind_ro(src: Path | str, dst: str) -> list[str]:
    """Bind ``src`` read-only at ``dst``."""
    return ["--ro-bind", str(src), dst]


def tmpfs(dst: str) -> list[str]:
    """A fresh, empty tmpfs at ``dst``; gone when the sandbox exits."""
    return ["--tmpfs", dst]


def api_filesystems() -> list[str]:
    """Fresh /dev, /proc, /run and /tmp: nothing of the host's leaks in, nothing lasts.

    ``/proc`` is remounted read-only as a whole. Scripts run as real root
    without a user namespace, so every host-global knob under it
    (``/proc/sys`` with ``kernel.core_pattern``, ``/proc/sysrq-trigger``,
    ``/proc/irq``, ...) would otherwise act on the host kernel; bwrap's own
    cover of a few subdirectories is skipped for a caller it thinks can
    write them. Read-only for all leaves no entry to forget; scripts lose
    only writes to their own ``/proc/self`` files, which packages do not
    need. No ``/sys`` is mounted at all: the tree's own (empty) directory
    shows.

    ``/run`` is a tmpfs rather than a plain directory so that runtime files a
    script leaves behind are not folded into the committed tree.
    """
    return [
        *["--dev", "/dev"],
        *["--proc", "/proc", "--remount-ro", "/proc"],
        *tmpfs("/run"),
        *tmpfs("/tmp"),
    ]


def var_filesystems(rpm_state: Path | None, var: Path | None = None) -> list[str]:
    """``/var`` for scripts: ``var`` (the tree's own /var content, laid out by the caller
    from its tmpfiles.d, whose changes the caller turns back into tmpfiles.d lines), else
    a throwaway tmpfs; ``/var/tmp`` is always a fresh tmpfs.

    ``/var/lib/rpm-state`` is the one directory rpm promises lasts across the
    scripts of one transaction (a %pre may leave a note for %posttrans), so it
    is a per-operation host directory bound in.
    """
    args = [*(bind(var, "/var") if var is not None else tmpfs("/var")), *tmpfs("/var/tmp")]
    if rpm_state is not None:
        args += bind(rpm_state, "/var/lib/rpm-state")
    return args


def namespaces() -> list[str]:
    """Private pid/ipc/uts/net (and cgroup where possible); deliberately no user namespace."""
    return [
        "--unshare-pid",
        "--unshare-uts",
        "--unshare-ipc",
        "--unshare-net",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",  # no controlling terminal to push keystrokes into (TIOCSTI)
    ]


def capabilities(added: tuple[str, ...] = ADDED_CAPABILITIES) -> list[str]:
    """Drop every capability, then add back the explicit list."""
    args = ["--cap-drop", "ALL"]
    for cap in added:
        args += ["--cap-add", cap]
    return args


def environment(*, source_date_epoch: int, extra: Mapping[str, str] | None = None) -> list[str]:
    """A cleared environment: nothing of the caller's (proxies, tokens, locale) leaks in."""
    env = {
        "PATH": BASE_PATH,
        "SYSTEMD_OFFLINE": "1",
        "SOURCE_DATE_EPOCH": str(source_date_epoch),
        "LANG": "C.UTF-8",
        **(extra or {}),
    }
    args = ["--clearenv"]
    for key in sorted(env):
        args += ["--setenv", key, env[key]]
    return args


def root(tree: Path, *, writable: bool) -> list[str]:
    """The tree as the sandbox's ``/``."""
    return bind(tree, "/") if writable else bind_ro(tree, "/")


def etc_from_usr_etc(tree: Path, *, writable: bool = True) -> list[str]:
    """Show the tree's ``usr/etc`` as ``/etc``: trees keep the /etc defaults there.

    Writes to /etc (useradd, config generators) therefore land in ``usr/etc``
    of the new tree, where the deployment's /etc merge picks them up. The
    caller decides whether the tree has a ``usr/etc`` (an overlay's merged
    directory is only populated once mounted, inside the namespace).
    """
    usr_etc = tree / "usr" / "etc"
    return bind(usr_etc, "/etc") if writable else bind_ro(usr_etc, "/etc")


def with_filter(filter_path: Path, command: list[str]) -> list[str]:
    """Wrap ``command`` (that starts bwrap) so the filter file is open on ``SECCOMP_FD``.

    A shell opens it rather than the caller handing a descriptor down, so the
    logged command line still reproduces the sandbox when pasted into a root shell.
    """
    return ["sh", "-c", _OPEN_FILTER_THEN_EXEC, "strata-seccomp", str(filter_path), *command]


def sandbox_argv(
    tree: Path,
    command: list[str],
    *,
    writable: bool,
    usr_etc: bool = False,
    rpm_state: Path | None = None,
    var: Path | None = None,
    binds_ro: tuple[tuple[Path, str], ...] = (),
    source_date_epoch: int = 0,
    env: Mapping[str, str] | None = None,
    seccomp: bool = True,
) -> list[str]:
    """The full bwrap command running ``command`` with ``tree`` as ``/``.

    ``usr_etc``: the tree keeps its /etc in ``usr/etc``; show that as ``/etc``.
    ``seccomp``: load the system call filter from ``SECCOMP_FD`` (``with_filter``).
    """
    args = [BWRAP, *root(tree, writable=writable)]
    if usr_etc:
        args += etc_from_usr_etc(tree, writable=writable)
    args += api_filesystems()
    args += var_filesystems(rpm_state, var)
    for src, dst in binds_ro:
        args += bind_ro(src, dst)
    args += ["--chdir", "/"]
    args += namespaces()
    args += capabilities()
    args += environment(source_date_epoch=source_date_epoch, extra=env)
    if seccomp:
        args += ["--seccomp", str(SECCOMP_FD)]
    args += ["--", *command]
    return args
