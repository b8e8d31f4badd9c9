"""Hostile scriptlets against the real sandbox: the host and the store stay untouched.

Each probe is what a malicious package author would try from a %post run as
real root. One real RPM carries every probe that must merely fail (its %post
records each outcome and exits 0); the probes the sandbox must stop by killing
the script (fork bomb, memory, disk fill) run one by one with small limits.
Probes that could change the host only ever write a value back to itself (a
sysctl's current value), so even a failing test never changes a setting.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import socket
import uuid
from pathlib import Path

import pytest
from triggers_support import _copy, _libraries, build_minimal_root, install_payload, read_rpm_header

from core.errors import TriggerError
from core.progress import QuietProgress
from fixtures.rpms import build_rpm
from tests.conftest import needs_bwrap, needs_rpmbuild
from triggers import Sandbox, plan_scripts, run_scripts
from triggers.limits import Limits

pytestmark = [
    needs_bwrap,
    pytest.mark.skipif(platform.machine() != "x86_64", reason="probes use x86_64 syscall numbers"),
]

RESULTS = "/usr/share/hostile/results"
REFUSED = ("Read-only file system", "Permission denied", "Operation not permitted")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = build_minimal_root(tmp_path_factory.mktemp("hostile-root") / "root")
    for name in ("perl", "busybox"):  # perl-base is essential; busybox-static is in the Makefile
        tool = shutil.which(name, path="/usr/bin:/bin")
        assert tool is not None, f"{name} is needed to probe the sandbox"
        _copy(tool, tree, f"/usr/bin/{name}")
        for lib in _libraries(tool):
            _copy(lib, tree, f"usr/lib/x86_64-linux-gnu/{os.path.basename(lib)}")
    return tree


def sandboxed(root: Path, tmp_path: Path, script: str, **kw: object) -> tuple[int, str, str | None]:
    upper = tmp_path / "upper"
    upper.mkdir(exist_ok=True)
    with Sandbox([root], upper=upper, **kw) as sandbox:  # type: ignore[arg-type]
        result = sandbox.run(["/bin/sh", "-c", script])
    return result.returncode, result.output, result.exceeded


def _cmdlines_with(marker: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if marker.encode() in (proc / "cmdline").read_bytes():
                    found.append(proc.name)
            except OSError:
                continue
    return found


# -- /proc and /sys -------------------------------------------------------------


def test_every_proc_mount_is_read_only_and_no_sysfs_is_mounted(root: Path, tmp_path: Path) -> None:
    code, out, _ = sandboxed(root, tmp_path, "cat /proc/self/mountinfo")
    assert code == 0, out
    mounts = {}
    for line in out.splitlines():
        fields = line.split()
        sep = fields.index("-")
        mounts[fields[4]] = (fields[5].split(","), fields[sep + 1])
    proc = {point: opts for point, (opts, _) in mounts.items() if point.startswith("/proc")}
    assert "/proc" in proc
    assert all("ro" in opts for opts in proc.values()), proc
    assert not [point for point, (_, fstype) in mounts.items() if fstype == "sysfs"]


@pytest.mark.parametrize(
    "knob",
    [
        "/proc/sys/kernel/core_pattern",
        "/proc/sys/kernel/hostname",
        "/proc/sys/vm/overcommit_memory",
    ],
)
def test_a_sysctl_written_back_to_itself_is_refused(root: Path, tmp_path: Path, knob: str) -> None:
    before = Path(knob).read_text()
    # Writing the current value back changes nothing even if the guard failed.
    code, out, _ = sandboxed(root, tmp_path, f'v=$(cat {knob}) && printf "%s\\n" "$v" > {knob}')
    assert code != 0
    assert any(refusal in out for refusal in REFUSED), out
    assert Path(knob).read_text() == before


def test_sysrq_trigger_cannot_be_opened_for_writing(root: Path, tmp_path: Path) -> None:
    # An empty redirection opens the file for writing and writes nothing.
    code, out, _ = sandboxed(root, tmp_path, ": > /proc/sysrq-trigger")
    assert code != 0
    refusals = list(REFUSED)
    if not Path("/proc/sysrq-trigger").exists():  # a kernel built without magic SysRq
        refusals.append("nonexistent")
    assert any(refusal in out for refusal in refusals), out


def test_scripts_can_still_write_to_their_standard_streams(root: Path, tmp_path: Path) -> None:
    code, out, _ = sandboxed(
        root, tmp_path, "echo to-err > /dev/stderr; echo to-fd >/proc/self/fd/1"
    )
    assert (code, out) == (0, "to-err\nto-fd\n")


# -- one hostile package, every probe -------------------------------------------

# Each probe prints "refused: <errno text>" or "allowed"; perl's syscall() reaches the
# kernel directly, so a probe tests the filter, not a tool's own checks.
SYSCALL_PROBES = {
    "keyctl": "syscall(250, 0, -4, 0)",  # KEYCTL_GET_KEYRING_ID of the user keyring
    "add_key": 'syscall(248, my $t = "user", my $d = "k", my $v = "v", 1, -4)',
    "request_key": 'syscall(249, my $t = "user", my $d = "k", 0, -4)',
    "ptrace": "syscall(101, 16, 1, 0, 0)",  # PTRACE_ATTACH to the namespace's init
    "mount": 'syscall(165, my $s = "none", my $d = "/tmp", my $t = "tmpfs", 0, 0)',
    "unshare_user": "syscall(272, 0x10000000)",
    "clone_newuser": "syscall(56, 0x10000000 | 17, 0, 0, 0, 0)",
    "bpf": "syscall(321, 0, 0, 0)",
    "perf_event_open": "syscall(298, 0, 0, -1, -1, 0)",
    "userfaultfd": "syscall(323, 0)",
    "init_module": 'syscall(175, my $m = "", 0, my $a = "")',
    "kexec_load": "syscall(246, 0, 0, 0, 0)",
    "open_by_handle_at": "syscall(304, -100, 0, 0)",
    "mknod_block": 'syscall(133, my $p = "/tmp/sda", 0060600, 0x800)',  # b 8:0, a host disk
}
EXPECTED_ERRNO = {"open_by_handle_at": "Operation not permitted"}


def _probe_script(secret: Path, port: int, abstract: str, daemon: str) -> str:
    lines = [f"R={RESULTS}", "mkdir -p ${R%/*}", "export LC_ALL=C"]
    for name, call in SYSCALL_PROBES.items():
        code = f'my $r = {call}; print $r < 0 ? "refused: $!" : "allowed"'
        lines.append(f"echo \"{name}: $(perl -e '{code}' 2>&1)\" >> $R")
    inet = f'pack("S n C4 x8", 2, {port}, 127, 0, 0, 1)'
    unix = f'pack("S", 1) . "\\0{abstract}"'
    for name, addr in (("tcp_host", inet), ("abstract_unix", unix)):
        family = 2 if name == "tcp_host" else 1
        code = (
            f"my $fd = syscall(41, {family}, 1, 0); my $a = {addr}; "
            'my $r = syscall(42, $fd, $a, length($a)); print $r < 0 ? "refused: $!" : "allowed"'
        )
        lines.append(f"echo \"{name}: $(perl -e '{code}' 2>&1)\" >> $R")
    lines += [
        f'echo "host_read: $(cat {secret} 2>&1 || true)" >> $R',
        f'echo "host_write: $( (echo pwned > {secret}) 2>&1 || true)" >> $R',
        'echo "sys: $(ls -A /sys 2>/dev/null | wc -l)" >> $R',
        "echo dev: $(ls /dev) >> $R",
        'echo pids: $(ls /proc | busybox grep -c "^[0-9]") >> $R',
        # A daemon left behind on purpose, double-forked out of the script's session.
        f"cp /usr/bin/sleep /tmp/{daemon} && busybox setsid /tmp/{daemon} 600 &",
        "sleep 0.3",
        # The store: every way to reach a hardlinked object's inode.
        "f=/usr/share/demo/shared.conf",
        "chmod 4777 $f; chown 1:1 $f; touch -d 2001-01-01 $f; echo x >> $f",
        "ln $f /usr/share/demo/second && echo y >> /usr/share/demo/second",
        "exit 0",
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def probed(root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Build the hostile package, layer it over a store-linked tree, return what it saw."""
    tmp = tmp_path_factory.mktemp("hostile")
    secret = tmp / "host-secret"
    secret.write_text("host secret\n")
    store_object = tmp / "objects" / "ab" / "cdef.file"
    store_object.parent.mkdir(parents=True)
    store_object.write_text("pristine\n")
    store_object.chmod(0o644)
    checkout = tmp / "checkout"
    (checkout / "usr/share/demo").mkdir(parents=True)
    os.link(store_object, checkout / "usr/share/demo/shared.conf")
    before = os.stat(store_object)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    abstract = f"strata-hostile-{uuid.uuid4().hex}"
    unix_listener = socket.socket(socket.AF_UNIX)
    unix_listener.bind("\0" + abstract)
    unix_listener.listen()
    unix_listener.settimeout(0.2)
    daemon = f"daemon-{uuid.uuid4().hex}"
    body = _probe_script(secret, listener.getsockname()[1], abstract, daemon)
    rpm_file = build_rpm("hostile-probes", scripts={"post": body}, out_dir=tmp / "rpms")
    delta = install_payload(rpm_file, tmp / "delta")
    upper = tmp / "upper"
    upper.mkdir()
    plan = plan_scripts([read_rpm_header(rpm_file)], [])
    try:
        run_scripts(
            plan, lowers=[delta, checkout, root], upper=upper, progress=QuietProgress(), timeout=60
        )
        connections = []
        for server in (listener, unix_listener):
            with contextlib.suppress(TimeoutError):
                connections.append(server.accept())
    finally:
        listener.close()
        unix_listener.close()
    results = dict(
        line.split(": ", 1) for line in (upper / RESULTS.lstrip("/")).read_text().splitlines()
    )
    return {
        "results": results,
        "connections": connections,
        "secret": secret,
        "store_object": store_object,
        "store_before": before,
        "daemon": daemon,
        "upper": upper,
    }


