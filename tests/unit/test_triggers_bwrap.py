"""The sandbox command, built by pure functions: what a script can and cannot reach."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import TriggerError
from triggers import bwrap, overlay
from triggers.execute import script_command
from triggers.lua import HostLua, elf_interpreter
from triggers.model import Script, ScriptKind


def _pairs(args: list[str], flag: str) -> list[str]:
    return [args[i + 1] for i, a in enumerate(args) if a == flag]


def test_capabilities_drop_all_then_add_the_commented_list() -> None:
    args = bwrap.capabilities()
    assert args[:2] == ["--cap-drop", "ALL"]
    assert _pairs(args, "--cap-add") == [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_FSETID",
        "CAP_KILL",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETPCAP",
        "CAP_SYS_CHROOT",
        "CAP_SETFCAP",
    ]
    source = Path(bwrap.__file__).read_text()
    for cap in bwrap.ADDED_CAPABILITIES:
        line = next(ln for ln in source.splitlines() if f'"{cap}",' in ln)
        assert "#" in line, f"{cap} has no comment saying why it is kept"


def test_namespaces_unshare_everything_but_the_user_namespace() -> None:
    args = bwrap.namespaces()
    for flag in (
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
    ):
        assert flag in args
    assert not any("user" in a for a in args)


def test_environment_is_cleared_and_minimal() -> None:
    args = bwrap.environment(source_date_epoch=1700000000)
    assert args[0] == "--clearenv"
    env = {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a == "--setenv"}
    assert env == {
        "PATH": "/usr/sbin:/usr/bin",
        "SYSTEMD_OFFLINE": "1",
        "SOURCE_DATE_EPOCH": "1700000000",
        "LANG": "C.UTF-8",
    }


def test_var_is_throwaway_except_rpm_state(tmp_path: Path) -> None:
    args = bwrap.var_filesystems(tmp_path)
    assert args == [
        "--tmpfs",
        "/var",
        "--tmpfs",
        "/var/tmp",
        "--bind",
        str(tmp_path),
        "/var/lib/rpm-state",
    ]


def test_etc_is_the_trees_usr_etc(tmp_path: Path) -> None:
    assert bwrap.etc_from_usr_etc(tmp_path) == ["--bind", f"{tmp_path}/usr/etc", "/etc"]
    assert bwrap.etc_from_usr_etc(tmp_path, writable=False)[0] == "--ro-bind"
    with_etc = bwrap.sandbox_argv(tmp_path, ["true"], writable=True, usr_etc=True)
    assert with_etc[4:7] == ["--bind", f"{tmp_path}/usr/etc", "/etc"]
    assert "/etc" not in bwrap.sandbox_argv(tmp_path, ["true"], writable=True)


def test_sandbox_argv_binds_the_tree_as_root_before_anything_else(tmp_path: Path) -> None:
    args = bwrap.sandbox_argv(tmp_path, ["/bin/sh", "-c", "true"], writable=True)
    assert args[:4] == ["bwrap", "--bind", str(tmp_path), "/"]
    assert args[-4:] == ["--", "/bin/sh", "-c", "true"]
    assert _pairs(args, "--chdir") == ["/"]
    assert _pairs(args, "--dev") == ["/dev"] and _pairs(args, "--proc") == ["/proc"]
    assert "/tmp" in _pairs(args, "--tmpfs") and "/run" in _pairs(args, "--tmpfs")
    ro = bwrap.sandbox_argv(tmp_path, ["true"], writable=False)
    assert ro[1:4] == ["--ro-bind", str(tmp_path), "/"]


def test_overlay_options_stack_lowers_topmost_first_and_keep_upper_plain() -> None:
    opts = overlay.overlay_options(
        [Path("/a/delta"), Path("/a/base")], Path("/a/up"), Path("/a/work")
    )
    assert opts.split(",") == [
        "lowerdir=/a/delta:/a/base",
        "upperdir=/a/up",
        "workdir=/a/work",
        "redirect_dir=off",
        "index=off",
        "metacopy=off",
        "xino=off",
    ]
    assert overlay.overlay_options([Path("/a"), Path("/b")]).startswith("lowerdir=/a:/b,")


@pytest.mark.parametrize("bad", ["/x,upperdir=/etc", "/x:y", "relative", "/a\\b"])
def test_overlay_refuses_paths_that_would_inject_options(bad: str) -> None:
    with pytest.raises(TriggerError, match="overlay layer"):
        overlay.overlay_options([Path(bad)], Path("/up"), Path("/work"))


def test_overlay_needs_a_workdir_with_an_upper() -> None:
    with pytest.raises(TriggerError, match="work directory"):
        overlay.overlay_options([Path("/a")], Path("/up"))


def test_mount_wrapper_passes_options_as_arguments_not_shell_text() -> None:
    argv = overlay.mount_and_exec("lowerdir=/a", Path("/m"), ["bwrap", "--", "x; rm -rf /"])
    assert argv[:5] == ["unshare", "--mount", "--propagation", "private", "--"]
    assert argv[5:7] == ["sh", "-c"]
    assert argv[8:] == ["strata-overlay", "lowerdir=/a", "/m", "bwrap", "--", "x; rm -rf /"]
    assert "rm -rf" not in argv[7]  # the sh -c text is fixed; the command only arrives as "$@"


def test_plumbing_dirs_made_by_bwrap_are_removed_but_script_output_kept(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "dev").mkdir(parents=True)
    for name in ("proc", "run", "tmp", "etc", "var"):
        (upper / name).mkdir(parents=True)
    (upper / "var" / "kept").write_text("a script wrote this")
    (upper / "usr").mkdir()
    removed = overlay.remove_plumbing(upper, [lower])
    assert sorted(removed) == ["etc", "proc", "run", "tmp"]
    assert sorted(p.name for p in upper.iterdir()) == ["usr", "var"]


def test_script_commands_follow_rpm_calling_conventions() -> None:
    sh = Script("a", ScriptKind.POST, ("/bin/sh",), "echo hi", arg=(1,))
    assert script_command(sh, None) == ["/bin/sh", "/run/strata/script", "1"]
    trig = Script("a", ScriptKind.TRIGGERIN, ("/bin/bash", "-e"), "x", arg=(1, 1))
    assert script_command(trig, None) == ["/bin/bash", "-e", "/run/strata/script", "1", "1"]
    ldconfig = Script("a", ScriptKind.POST, ("/sbin/ldconfig",), None)
    assert script_command(ldconfig, None) == ["/sbin/ldconfig"]
    lua = Script("a", ScriptKind.PRE, ("<lua>",), "print(1)")
    with pytest.raises(TriggerError):
        script_command(lua, None)
    host = HostLua(
        Path("/usr/lib/ld.so"),
        Path("/usr/bin/rpmlua"),
        (Path("/usr/lib/x86_64-linux-gnu"),),
        Path("/usr/lib/rpm"),
    )
    argv = script_command(lua, host)
    assert argv[:4] == [
        "/run/host/usr/lib/ld.so",
        "--library-path",
        "/run/host/usr/lib/x86_64-linux-gnu",
        "/run/host/usr/bin/rpmlua",
    ]
    assert argv[-2:] == ["/run/strata/script", "1"]
    assert host.host_dirs() == (Path("/usr"),)
    assert host.environment() == {"RPM_CONFIGDIR": "/run/host/usr/lib/rpm"}


def test_elf_interpreter_of_a_host_binary_is_the_loader() -> None:
    loader = elf_interpreter(Path("/bin/sh").resolve())
    assert loader.name.startswith("ld-linux")


def test_elf_interpreter_rejects_non_elf(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"#!/bin/sh\n")
    with pytest.raises(TriggerError, match="not a 64-bit"):
        elf_interpreter(tmp_path / "x")


def test_proc_is_remounted_read_only_right_after_it_is_mounted() -> None:
    args = bwrap.api_filesystems()
    at = args.index("--proc")
    assert args[at : at + 4] == ["--proc", "/proc", "--remount-ro", "/proc"]
    assert "/sys" not in args


def test_the_filter_is_read_from_the_descriptor_the_wrapper_opens(tmp_path: Path) -> None:
    argv = bwrap.sandbox_argv(tmp_path, ["/bin/true"], writable=False)
    at = argv.index("--seccomp")
    assert argv[at + 1] == str(bwrap.SECCOMP_FD) and at < argv.index("--")
    wrapped = bwrap.with_filter(tmp_path / "f.bpf", argv)
    assert wrapped[:2] == ["sh", "-c"] and f"exec {bwrap.SECCOMP_FD}<" in wrapped[2]
    assert wrapped[4:] == [str(tmp_path / "f.bpf"), *argv]


def test_the_seccomp_filter_compiles_and_covers_the_dangerous_calls(tmp_path: Path) -> None:
    from triggers import seccomp

    path = seccomp.filter_file(tmp_path)
    assert path.stat().st_size > 0 and path.stat().st_size % 8 == 0  # struct sock_filter
    names = {rule.syscall for rule in seccomp.DENIED}
    dangerous = ("keyctl", "add_key", "request_key", "kexec_load", "init_module", "bpf")
    dangerous += ("perf_event_open", "userfaultfd", "ptrace", "mount", "unshare", "setns")
    assert set(dangerous) <= names
    assert "chroot" not in names  # useradd --root and ldconfig -r need it
