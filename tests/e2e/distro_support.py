"""Packages packaged the way Fedora packages them, for the real-package e2e tests.

Each scriptlet below is what Fedora's macros expand to (``%systemd_post``,
``%sysusers``-less ``%pre`` with getent/groupadd/useradd, install-info guards,
``-p <lua>`` bodies in the style of glibc-common and ca-certificates), so the
engine meets them as it would meet a real distribution's RPMs. The base they are
layered on is the realistic set plus shadow-utils (useradd needs to exist).
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import yaml

from fixtures import realistic
from fixtures import rpms as rpms_module
from fixtures.demo import OSNAME, REF_V1, Scenario, package_name
from fixtures.repos import make_repo, write_repo_file
from fixtures.rpms import FileKind, FileSpec, Script, Trigger, build_rpm

USER = "foo"

# %pre as Fedora's packaging guidelines spell it for a dynamically allocated system user.
PRE_USERADD = f"""\
getent group {USER} >/dev/null || groupadd -r {USER}
getent passwd {USER} >/dev/null || \\
    useradd -r -g {USER} -d /var/lib/{USER} -s /sbin/nologin \\
    -c "Foo daemon" {USER}
exit 0
"""

# %systemd_post foo.service, %systemd_preun, %systemd_postun_with_restart (systemd 254).
SYSTEMD_POST = """\
if [ $1 -eq 1 ] && [ -x "/usr/lib/systemd/systemd-update-helper" ]; then
    # Initial installation
    /usr/lib/systemd/systemd-update-helper install-system-units foo.service || :
fi
"""
SYSTEMD_PREUN = """\
if [ $1 -eq 0 ] && [ -x "/usr/lib/systemd/systemd-update-helper" ]; then
    # Package removal, not upgrade
    /usr/lib/systemd/systemd-update-helper remove-system-units foo.service || :
fi
touch /usr/lib/foosvc/preun-ran
"""
SYSTEMD_POSTUN = """\
if [ $1 -ge 1 ] && [ -x "/usr/lib/systemd/systemd-update-helper" ]; then
    # Package upgrade, not uninstall
    /usr/lib/systemd/systemd-update-helper mark-restart-system-units foo.service || :
fi
touch /usr/lib/foosvc/postun-ran
"""
INFO_POST = """\
if [ -f /usr/share/info/foo.info.gz ]; then
    /sbin/install-info /usr/share/info/foo.info.gz /usr/share/info/dir || :
fi
"""

# -p <lua> as glibc-common / ca-certificates write them: posix.* and rpm.* only.
LUA_POST = """\
local dir = "/usr/share/luapkg"
if posix.stat(dir, "type") ~= "directory" then
  posix.mkdir(dir)
end
local f = assert(io.open(dir .. "/post.stamp", "w"))
f:write("arg2=", tostring(arg[2]), "\\n")
f:write("dbpath=", rpm.expand("%{_dbpath}"), "\\n")
f:write("bash=", tostring(posix.access("/usr/bin/bash", "x") ~= nil), "\\n")
f:close()
if posix.access("/usr/sbin/ldconfig", "x") then
  rpm.execute("/usr/sbin/ldconfig")