@needs_rpmbuild
@pytest.mark.parametrize("name", sorted(SYSCALL_PROBES))
def test_a_dangerous_system_call_is_refused(probed: dict[str, object], name: str) -> None:
    results = probed["results"]
    assert isinstance(results, dict)
    verdict = results[name]
    assert verdict.startswith("refused: "), f"{name}: {verdict}"
    assert verdict.removeprefix("refused: ") in EXPECTED_ERRNO.get(name, REFUSED), verdict


@needs_rpmbuild
def test_the_host_network_and_its_abstract_sockets_are_unreachable(
    probed: dict[str, object],
) -> None:
    results = probed["results"]
    assert isinstance(results, dict)
    assert results["tcp_host"].startswith("refused: "), results["tcp_host"]
    assert results["abstract_unix"].startswith("refused: "), results["abstract_unix"]
    assert probed["connections"] == []


@needs_rpmbuild
def test_host_files_are_invisible_and_untouched(probed: dict[str, object]) -> None:
    results = probed["results"]
    assert isinstance(results, dict) and isinstance(probed["secret"], Path)
    assert "host secret" not in results["host_read"]
    assert "No such file" in results["host_read"] or "nonexistent" in results["host_read"]
    assert probed["secret"].read_text() == "host secret\n"


@needs_rpmbuild
def test_no_sysfs_only_harmless_devices_and_no_host_process_in_sight(
    probed: dict[str, object],
) -> None:
    results = probed["results"]
    assert isinstance(results, dict)
    assert results["sys"] == "0"
    assert set(results["dev"].split()) <= {
        "console", "core", "fd", "full", "mqueue", "null", "ptmx", "pts", "random",
        "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero",
    }  # fmt: skip
    # The namespace's init, the script's shell, perl/ls and a few helpers: never the host's.
    assert int(results["pids"]) < 10


