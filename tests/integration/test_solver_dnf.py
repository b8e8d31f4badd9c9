"""Agreement with dnf: for the same base rpmdb and repo, Strata layers what dnf installs.

dnf (Debian's python3-dnf, run by the system interpreter on an ``--installroot``
holding a copy of the same rpmdb) has no base lock: where dnf would upgrade or
remove a base package, Strata must refuse and say that base packages are not
changed by layering. Every other answer must be identical.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from core.errors import SolveError
from fixtures.repos import make_repo, write_repo_file
from fixtures.rpms import build_rpm
from solver import Request, read_repo_files, solve
from tests.conftest import needs_rpmbuild

SYSTEM_PYTHON = "/usr/bin/python3"


def _has_dnf() -> bool:
    if not Path(SYSTEM_PYTHON).exists():
        return False
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import dnf"], capture_output=True, check=False)
    return probe.returncode == 0


pytestmark = [
    needs_rpmbuild,
    pytest.mark.skipif(not _has_dnf(), reason="python3-dnf missing"),
]


def rpm_(name: str, version: str = "1", **kw: object) -> Path:
    return build_rpm(name, version, autoreqprov=False, **kw)  # type: ignore[arg-type]


def base_rpms() -> list[Path]:
    return [
        rpm_("glibc", "2.38", provides=["libc.so.6()(64bit)"], files={"/usr/lib64/libc.so.6": "c"}),
        rpm_("bash", "5.2", provides=["/bin/sh"], files={"/usr/bin/bash": "b"}),
        rpm_("zlib", "1.2", provides=["libz.so.1()(64bit)"]),
        rpm_("openssl-libs", "3.0", provides=["libssl.so.3()(64bit)"]),
        rpm_("bar", "1.0"),
        rpm_("python3", "3.11", provides=["python(abi) = 3.11"]),
        rpm_("coreutils", "9.1", files={"/usr/bin/ls": "l"}),
    ]


def repo_rpms() -> list[Path]:
    so = "()(64bit)"
    return [
        rpm_(
            "strace",
            "6.1",
            requires=[f"libunwind-ptrace.so.0{so}", f"libc.so.6{so}"],
            files={"/usr/bin/strace": "s"},
        ),
        rpm_("libunwind", "1.6", provides=[f"libunwind-ptrace.so.0{so}"]),
        rpm_("curl", "8.0", requires=[f"libcurl.so.4{so}"], files={"/usr/bin/curl": "c"}),
        rpm_(
            "libcurl",
            "8.0",
            provides=[f"libcurl.so.4{so}"],
            requires=[f"libssl.so.3{so}", f"libz.so.1{so}", f"libnghttp2.so.14{so}"],
        ),
        rpm_("libnghttp2", "1.52", provides=[f"libnghttp2.so.14{so}"]),
        rpm_("htop", "3.2", requires=[f"libncursesw.so.6{so}"]),
        rpm_(
            "ncurses-libs", "6.4", provides=[f"libncursesw.so.6{so}"], recommends=["ncurses-base"]
        ),
        rpm_("ncurses-base", "6.4"),
        rpm_("vim-enhanced", "9.0", requires=["vim-common = 9.0-1"], files={"/usr/bin/vim": "v"}),
        rpm_("vim-common", "9.0", requires=["/usr/bin/bash"]),
        rpm_("tool", "1", requires=["/usr/share/tool/data"]),
        rpm_("tooldata", "1", files={"/usr/share/tool/data": "d"}),
        rpm_("foo", "2.0", requires=["bar >= 2.0"]),
        rpm_("bar", "2.0"),
        rpm_("nano", "7.2", provides=["editor"]),
        rpm_("wants-editor", "1", requires=["editor"]),
        rpm_("py-app", "1", requires=["python(abi) = 3.11"]),
        rpm_("py-new", "1", requires=["python(abi) = 3.12"]),
        rpm_("richapp", "1", requires=["(tooldata or nano)"]),
        rpm_("zlib", "1.3", provides=["libz.so.1()(64bit)"]),
        rpm_("zlib-devel", "1.3", requires=["zlib = 1.3-1"]),
        rpm_("gadget", "1.0"),
        rpm_("gadget", "2.0"),
        rpm_("oldtool", "1"),
        rpm_("newtool", "2", obsoletes=["oldtool < 2"], provides=["oldtool = 2"]),
        rpm_("left", "1", conflicts=["right"]),
        rpm_("right", "1"),
        rpm_("docs-viewer", "1", recommends=["htop"]),
        rpm_("fonts", "1", arch="noarch"),
        rpm_("epochpkg", "1.0", epoch=1),
        rpm_("epochpkg", "2.0"),
        rpm_("breaks-base", "1", conflicts=["coreutils < 10"]),
    ]


# (requests, what Strata must do) - ~30 cases, each compared with dnf.
CASES: list[tuple[str, ...]] = [
    ("strace",),
    ("curl",),
    ("htop",),
    ("vim-enhanced",),
    ("tool",),
    ("/usr/share/tool/data",),
    ("/usr/bin/vim",),
    ("libcurl.so.4()(64bit)",),
    ("foo",),
    ("wants-editor",),
    ("py-app",),
    ("py-new",),
    ("richapp",),
    ("zlib-devel",),
    ("gadget",),
    ("newtool",),
    ("oldtool",),
    ("left",),
    ("left", "right"),
    ("docs-viewer",),
    ("fonts",),
    ("epochpkg",),
    ("bar",),
    ("bash",),
    ("strace", "htop", "curl"),
    ("breaks-base",),
    ("stace",),
    ("oldtool", "newtool"),
]

_DNF_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, dnf, dnf.exceptions
    root, reposdir, cases = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    conf = dnf.conf.Conf()
    # releasever up front: else dnf.Base() detects it from the host's rpmdb at the default
    # %_dbpath, which on Debian creates ~/.rpmdb.
    conf.substitutions["releasever"] = "1"
    base = dnf.Base(conf)
    conf.installroot = root
    conf.reposdir = [reposdir]
    conf.cachedir = root + "/var/cache/dnf"
    # The API, unlike the dnf command, does not put these under the installroot: without
    # this, resolving writes the host's /var/lib/dnf (history) and /var/log/hawkey.log.
    conf.persistdir = root + "/var/lib/dnf"
    conf.logdir = root + "/var/log"
    os.makedirs(conf.logdir, exist_ok=True)
    conf.install_weak_deps = True
    for key, value in (("releasever", "1"), ("basearch", "x86_64"), ("arch", "x86_64")):
        conf.substitutions[key] = value
    base.read_all_repos()
    base.fill_sack(load_system_repo=True)
    out = []
    for case in cases:
        base.reset(goal=True)
        try:
            for spec in case:
                base.install(spec)
            base.resolve()
        except dnf.exceptions.Error as err:
            out.append({"error": str(err)})
            continue
        t = base.transaction
        out.append({"install": sorted(str(p) for p in t.install_set),
                    "remove": sorted(str(p) for p in t.remove_set)})
    print(json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    top = tmp_path_factory.mktemp("dnf-agreement")
    root = top / "root"
    dbpath = "/usr/lib/sysimage/rpm"
    cmd = ["rpm", "-i", "--root", str(root), "--dbpath", dbpath, "--justdb", "--nodeps"]
    subprocess.run([*cmd, "--noscripts", *map(str, base_rpms())], check=True, capture_output=True)
    # dnf opens the rpmdb at the installroot + this host's default _dbpath.
    host_dbpath = subprocess.run(
        ["rpm", "--eval", "%_dbpath"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if host_dbpath != dbpath:
        shutil.copytree(root / dbpath.lstrip("/"), root / host_dbpath.lstrip("/"))
    repo = make_repo(top / "repo", repo_rpms(), compression="xz")
    write_repo_file(top / "repos.d" / "test.repo", "test", f"file://{repo}")
    return {"root": root, "rpmdb": root / dbpath.lstrip("/"), "reposdir": top / "repos.d"}


def dnf_answers(setup: dict[str, Path]) -> list[dict[str, list[str] | str]]:
    result = subprocess.run(
        [
            SYSTEM_PYTHON,
            "-c",
            _DNF_SCRIPT,
            str(setup["root"]),
            str(setup["reposdir"]),
            json.dumps(CASES),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    answers: list[dict[str, list[str] | str]] = json.loads(result.stdout.strip().splitlines()[-1])
    return answers


def test_strata_agrees_with_dnf_or_the_base_lock_explains_it(
    setup: dict[str, Path], tmp_path: Path
) -> None:
    repos = tuple(read_repo_files(setup["reposdir"], {"basearch": "x86_64"}))
    base_names = {p.name.split("-")[0] for p in base_rpms()} | {"openssl-libs"}
    answers = dnf_answers(setup)
    agreed = locked = failed_both = 0
    for case, dnf in zip(CASES, answers, strict=True):
        req = Request(setup["rpmdb"], "agree", repos, install=case, cache_dir=tmp_path)
        if "error" in dnf:
            with pytest.raises(SolveError):
                solve(req)
            failed_both += 1
            continue
        installs = [str(n) for n in dnf["install"]]
        touches_base = bool(dnf["remove"]) or any(
            n.rsplit("-", 2)[0] in base_names for n in installs
        )
        if touches_base:
            with pytest.raises(SolveError) as caught:
                solve(req)
            assert "base" in "\n".join(caught.value.problems), case
            locked += 1
            continue
        t = solve(req)
        assert [p.nevra.replace("1:", "") for p in t.install] == sorted(
            n.replace("1:", "") for n in installs
        ), case
        assert t.remove == () and t.replace == ()
        agreed += 1
    assert agreed >= 20, (agreed, locked, failed_both)
    assert locked >= 2 and failed_both >= 2
