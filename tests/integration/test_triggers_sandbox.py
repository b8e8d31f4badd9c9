"""The sandbox itself, on a real overlay and real bwrap: what scripts can and cannot do."""

from __future__ import annotations

import os
import shlex
import socket
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from triggers_support import build_minimal_root

from core.errors import TriggerError
from core.progress import QuietProgress
from tests.conftest import needs_bwrap
from triggers import Mutability, Sandbox, run_scripts
from triggers.execute import _failure
from triggers.model import Script, ScriptKind, ScriptPlan
from triggers.overlay import MOUNT_FAILED

pytestmark = needs_bwrap


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_minimal_root(tmp_path_factory.mktemp("triggers-root") / "root")


def post(body: str, package: str = "demo", **kw: object) -> Script:
    return Script(package, ScriptKind.POST, ("/bin/sh",), body, nevra=f"{package}-1-1.x86_64", **kw)  # type: ignore[arg-type]


def run(body: str | list[Script], lowers: list[Path], upper: Path, **kw: object) -> None:
    scripts = [post(body)] if isinstance(body, str) else body
    run_scripts(
        ScriptPlan(tuple(scripts)), lowers=lowers, upper=upper, progress=QuietProgress(), **kw
    )  # type: ignore[arg-type]


def test_script_rewriting_a_store_hardlinked_file_leaves_the_store_object_intact(
    root: Path, tmp_path: Path
) -> None:
    store_object = tmp_path / "objects" / "ab" / "cdef.file"
    store_object.parent.mkdir(parents=True)
    store_object.write_text("pristine\n")
    store_object.chmod(0o644)
    checkout = tmp_path / "checkout"
    (checkout / "usr/share/demo").mkdir(parents=True)
    os.link(store_object, checkout / "usr/share/demo/shared.conf")
    before = os.stat(store_object)
    upper = tmp_path / "upper"
    upper.mkdir()

    run(
        "echo appended >> /usr/share/demo/shared.conf\n"
        'sed_free=$(cat /usr/share/demo/shared.conf); echo "$sed_free" > /tmp/x',
        [checkout, root],
        upper,
    )

    after = os.stat(store_object)
    assert store_object.read_text() == "pristine\n"
    assert (after.st_ino, after.st_nlink, after.st_mtime_ns) == (
        before.st_ino,
        before.st_nlink,
        before.st_mtime_ns,
    )
    copied = upper / "usr/share/demo/shared.conf"
    assert copied.read_text() == "pristine\nappended\n"
    assert os.stat(copied).st_ino != before.st_ino
    assert os.stat(copied).st_nlink == 1


def test_writes_land_in_the_upper_and_never_in_the_lowers(root: Path, tmp_path: Path) -> None:
    delta = tmp_path / "delta"
    (delta / "usr/share/pkg").mkdir(parents=True)
    (delta / "usr/share/pkg/gone").write_text("to be removed")
    upper = tmp_path / "upper"
    upper.mkdir()
    snapshot = sorted(str(p.relative_to(root)) for p in root.rglob("*"))

    run(
        "mkdir -p /usr/lib/new && echo made > /usr/lib/new/file\n"
        "rm /usr/share/pkg/gone\n"
        "echo cfg > /etc/generated.conf\n"
        "echo scratch > /tmp/t; echo state > /var/lib/thing 2>/dev/null || true\n"
        "echo runtime > /run/x",
        [delta, root],
        upper,
    )

    assert (delta / "usr/share/pkg/gone").read_text() == "to be removed"
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*")) == snapshot
    whiteout = os.lstat(upper / "usr/share/pkg/gone")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
    assert (upper / "usr/lib/new/file").read_text() == "made\n"
    # /etc is the tree's usr/etc; /tmp, /var and /run are thrown away with the sandbox.
    assert (upper / "usr/etc/generated.conf").read_text() == "cfg\n"
    assert sorted(p.name for p in upper.iterdir()) == ["usr"]


def test_sandbox_plumbing_leaves_no_directories_in_the_upper(tmp_path: Path) -> None:
    bare = build_minimal_root(tmp_path / "bare")
    for name in ("dev", "proc", "run", "tmp", "var", "etc"):
        (bare / name).rmdir()  # a committed tree may lack every one of these
    upper = tmp_path / "upper"
    upper.mkdir()
    run("echo kept > /usr/share/out", [bare], upper)
    assert sorted(p.name for p in upper.iterdir()) == ["usr"]
    assert (upper / "usr/share/out").read_text() == "kept\n"