@needs_rpmbuild
def test_a_daemon_a_script_leaves_behind_dies_with_the_sandbox(probed: dict[str, object]) -> None:
    assert isinstance(probed["daemon"], str)
    assert _cmdlines_with(probed["daemon"]) == []


@needs_rpmbuild
def test_store_objects_are_untouched_through_every_hardlink(probed: dict[str, object]) -> None:
    store_object, before, upper = probed["store_object"], probed["store_before"], probed["upper"]
    assert isinstance(store_object, Path) and isinstance(upper, Path)
    after = os.stat(store_object)
    assert store_object.read_text() == "pristine\n"
    assert (after.st_ino, after.st_nlink, after.st_mode, after.st_uid, after.st_mtime_ns) == (
        before.st_ino,  # type: ignore[attr-defined]
        before.st_nlink,  # type: ignore[attr-defined]
        before.st_mode,  # type: ignore[attr-defined]
        before.st_uid,  # type: ignore[attr-defined]
        before.st_mtime_ns,  # type: ignore[attr-defined]
    )
    copied = upper / "usr/share/demo/shared.conf"
    assert copied.read_text() == "pristine\nx\ny\n"
    assert os.stat(copied).st_ino != after.st_ino


# -- what the sandbox must stop by killing the script ----------------------------


@pytest.mark.parametrize(
    ("script", "limits", "what"),
    [
        (
            "i=0; while [ $i -lt 400 ]; do sleep 30 & i=$((i+1)); done; wait",
            Limits(processes=64),
            "more than 64 processes",
        ),
        (
            "perl -e '$x = q(a) x (512 << 20); sleep 30'",
            Limits(memory=64 << 20),
            "more than 64 MiB of memory",
        ),
        (
            "busybox dd if=/dev/zero of=/usr/share/fill bs=1M count=1024; sleep 30",
            Limits(disk_growth=32 << 20),
            "more than 32 MiB of disk",
        ),
    ],
    ids=["fork-bomb", "memory", "disk-fill"],
)
def test_a_runaway_script_is_killed_at_its_limit(
    root: Path, tmp_path: Path, script: str, limits: Limits, what: str
) -> None:
    marker = uuid.uuid4().hex
    code, out, exceeded = sandboxed(root, tmp_path, f": {marker}; {script}", limits=limits)
    assert exceeded == what, out
    assert code != 0
    assert _cmdlines_with(marker) == []
    fill = tmp_path / "upper/usr/share/fill"
    assert not fill.exists() or fill.stat().st_size < 512 << 20


def test_run_scripts_reports_the_limit_a_script_went_past(root: Path, tmp_path: Path) -> None:
    from triggers.model import Script, ScriptKind, ScriptPlan

    upper = tmp_path / "upper"
    upper.mkdir()
    bomb = Script(
        "bomb",
        ScriptKind.POST,
        ("/bin/sh",),
        "while :; do sleep 30 & done",
        nevra="bomb-1-1.x86_64",
    )
    with pytest.raises(TriggerError) as caught:
        run_scripts(
            ScriptPlan((bomb,)), lowers=[root], upper=upper, progress=QuietProgress(),
            limits=Limits(processes=32),
        )  # fmt: skip
    assert "bomb:%post" in str(caught.value)
    assert "killed: it used more than 32 processes" in str(caught.value)
