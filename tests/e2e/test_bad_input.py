"""The bad-input matrix: every refused input says what and what to do, and changes nothing.

Each case runs one ``strata`` command on a private copy of a small composed sysroot
(see ``reliability_support``) and asserts:

* a non-zero exit status (1, or 2 for a usage error);
* a message naming what is wrong, and a ``hint:`` line saying what to do;
* what a user sees is byte-for-byte unchanged (:func:`snapshot`: deployments, origins,
  every deployment's ``/etc``, boot entries, ``status --json``, refs that are not caches);
* no temp file or directory is left behind.

Caches may keep what a refused command fetched (downloaded RPMs, imported packages).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from core.sysroot.lock import sysroot_lock
from fixtures.rpms import FileKind, FileSpec, build_rpm
from tests.conftest import needs_bwrap, needs_rpmbuild
from tests.e2e import reliability_rpms as crafted
from tests.e2e.reliability_support import (
    NET_PORT,
    REF_V1,
    REPO_FILE,
    ROOT,
    Box,
    Kind,
    cli,
    layer_rpms,
    leftovers,
    snapshot,
    template,
)

pytestmark = [needs_bwrap, needs_rpmbuild]

Setup = Callable[[Box, Path], dict[str, str]]  # returns {placeholder: value}


@dataclass(frozen=True)
class Bad:
    id: str
    args: tuple[str, ...]
    says: tuple[str, ...]  # substrings of stderr: what is wrong
    setup: Setup | None = None
    kind: str = Kind.BASE
    exit: int = 1
    hint: bool = True  # a "hint:" line (usage errors print argparse's usage instead)
    env: dict[str, str] = field(default_factory=dict)
    sysroot: bool = True


# -- setups --------------------------------------------------------------------------------


def _tool_rpm() -> Path:
    return layer_rpms()["tool"]


def local(make: Callable[[Path, Path], Path], name: str = "bad.rpm") -> Setup:
    def setup(box: Box, tmp: Path) -> dict[str, str]:
        return {"{rpm}": str(make(_tool_rpm(), tmp / name))}

    return setup


def not_an_rpm(src: Path, dest: Path) -> Path:
    dest.write_text("hello, I am a text file\n")
    return dest


def crafted_rpm(
    name: str,
    files: dict[str, Any],
    header: list[tuple[bytes, bytes]],
    payload: list[tuple[bytes, bytes]],
) -> Setup:
    def setup(box: Box, tmp: Path) -> dict[str, str]:
        built = build_rpm(name, autoreqprov=False, files=files)
        out = crafted.craft(built, tmp / f"{name}.rpm", header=header, payload=payload)
        return {"{rpm}": str(out)}

    return setup


def write_file(rel: str, text: str) -> Setup:
    """Write (or replace) a file in the booted deployment, as an administrator would."""

    def setup(box: Box, tmp: Path) -> dict[str, str]:
        path = box.default_path() / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return {}

    return setup


def corrupt_entry(box: Box, tmp: Path) -> dict[str, str]:
    """A boot entry whose version line was lost (a hand edit, a broken disk)."""
    entries = box.sysroot / "boot" / "loader" / "entries"
    path = sorted(entries.iterdir())[0]
    path.write_text(
        "\n".join(line for line in path.read_text().splitlines() if not line.startswith("version"))
    )
    return {"{entry}": path.name}


def repo_file(baseurl_of: Callable[[Box, Path], str], extra: str = "gpgcheck=0\n") -> Setup:
    def setup(box: Box, tmp: Path) -> dict[str, str]:
        text = f"[layer]\nname=layer\nbaseurl={baseurl_of(box, tmp)}\nenabled=1\n" + extra
        return write_file(REPO_FILE, text)(box, tmp)

    return setup


def broken_repo(box: Box, tmp: Path) -> str:
    """A copy of the layer repo whose primary metadata no longer matches repomd.xml."""
    copy = tmp / "broken-repo"
    shutil.copytree(box.root / "repos" / "layer", copy)
    (primary,) = (copy / "repodata").glob("*primary.xml*")
    primary.write_bytes(primary.read_bytes()[:-20] + b"garbage at the end..")
    return copy.as_uri()


def swapped_package_repo(box: Box, tmp: Path) -> str:
    """A copy of the layer repo where tool's RPM changed after the metadata was made:
    same size, one byte different, so only the digest can tell (a bigger file is
    refused earlier, at the size the metadata states)."""
    copy = tmp / "swapped-repo"
    shutil.copytree(box.root / "repos" / "layer", copy)
    (tool,) = copy.glob("tool-*.rpm")
    data = bytearray(tool.read_bytes())
    data[-1] ^= 0xFF
    tool.unlink()  # the copy may be a hardlink into the fixture cache
    tool.write_bytes(bytes(data))
    return copy.as_uri()


def grown_package_repo(box: Box, tmp: Path) -> str:
    """A copy of the layer repo where tool's RPM was replaced by a bigger one."""
    copy = tmp / "grown-repo"
    shutil.copytree(box.root / "repos" / "layer", copy)
    (tool,) = copy.glob("tool-*.rpm")
    tool.unlink()
    shutil.copyfile(layer_rpms()["withpost"], tool)
    return copy.as_uri()