end
"""


UNIT = "[Service]\nUser=foo\nExecStart=/usr/bin/foosvc\n"


def _d(mode: int, user: str = "root", group: str = "root") -> FileSpec:
    return FileSpec(kind=FileKind.DIR, mode=mode, user=user, group=group)


def foosvc() -> Path:
    """A daemon: its own user, /var state, a ghost log, a unit, an info page, triggers."""
    info = gzip.compress(b"This is foo.info, produced by makeinfo.\n", mtime=0)
    return build_rpm(
        "foosvc",
        "2.1",
        "3.fc40",
        compression="zstd",
        requires=("/usr/sbin/useradd", "/usr/sbin/groupadd", "/usr/bin/getent", "bash"),
        autoreqprov=False,
        files={
            "/usr/bin/foosvc": FileSpec("#!/bin/sh\necho foosvc running\n", mode=0o755),
            "/usr/lib/systemd/system/foo.service": UNIT,
            "/usr/lib/foosvc": _d(0o755),
            "/usr/libexec/foosvc-helper": FileSpec("#!/bin/sh\n", mode=0o4750, group=USER),
            "/usr/share/foosvc/data": FileSpec("owned by foo\n", mode=0o640, user=USER, group=USER),
            "/usr/share/info/foo.info.gz": info,
            "/etc/foosvc": _d(0o750, "root", USER),
            "/etc/foosvc/foosvc.conf": FileSpec(
                "listen=127.0.0.1\n", mode=0o640, group=USER, config="noreplace"
            ),
            f"/var/lib/{USER}": _d(0o750, USER, USER),
            f"/var/log/{USER}.log": FileSpec(mode=0o640, user=USER, group=USER, ghost=True),
        },
        scripts={
            "pre": PRE_USERADD,
            "post": SYSTEMD_POST + INFO_POST,
            "preun": SYSTEMD_PREUN,
            "postun": SYSTEMD_POSTUN,
            "posttrans": "echo posttrans > /usr/lib/foosvc/posttrans-ran\n",
        },
        triggers=(
            Trigger(on="bash", body="echo $1 $2 > /usr/lib/foosvc/triggerin-bash\n"),
            Trigger(on="bash", kind="triggerun", body="touch /usr/lib/foosvc/triggerun-ran\n"),
        ),
    )


def luapkg() -> Path:
    return build_rpm(
        "luapkg",
        compression="xz",
        files={"/usr/share/doc/luapkg/README": "lua scriptlets\n"},
        scripts={"post": Script(LUA_POST, "<lua>")},
    )


# What Fedora <= 35's %systemd_post expanded to: systemctl, absent here, guarded by || :.
OLD_SYSTEMD_POST = """\
if [ $1 -eq 1 ] ; then
        # Initial installation
        systemctl --no-reload preset quirks.service &>/dev/null || :
