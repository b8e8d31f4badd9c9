"""``-p <lua>`` scriptlets run through rpm's embedded Lua, inside the sandbox, on the new tree."""

from __future__ import annotations

from pathlib import Path

import pytest
from triggers_support import build_minimal_root, install_payload, read_rpm_header

from core.errors import TriggerError
from core.progress import QuietProgress
from fixtures.rpms import FileTrigger, Script, build_rpm
from tests.conftest import needs_bwrap, needs_rpmbuild
from triggers import plan_scripts, run_scripts

pytestmark = [needs_bwrap, needs_rpmbuild]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_minimal_root(tmp_path_factory.mktemp("triggers-lua") / "root")


def run_lua(root: Path, tmp_path: Path, name: str, **scripts: str) -> Path:
    rpm_file = build_rpm(
        name,
        files={f"/usr/share/{name}/marker": "m"},
        scripts={k: Script(v, "<lua>") for k, v in scripts.items()},
    )
    delta = install_payload(rpm_file, tmp_path / "delta")
    upper = tmp_path / "upper"
    upper.mkdir()
    plan = plan_scripts([read_rpm_header(rpm_file)], [])
    assert plan.needs_lua
    run_scripts(plan, lowers=[delta, root], upper=upper, progress=QuietProgress(), timeout=60)
    return upper


def test_lua_creates_a_file_with_io_open_in_the_new_tree(root: Path, tmp_path: Path) -> None:
    upper = run_lua(
        root,
        tmp_path,
        "tl-io",
        post="""
local f = assert(io.open("/usr/share/tl-io/made-by-lua", "w"))
f:write(string.format("%d%% done, arg=%s,%s\\n", 100, arg[2], type(arg[2])))
f:close()
""",
    )
    # "%" reaches Lua untouched (no macro expansion) and arg is laid out as rpm does it.
    assert (upper / "usr/share/tl-io/made-by-lua").read_text() == "100% done, arg=1,string\n"


def test_lua_posix_functions_act_on_the_tree(root: Path, tmp_path: Path) -> None:
    upper = run_lua(
        root,
        tmp_path,
        "tl-posix",
        pre="""
assert(posix.mkdir("/usr/share/tl-posix-dir"))
local kind = posix.stat("/usr/share/tl-posix-dir", "type")
local marker = posix.stat("/usr/share/tl-posix/marker", "size")
local passwd = io.open("/etc/passwd"):read("a")
local f = io.open("/usr/share/tl-posix-dir/report", "w")
f:write(kind, " ", marker, " ", passwd)
f:close()
""",
    )
    report = (upper / "usr/share/tl-posix-dir/report").read_text()
    # /etc is the tree's (a single root line), not the host's.
    assert report == "directory 1 root:x:0:0:root:/root:/bin/sh\n"


def test_lua_rpm_functions_are_available(root: Path, tmp_path: Path) -> None:
    upper = run_lua(
        root,
        tmp_path,
        "tl-rpm",
        posttrans="""
local f = io.open("/usr/share/tl-rpm/vercmp", "w")
f:write(rpm.vercmp("1.0", "1.0.1"), " ", rpm.vercmp("2:1", "1:9"), " ",
        rpm.expand("%{_dbpath}"), "\\n")
f:close()
""",
    )
    assert (upper / "usr/share/tl-rpm/vercmp").read_text() == "-1 1 /usr/lib/sysimage/rpm\n"


def test_lua_error_aborts_with_the_message(root: Path, tmp_path: Path) -> None:
    with pytest.raises(TriggerError) as caught:
        run_lua(root, tmp_path, "tl-fail", post='error("the lua scriptlet gave up")')
    err = caught.value
    assert err.command == ("tl-fail:%post",)
    assert err.returncode != 0
    assert "the lua scriptlet gave up" in err.output_tail


def test_lua_cannot_write_to_the_hosts_files(root: Path, tmp_path: Path) -> None:
    with pytest.raises(TriggerError) as caught:
        run_lua(
            root,
            tmp_path,
            "tl-host",
            post="""
assert(io.open("/run/host/usr/share/tl-escape", "w"), "cannot write host")
""",
        )
    assert "cannot write host" in caught.value.output_tail
    assert not Path("/usr/share/tl-escape").exists()


def test_lua_file_trigger_iterates_matching_paths_with_next_file(
    root: Path, tmp_path: Path
) -> None:
    base = build_rpm(
        "tl-indexer",
        files={"/usr/share/tl-index/base.txt": "b"},
        file_triggers=[
            FileTrigger(
                ("/usr/share/tl-index/",),
                kind="transfiletriggerin",
                interpreter="<lua>",
                body="""
local out = io.open("/usr/share/tl-index.list", "w")
local path = rpm.next_file()
while path do out:write(path, ";") path = rpm.next_file() end
out:close()
""",
            )
        ],
    )
    layered = build_rpm("tl-indexed", files={"/usr/share/tl-index/new.txt": "n"})
    delta = install_payload(layered, tmp_path / "delta")
    upper = tmp_path / "upper"
    upper.mkdir()
    plan = plan_scripts([read_rpm_header(layered)], [read_rpm_header(base)])
    run_scripts(plan, lowers=[delta, root], upper=upper, progress=QuietProgress(), timeout=60)
    assert (upper / "usr/share/tl-index.list").read_text() == (
        "/usr/share/tl-index/base.txt;/usr/share/tl-index/new.txt;"
    )