def vanished_package_repo(box: Box, tmp: Path) -> str:
    """A copy of the layer repo whose metadata lists tool, but the file is gone."""
    copy = tmp / "vanished-repo"
    shutil.copytree(box.root / "repos" / "layer", copy)
    for rpm_file in copy.glob("tool-*.rpm"):
        rpm_file.unlink()
    return copy.as_uri()


def gpg_repo(box: Box, tmp: Path) -> str:
    return (box.root / "repos" / "layer").as_uri()


def bad_origin(box: Box, tmp: Path) -> dict[str, str]:
    default = box.default_path()
    origin = default.with_name(default.name + ".origin")
    origin.write_text("[origin]\nthis line is not key=value\n")
    return {}


def existing_dir(box: Box, tmp: Path) -> dict[str, str]:
    (tmp / "occupied").mkdir()
    (tmp / "occupied" / "precious").write_text("mine\n")
    return {"{dir}": str(tmp / "occupied")}


def treefile(**changes: Any) -> Setup:
    """The v2 treefile with ``changes`` (None removes a key), written raw when a str."""

    def setup(box: Box, tmp: Path) -> dict[str, str]:
        import yaml  # noqa: PLC0415 - only these cases need it

        source = box.treefile(2)
        directory = tmp / "tf"
        shutil.copytree(source.parent, directory)
        raw = changes.get("raw")
        if raw is not None:
            text = str(raw)
        else:
            data = yaml.safe_load(source.read_text())
            for key, value in changes.items():
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            text = yaml.safe_dump(data)
        (directory / "treefile.yaml").write_text(text)
        return {"{treefile}": str(directory / "treefile.yaml"), "{repo}": str(box.repo)}

    return setup


def _missing(box: Box, tmp: Path) -> dict[str, str]:
    return {"{missing}": str(tmp / "no-such-sysroot")}


# -- the matrix ------------------------------------------------------------------------------

DOTDOT = (b"/usr/share/rel-abcdefgh/", b"/usr/share/../../../tmp/")
ABSOLUTE = (b"./usr/share/abs-abcdefg/", b"/etc/strata-escape-xxxx/")
THROUGH = (b"/usr/share/lnk-abce/", b"/usr/share/lnk-abcd/")
ESCAPE_LINK = FileSpec(kind=FileKind.SYMLINK, target="../../../../../../../../tmp/strata-esc")
COMPOSE = ("compose", "tree", "--repo", "{repo}", "{treefile}")