fi
"""
QUIRKS_POST = (
    OLD_SYSTEMD_POST
    + "mkdir -p /var/lib/quirks/cache && touch /var/log/quirks.log\n"
    + "grep -qx /usr/bin/quirksh /etc/shells || echo /usr/bin/quirksh >> /etc/shells\n"
    + "[ -x /usr/bin/update-desktop-database ] && update-desktop-database -q || :\n"
)


def quirks() -> Path:
    """Assorted habits: a sysusers.d user, a file of another package's user, version
    triggers, a %post writing /var and /etc, file capabilities, a ghost /run dir."""
    return build_rpm(
        "quirks",
        requires=("foosvc",),
        files={
            "/usr/lib/sysusers.d/quirks.conf": 'u quirkd - "Quirks daemon" /var/lib/quirks\n',
            "/usr/share/quirks/of-quirkd": FileSpec("q\n", user="quirkd", group="quirkd"),
            "/usr/share/quirks/of-foo": FileSpec("f\n", mode=0o600, user=USER, group=USER),
            "/usr/bin/quirksh": FileSpec("#!/bin/sh\n", mode=0o755),
            "/usr/bin/quirkping": FileSpec("#!/bin/sh\n", mode=0o755, caps="cap_net_raw=ep"),
            "/run/quirks": FileSpec(kind=FileKind.DIR, mode=0o755, ghost=True),
        },
        scripts={"post": QUIRKS_POST},
        triggers=(
            Trigger(on="glibc >= 2.0", body="echo $1 $2 > /usr/share/quirks/trigger-glibc\n"),
            Trigger(on="glibc < 2.0", body="touch /usr/share/quirks/trigger-old-glibc\n"),
            Trigger(on="no-such-package", body="touch /usr/share/quirks/trigger-absent\n"),
            Trigger(on="luapkg", body="echo $1 $2 >> /usr/share/quirks/trigger-luapkg\n"),
        ),
    )


def memberpkg() -> Path:
    """A user in a base group, added as a member of another base group (``-G adm``)."""
    return build_rpm(
        "memberpkg",
        files={"/usr/share/memberpkg/x": "x\n"},
        scripts={
            "pre": "getent passwd svc2 >/dev/null || useradd -r -g daemon -G adm "
            "-d /var/lib/svc2 -s /sbin/nologin svc2\nexit 0\n"
        },
    )


SHARED_DIR = "/usr/share/shared-data"
SAME_FILE = "/usr/share/shared-data/COPYING"


def shared_pair() -> list[Path]:
    """Two packages owning one directory and one identical file (rpm allows both)."""
    return [
        build_rpm(
            name,
            arch="noarch",
            files={
                SHARED_DIR: _d(0o755),
                SAME_FILE: "the same licence text\n",
                f"{SHARED_DIR}/{name}.txt": f"{name}\n",
            },
        )
        for name in ("shared-a", "shared-b")
    ]


CLASH_FILE = "/usr/share/clash/settings"


def clash_pair() -> list[Path]:
    return [
        build_rpm(name, files={CLASH_FILE: f"written by {name}\n"})
        for name in ("clash-one", "clash-two")
    ]


def renamed_pair() -> list[Path]:
    """``newname`` replaces ``oldname`` (Obsoletes + Provides), and carries an epoch."""
    return [
        build_rpm(
            "newname",
            "3.0",
            epoch=2,
            obsoletes=("oldname < 2.0",),
            provides=("oldname = 2.0",),
            files={"/usr/bin/newname": FileSpec("#!/bin/sh\necho newname\n", mode=0o755)},
        ),
        build_rpm("oldname", "1.0", files={"/usr/bin/oldname": "#!/bin/sh\n"}),
    ]


def opt_package() -> Path:
    return build_rpm(
        "optapp",
        files={
            "/opt/optapp": _d(0o755),
            "/opt/optapp/bin": _d(0o755),
            "/opt/optapp/bin/optapp": FileSpec("#!/bin/sh\necho optapp\n", mode=0o755),
        },
    )


def usrlocal_package() -> Path:
    return build_rpm(
        "localtool",
        files={"/usr/local/bin/localtool": FileSpec("#!/bin/sh\n", mode=0o755)},
    )


def layer_packages() -> list[Path]:
    return [
        foosvc(),
        quirks(),
        memberpkg(),
        luapkg(),
        *shared_pair(),
        *clash_pair(),
        *renamed_pair(),
        opt_package(),
        usrlocal_package(),
    ]


def base_rpms() -> list[Path]:
    return realistic.base_packages(1) + realistic.shadow_packages()


def prepare(scenario: Scenario) -> None:
    """A treefile for the base (realistic set + shadow-utils) and the layering repo."""
    repos = scenario.workdir / "repos"
    base_repo = make_repo(repos / "base-v1", base_rpms())
    treefile_dir = scenario.workdir / "compose-v1"
    treefile_dir.mkdir(parents=True, exist_ok=True)
    write_repo_file(treefile_dir / "demo-base.repo", "demo-base", base_repo.as_uri())
    treefile = {
        "ref": REF_V1,
        "repos": ["demo-base"],
        "packages": sorted({package_name(p) for p in base_rpms()}),
        "releasever": "1",
        "osname": OSNAME,
    }
    (treefile_dir / "treefile.yaml").write_text(yaml.safe_dump(treefile, sort_keys=False))
    make_repo(scenario.layer_repo, layer_packages())


DEBIAN_PACKAGES = ("jq", "libjq1", "libonig5", "tree", "hello")


class ConversionUnavailable(RuntimeError):
    """apt-get download or alien is missing or failed (no network, no alien)."""


def _cache() -> Path:
    return rpms_module.REPO_ROOT / ".cache"


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ConversionUnavailable(f"{shlex.join(cmd)}: {(proc.stdout + proc.stderr)[-500:]}")


def _deb(name: str) -> Path:
    """This Debian's .deb of ``name``, downloaded once into .cache/debs."""
    debs = _cache() / "debs"
    found = sorted(debs.glob(f"{name}_*.deb"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None:
        raise ConversionUnavailable("apt-get is not available")
    debs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".download-", dir=debs))
    try:
        _run(["apt-get", "download", "-q", name], work)
        (deb,) = work.glob(f"{name}_*.deb")
        os.replace(deb, debs / deb.name)
        return debs / deb.name
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _converted(deb: Path) -> Path:
    """``alien --to-rpm --scripts`` of one .deb, cached by the .deb's sha256."""
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    done = _cache() / "alien" / digest
    found = sorted(done.glob("*.rpm"))
    if found:
        return found[0]
    if shutil.which("alien") is None:
        raise ConversionUnavailable("alien is not installed (make apt installs it)")
    done.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".alien-", dir=done.parent))
    try:
        # alien runs rpm and rpmbuild with the default macros: HOME in the scratch dir keeps
        # their ~/.rpmdb and ~/rpmbuild out of the real home.
        _run(["alien", "--to-rpm", "--scripts", str(deb)], work, {**os.environ, "HOME": str(work)})
        (rpm_file,) = work.glob("*.rpm")
        result = work / "result"
        result.mkdir()
        os.replace(rpm_file, result / rpm_file.name)
        try:
            os.rename(result, done)
        except OSError:
            if not done.is_dir():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return next(done.glob("*.rpm"))


def debian_rpms() -> list[Path]:
    """Real Debian binaries (jq and its libraries, tree, hello) as RPMs made by alien."""
    return [_converted(_deb(name)) for name in DEBIAN_PACKAGES]