def test_rpm_state_lasts_across_one_operations_scripts_and_var_does_not(
    root: Path, tmp_path: Path
) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    run(
        [
            post("echo from-pre > /var/lib/rpm-state/note; echo x > /var/lib/other", "a"),
            post(
                'test "$(cat /var/lib/rpm-state/note)" = from-pre && test ! -e /var/lib/other '
                "&& touch /usr/share/seen",
                "b",
            ),
        ],
        [root],
        upper,
    )
    assert (upper / "usr/share/seen").exists()


def test_failing_script_names_package_script_status_and_output(root: Path, tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    body = (
        "for i in $(seq 1 3 2>/dev/null || echo 1 2 3); do echo line$i; done\necho oops >&2\nexit 3"
    )
    with pytest.raises(TriggerError) as caught:
        run(body, [root], upper)
    err = caught.value
    assert err.command == ("demo:%post",)
    assert err.returncode == 3
    assert err.output_tail.splitlines()[-1] == "oops"
    assert "demo:%post of demo-1-1.x86_64 failed with exit status 3" in str(err)
    assert any(note.startswith("sandbox command: unshare ") for note in err.__notes__)


def test_the_logged_sandbox_command_can_be_pasted_to_reproduce(root: Path, tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    with Sandbox([root], upper=upper) as sandbox:
        result = sandbox.run(["/bin/sh", "-c", "echo reproduced; exit 4"])
        again = subprocess.run(
            ["sh", "-c", result.command_line], capture_output=True, text=True, check=False
        )
    assert (result.returncode, result.output) == (4, "reproduced\n")
    assert (again.returncode, again.stdout) == (4, "reproduced\n")
    assert shlex.split(result.command_line) == list(result.args)


def test_network_is_unreachable_from_a_script(root: Path, tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    port = server.getsockname()[1]
    upper = tmp_path / "upper"
    upper.mkdir()
    try:
        with pytest.raises(TriggerError) as caught:
            run(
                [
                    Script(
                        "netpkg",
                        ScriptKind.POST,
                        ("/bin/bash",),
                        f"exec 3<>/dev/tcp/127.0.0.1/{port} && echo connected",
                    )
                ],
                [root],
                upper,
            )
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()
    assert caught.value.returncode != 0
    assert "connected" not in caught.value.output_tail


def test_script_cannot_write_outside_the_tree(root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    upper = tmp_path / "upper"
    upper.mkdir()
    with pytest.raises(TriggerError):
        run(f"echo escaped > {outside}/file", [root], upper)
    assert list(outside.iterdir()) == []


def test_timeout_kills_every_process_of_the_sandbox(root: Path, tmp_path: Path) -> None:
    marker = uuid.uuid4().hex[:12]
    upper = tmp_path / "upper"
    upper.mkdir()
    start = time.monotonic()
    with pytest.raises(TriggerError, match="timed out after 1.5s") as caught:
        run(
            f"cp /usr/bin/sleep /tmp/sleep-{marker}; /tmp/sleep-{marker} 1000 &\n"
            "echo looping; while :; do :; done",
            [root],
            upper,
            timeout=1.5,
        )
    assert time.monotonic() - start < 10
    assert caught.value.command == ("demo:%post",)
    time.sleep(0.2)
    leftovers = [
        p for p in Path("/proc").iterdir() if p.name.isdigit() and marker.encode() in _cmdline(p)
    ]
    assert leftovers == []


def _cmdline(proc: Path) -> bytes:
    try:
        return (proc / "cmdline").read_bytes()
    except OSError:
        return b""


def test_scripts_run_as_root_and_can_chown_without_a_user_namespace(
    root: Path, tmp_path: Path
) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    run(
        "touch /usr/share/owned && chown 4321:4322 /usr/share/owned\n"
        "grep -q . /proc/self/uid_map 2>/dev/null; cat /proc/self/uid_map > /usr/share/uidmap",
        [root],
        upper,
    )
    meta = os.stat(upper / "usr/share/owned")
    assert (meta.st_uid, meta.st_gid) == (4321, 4322)
    assert (upper / "usr/share/uidmap").read_text().split() == ["0", "0", "4294967295"]


def test_only_the_listed_capabilities_remain(root: Path, tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    with Sandbox([root], upper=upper) as sandbox:
        result = sandbox.run(
            [
                "/bin/sh",
                "-c",
                "while read k v; do case $k in CapEff:|NoNewPrivs:) "
                "echo $k $v;; esac; done < /proc/self/status",
            ]
        )
    fields = dict(line.split() for line in result.output.splitlines())
    expected = sum(1 << bit for bit in (0, 1, 3, 4, 5, 6, 7, 8, 18, 31))
    assert int(fields["CapEff:"], 16) == expected
    assert fields["NoNewPrivs:"] == "1"  # a root execve cannot regain dropped capabilities


def test_immutable_sandbox_refuses_writes(root: Path, tmp_path: Path) -> None:
    with Sandbox([root], mutability=Mutability.IMMUTABLE) as sandbox:
        result = sandbox.run(["/bin/sh", "-c", "echo x > /usr/share/nope"])
    assert result.returncode != 0
    assert "Read-only" in result.output
    assert not (root / "usr/share/nope").exists()


def test_sanity_check_refuses_a_tree_a_script_broke(root: Path, tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    with pytest.raises(TriggerError, match="sanity check") as caught:
        run("rm /usr/bin/true", [root], upper)
    assert caught.value.command == ("/usr/bin/true",)


def test_a_missing_upper_is_a_clear_error(root: Path, tmp_path: Path) -> None:
    with pytest.raises(TriggerError, match="upper directory"):
        run("true", [root], tmp_path / "missing")


def test_sandbox_leaves_no_mount_and_no_scratch_directory_behind(
    root: Path, tmp_path: Path
) -> None:
    mounts = Path("/proc/self/mountinfo").read_text()
    upper = tmp_path / "upper"
    upper.mkdir()
    with pytest.raises(TriggerError):
        run("exit 9", [root], upper)
    run("true", [root], upper)
    assert Path("/proc/self/mountinfo").read_text() == mounts
    assert sorted(p.name for p in tmp_path.iterdir()) == ["upper"]


def test_mutable_sandbox_writes_straight_into_a_private_tree(tmp_path: Path) -> None:
    tree = build_minimal_root(tmp_path / "private")
    for name in ("run", "tmp"):
        (tree / name).rmdir()
    with Sandbox([tree], mutability=Mutability.MUTABLE) as sandbox:
        result = sandbox.run(["/bin/sh", "-c", "echo direct > /usr/share/direct"])
    assert result.returncode == 0
    assert (tree / "usr/share/direct").read_text() == "direct\n"
    assert not (tree / "run").exists() and not (tree / "tmp").exists()
    assert (tree / "dev").is_dir()  # it was there before: kept


def test_immutable_overlay_of_several_lowers_shows_the_union_read_only(
    root: Path, tmp_path: Path
) -> None:
    top = tmp_path / "top"
    (top / "usr/share").mkdir(parents=True)
    (top / "usr/share/from-top").write_text("top\n")
    with Sandbox([top, root], mutability=Mutability.IMMUTABLE) as sandbox:
        shown = sandbox.run(["/bin/cat", "/usr/share/from-top"])
        refused = sandbox.run(["/bin/sh", "-c", "echo x > /usr/share/from-top"])
    assert (shown.returncode, shown.output) == (0, "top\n")
    assert refused.returncode != 0
    assert (top / "usr/share/from-top").read_text() == "top\n"


def test_an_overlay_that_cannot_be_mounted_is_reported_as_such(root: Path, tmp_path: Path) -> None:
    vanishing = tmp_path / "vanishing"
    vanishing.mkdir()
    upper = tmp_path / "upper"
    upper.mkdir()
    with Sandbox([vanishing, root], upper=upper) as sandbox:
        vanishing.rmdir()  # gone between planning and mounting
        result = sandbox.run(["/usr/bin/true"])
    assert result.returncode == 125
    assert MOUNT_FAILED in result.output
    err = _failure(post("true"), result, 300)
    assert "mounting the sandbox's overlay failed" in str(err)


def test_an_upper_inside_a_lower_is_refused(root: Path, tmp_path: Path) -> None:
    (tmp_path / "upper").mkdir()
    with pytest.raises(TriggerError, match="overlap"):
        Sandbox([tmp_path, root], upper=tmp_path / "upper")
    with pytest.raises(TriggerError, match="overlap"):
        Sandbox([tmp_path / "upper" / ".."], upper=tmp_path / "upper")