CASES = (
    # RPM files that are damaged or hostile
    Bad("truncated-rpm", ("install", "{rpm}"), ("bad.rpm",), local(crafted.truncated)),
    Bad(
        "payload-digest-mismatch",
        ("install", "{rpm}"),
        ("bad.rpm", "digest"),
        local(crafted.flip_payload_byte),
    ),
    Bad("corrupted-header", ("install", "{rpm}"), ("bad.rpm",), local(crafted.flip_header_byte)),
    Bad(
        "not-an-rpm",
        ("install", "{rpm}"),
        ("bad.rpm",),
        local(not_an_rpm),
    ),
    Bad("missing-local-rpm", ("install", "/nonexistent/pkg.rpm"), ("/nonexistent/pkg.rpm",)),
    Bad(
        "dotdot-path",
        ("install", "{rpm}"),
        ("..",),
        crafted_rpm(
            "evil-dotdot",
            {"/usr/share/rel-abcdefgh/evil": "pwned\n"},
            header=[DOTDOT],
            payload=[(b"." + DOTDOT[0], b"." + DOTDOT[1])],
        ),
    ),
    Bad(
        "absolute-payload-path",
        ("install", "{rpm}"),
        ("evil-absolute",),
        crafted_rpm(
            "evil-absolute",
            {"/usr/share/abs-abcdefg/evil": "pwned\n"},
            header=[],
            payload=[ABSOLUTE],
        ),
    ),
    Bad(
        "file-through-symlink",
        ("install", "{rpm}"),
        ("/usr/share/lnk-abcd",),
        crafted_rpm(
            "evil-through",
            {"/usr/share/lnk-abcd": ESCAPE_LINK, "/usr/share/lnk-abce/evil": "pwned\n"},
            header=[THROUGH],
            payload=[(b"." + THROUGH[0], b"." + THROUGH[1])],
        ),
    ),
    # what the solver and the assembly refuse
    Bad("conflict-with-base", ("install", "clash"), ("/usr/share/basefiles/readme", "clash")),
    Bad("conflict-between-layered", ("install", "pair-a", "pair-b"), ("pair-a", "pair-b")),
    Bad("unsatisfiable-dependency", ("install", "needy"), ("no-such-capability",)),
    Bad("unknown-package", ("install", "no-such-package"), ("no-such-package",)),
    Bad("already-in-base", ("install", "basefiles"), ("basefiles", "--allow-inactive")),
    Bad("uninstall-not-layered", ("uninstall", "bash"), ("bash",)),
    Bad("uninstall-not-requested", ("uninstall", "hello"), ("hello",), kind=Kind.LAYERED),
    Bad("override-remove-unknown", ("override", "remove", "no-such-base-pkg"), ("no-such",)),
    Bad("rebase-missing-ref", ("rebase", "relos/no/such/ref"), ("relos/no/such/ref",)),
    Bad("rebase-hostile-ref", ("rebase", "../../../etc/passwd"), ("../../../etc/passwd",)),
    # scriptlets
    Bad("scriptlet-fails", ("install", "failscript"), ("failscript", "%post", "about to fail")),
    Bad(
        "scriptlet-loops-forever",
        ("install", "loopscript"),
        ("loopscript", "timed out"),
        env={"STRATA_SCRIPT_TIMEOUT": "2"},
    ),
    # configuration
    Bad(
        "treefile-wrong-type",
        COMPOSE,
        ("'packages' must be a list",),
        treefile(packages="bash"),
        sysroot=False,
    ),
    Bad(
        "treefile-unknown-key",
        COMPOSE,
        ("unknown key", "packges"),
        treefile(packges=["bash"]),
        sysroot=False,
    ),
    Bad("treefile-missing-ref", COMPOSE, ("'ref'",), treefile(ref=None), sysroot=False),
    Bad(
        "treefile-initramfs-module-missing",
        COMPOSE,
        ("Kernel module virtio_pci", "initramfs.modules"),
        treefile(initramfs={"busybox": "/bin/busybox", "ostree-prepare-root": "/usr/bin/true"}),
        sysroot=False,
    ),
    Bad(
        "treefile-initramfs-input-missing",
        COMPOSE,
        ("/nonexistent/busybox",),
        treefile(initramfs={"busybox": "/nonexistent/busybox", "ostree-prepare-root": "/bin/true"}),
        sysroot=False,
    ),
    Bad(
        "treefile-not-yaml", COMPOSE, ("not valid YAML",), treefile(raw="ref: [a\n"), sysroot=False
    ),
    Bad(
        "treefile-hostile-ref",
        COMPOSE,
        ("../../outside",),
        treefile(ref="../../outside"),
        sysroot=False,
    ),
    Bad(
        "malformed-repo-file",
        ("install", "tool"),
        ("layer.repo",),
        write_file(REPO_FILE, "[layer\nbaseurl=file:///nowhere\n"),
    ),
    Bad(
        "repo-does-not-answer",
        ("install", "tool"),
        ("127.0.0.1:9",),
        repo_file(lambda box, tmp: "http://127.0.0.1:9/"),
    ),
    Bad(
        "repomd-checksum-mismatch",
        ("install", "tool"),
        ("primary",),
        repo_file(broken_repo),
    ),
    Bad(
        "repo-package-checksum-mismatch",
        ("install", "tool"),
        ("checksum mismatch", "tool"),
        repo_file(swapped_package_repo),
    ),
    Bad(
        "repo-package-bigger-than-stated",
        ("install", "tool"),
        ("tool-1.0-1.x86_64", "bytes its metadata states"),
        repo_file(grown_package_repo),
    ),
    Bad(
        "repo-package-vanished",
        ("install", "tool"),
        ("tool",),
        repo_file(vanished_package_repo),
    ),
    Bad(
        "gpg-key-missing",
        ("install", "tool"),
        ("RPM-GPG-KEY-nope",),
        repo_file(gpg_repo, "gpgcheck=1\ngpgkey=file:///etc/pki/rpm-gpg/RPM-GPG-KEY-nope\n"),
    ),
    Bad("cache-only-empty-cache", ("install", "--cache-only", "tool"), ("cache",)),
    Bad("malformed-origin", ("install", "tool"), (".origin",), bad_origin),
    # the sysroot and the CLI
    Bad("sysroot-missing", ("--sysroot", "{missing}", "install", "tool"), ("{missing}",), _missing),
    Bad("unknown-stateroot", ("--os", "nosuch", "install", "tool"), ("nosuch",)),
    # read-only verbs too: "(none)" with exit 0 hid the typo
    Bad("unknown-stateroot-status", ("--os", "nosuch", "status"), ("'nosuch'", "os-init")),
    Bad("unknown-stateroot-db", ("--os", "nosuch", "db", "list"), ("'nosuch'", "os-init")),
    Bad(
        "hostile-stateroot",
        ("--os", "../../etc", "install", "tool"),
        ("Invalid stateroot name", "../../etc"),
    ),
    Bad("undeploy-bad-index", ("admin", "undeploy", "7"), ("7",)),
    Bad("rollback-nothing-to-roll-back", ("rollback",), ("rollback",)),
    Bad(
        "checkout-into-existing-dir",
        ("checkout", "--repo", "{repo}", REF_V1, "{dir}"),
        ("occupied",),
        lambda box, tmp: {**existing_dir(box, tmp), "{repo}": str(box.repo)},
        sysroot=False,
    ),
    Bad("usage-error", ("install",), ("usage:",), exit=2, hint=False),
    # kernel arguments and boot entries
    Bad("kargs-delete-absent", ("kargs", "--delete", "absent-arg"), ("'absent-arg'", "to delete")),
    Bad("kargs-ostree-arg", ("kargs", "--append", "ostree=/evil"), ("managed by Strata",)),
    Bad("kargs-replace-absent", ("kargs", "--replace", "nokey=1"), ("'nokey'", "to replace")),
    Bad("deploy-karg-with-space", ("admin", "deploy", REF_V1, "--karg", "a b"), ("'a b'",)),
    Bad(
        "corrupt-boot-entry",
        ("install", "tool"),
        ("{entry}", "corrupt", "no version"),
        corrupt_entry,
    ),
    Bad("corrupt-boot-entry-kargs", ("kargs",), ("{entry}", "corrupt"), corrupt_entry),
)


# -- running a case --------------------------------------------------------------------------

_BEFORE: dict[str, dict[str, Any]] = {}


def _substitute(values: tuple[str, ...], subs: dict[str, str]) -> tuple[str, ...]:
    out = []
    for value in values:
        text = value
        for key, replacement in subs.items():
            text = text.replace(key, replacement)
        out.append(text)
    return tuple(out)


def before_state(box: Box, kind: str, changed: bool) -> dict[str, Any]:
    """The snapshot before the command; copies of one template share it unless set up."""
    if changed:
        return snapshot(box)
    if kind not in _BEFORE:
        _BEFORE[kind] = snapshot(box)
    return _BEFORE[kind]


def run_case(case: Bad, tmp: Path, basetemp: Path) -> tuple[subprocess.CompletedProcess[str], Box]:
    box = Box.copy_of(template(basetemp, case.kind), tmp / "box")
    subs = case.setup(box, tmp) if case.setup else {}
    before = before_state(box, case.kind, changed=case.setup is not None)
    args = _substitute(case.args, subs)
    result = box.strata(*args, expect=None, env=case.env, sysroot=case.sysroot)
    assert result.returncode == case.exit, (result.returncode, result.stdout, result.stderr)
    for text in _substitute(case.says, subs):
        assert text in result.stderr, f"{text!r} not in:\n{result.stderr}"
    if case.hint:
        assert "hint:" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr, result.stderr
    assert snapshot(box) == before
    assert leftovers(box) == []
    return result, box


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_refused_with_a_clear_message_and_nothing_changed(
    case: Bad, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run_case(case, tmp_path, tmp_path_factory.getbasetemp())


def test_figures() -> None:
    """The count docs/reliability.md quotes (plus the cases below with their own tests)."""
    assert len({c.id for c in CASES}) == len(CASES) >= 30


# -- cases that need more than a command line --------------------------------------------------


@pytest.fixture
def listener() -> Iterator[list[bytes]]:
    """A TCP server on the host's loopback; collects what anyone sends it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind(("127.0.0.1", NET_PORT))
    except OSError:
        pytest.skip(f"port {NET_PORT} is busy")
    server.listen(1)
    server.settimeout(0.2)
    received: list[bytes] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                received.append(conn.recv(100) or b"(connected)")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield received
    stop.set()
    thread.join()
    server.close()


def test_scriptlet_cannot_reach_the_network(
    listener: list[bytes], tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The scriptlet tries the host's loopback; the sandbox has no network at all."""
    case = Bad("scriptlet-network", ("install", "netscript"), ("netscript", "%post", "status 7"))
    run_case(case, tmp_path, tmp_path_factory.getbasetemp())
    assert listener == []


def test_second_mutating_command_is_refused_while_the_lock_is_held(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    box = Box.copy_of(template(tmp_path_factory.getbasetemp()), tmp_path / "box")
    before = before_state(box, Kind.BASE, changed=False)
    with sysroot_lock(box.sysroot / "ostree" / "lock"):
        for args in (("install", "tool"), ("admin", "finalize-staged"), ("cleanup", "--base")):
            result = box.strata(*args, expect=1)
            assert f"locked by process {os.getpid()}" in result.stderr
            assert "hint:" in result.stderr
    assert snapshot(box) == before
    box.strata("install", "tool")  # and once the lock is free, it works


def test_two_strata_commands_at_once(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A real second command while the first one works: refused at once, naming the first."""
    box = Box.copy_of(template(tmp_path_factory.getbasetemp()), tmp_path / "box")
    before = before_state(box, Kind.BASE, changed=False)
    box.host_tmp.mkdir(exist_ok=True)
    env = {**os.environ, "TMPDIR": str(box.host_tmp), "STRATA_SCRIPT_TIMEOUT": "4"}
    first = subprocess.Popen(
        cli("--sysroot", str(box.sysroot), "install", "loopscript"),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lock = box.sysroot / "ostree" / "lock"
        deadline = time.monotonic() + 30
        while not (lock.exists() and lock.read_text().strip() == str(first.pid)):
            assert time.monotonic() < deadline, "the first command never took the lock"
            time.sleep(0.05)
        second = box.strata("install", "tool", expect=1)
        assert f"locked by process {first.pid}" in second.stderr
        assert "hint:" in second.stderr
    finally:
        _, err = first.communicate(timeout=60)
    assert first.returncode == 1, err
    assert "timed out" in err
    assert snapshot(box) == before
    assert leftovers(box) == []
