"""Which scripts run, in which order, with which stdin: rpm's rules on a layered union."""

from __future__ import annotations

import rpm

from triggers.model import ScriptKind, ScriptPlan
from triggers.overrides import Override, OverrideAction
from triggers.plan import condition_matches, matching_paths, plan_packages
from triggers.scripts import (
    FileTrigger,
    PackageInfo,
    PackageTrigger,
    Scriptlet,
    TriggerCondition,
)

SH = ("/bin/sh",)
PRE, POST, POSTTRANS = ScriptKind.PRE, ScriptKind.POST, ScriptKind.POSTTRANS
TRIGGERIN, FILETRIG = ScriptKind.TRIGGERIN, ScriptKind.FILETRIGGERIN
TRANSFILETRIG = ScriptKind.TRANSFILETRIGGERIN


def pkg(
    name: str,
    *kinds: ScriptKind,
    files: tuple[str, ...] = (),
    triggers: tuple[PackageTrigger, ...] = (),
    file_triggers: tuple[FileTrigger, ...] = (),
    version: str = "1.0",
) -> PackageInfo:
    return PackageInfo(
        name=name,
        epoch=None,
        version=version,
        release="1",
        arch="x86_64",
        files=files,
        scripts=tuple(Scriptlet(k, SH, f"echo {name} {k}") for k in kinds),
        triggers=triggers,
        file_triggers=file_triggers,
    )


def labels(plan: ScriptPlan) -> list[str]:
    return [s.label for s in plan.scripts]


def ftrig(kind: ScriptKind, *prefixes: str, priority: int = 1000000) -> FileTrigger:
    return FileTrigger(kind, SH, "cat", prefixes, priority)


def on(name: str, flags: int = 0, version: str = "") -> PackageTrigger:
    return PackageTrigger(
        SH, f"echo triggered by {name}", (TriggerCondition(name, flags, version),)
    )


def test_rpm_order_all_pre_then_post_per_package_then_posttrans() -> None:
    a = pkg("a", PRE, POST, POSTTRANS, ScriptKind.PRE)
    b = pkg("b", PRE, POST, POSTTRANS)
    plan = plan_packages([a, b])
    assert labels(plan) == [
        "a:%pre",
        "b:%pre",
        "a:%post",
        "b:%post",
        "a:%posttrans",
        "b:%posttrans",
    ]
    assert all(s.arg == (1,) for s in plan.scripts)


def test_base_packages_scripts_never_run_again() -> None:
    base = [pkg("glibc", PRE, POST, POSTTRANS)]
    assert labels(plan_packages([pkg("strace", POST)], base)) == ["strace:%post"]


def test_compose_treats_every_package_as_layered() -> None:
    base = [pkg("glibc", PRE, POST)]
    plan = plan_packages([pkg("strace", POST)], base, compose=True)
    assert labels(plan) == ["glibc:%pre", "glibc:%post", "strace:%post"]


def test_base_trigger_fires_after_the_layered_package_it_watches() -> None:
    base = [pkg("watcher", triggers=(on("newpkg"),)), pkg("other", triggers=(on("nothere"),))]
    plan = plan_packages([pkg("newpkg", POST), pkg("later", POST)], base)
    assert labels(plan) == ["newpkg:%post", "watcher:%triggerin", "later:%post"]
    fired = plan.scripts[1]
    assert fired.trigger_of == "newpkg" and fired.arg == (1, 1)


def test_layered_trigger_fires_on_a_base_package_after_its_own_post() -> None:
    plan = plan_packages([pkg("plugin", POST, triggers=(on("host"),))], [pkg("host")])
    assert labels(plan) == ["plugin:%post", "plugin:%triggerin"]
    assert plan.scripts[1].trigger_of == "host"


def test_trigger_between_two_layered_packages_fires_once_after_the_later() -> None:
    first = pkg("first", POST, triggers=(on("second"),))
    second = pkg("second", POST)
    plan = plan_packages([first, second])
    assert labels(plan) == ["first:%post", "second:%post", "first:%triggerin"]


def test_triggers_between_base_packages_do_not_fire() -> None:
    base = [pkg("x", triggers=(on("y"),)), pkg("y")]
    assert labels(plan_packages([pkg("z", POST)], base)) == ["z:%post"]


def test_versioned_trigger_condition() -> None:
    new = pkg("lib", version="2.0")
    ge2 = TriggerCondition("lib", rpm.RPMSENSE_GREATER | rpm.RPMSENSE_EQUAL, "2.0")
    lt2 = TriggerCondition("lib", rpm.RPMSENSE_LESS, "2.0")
    eq = TriggerCondition("lib", rpm.RPMSENSE_EQUAL, "2.0-1")
    assert condition_matches(ge2, new)
    assert not condition_matches(lt2, new)
    assert condition_matches(eq, new)
    assert not condition_matches(TriggerCondition("lib", rpm.RPMSENSE_EQUAL, "2.0-2"), new)
    assert not condition_matches(TriggerCondition("other", 0, ""), new)


def test_prefixes_match_as_plain_string_prefixes() -> None:
    paths = ["/usr/lib64/libz.so.1", "/usr/lib/x", "/usr/lib64", "/usr/share/a"]
    assert matching_paths(["/usr/lib64"], paths) == ("/usr/lib64", "/usr/lib64/libz.so.1")
    assert matching_paths(["/usr/lib"], paths) == (
        "/usr/lib/x",
        "/usr/lib64",
        "/usr/lib64/libz.so.1",
    )


def test_file_trigger_of_base_fires_after_the_layered_post_with_whole_tree_on_stdin() -> None:
    glibc = pkg(
        "glibc", files=("/usr/lib64/libc.so.6",), file_triggers=(ftrig(FILETRIG, "/usr/lib64/"),)
    )
    zlib = pkg("zlib", POST, files=("/usr/lib64/libz.so.1", "/usr/share/doc/zlib"))
    plan = plan_packages([zlib], [glibc])
    assert labels(plan) == ["zlib:%post", "glibc:%filetriggerin"]
    assert plan.scripts[1].stdin == ("/usr/lib64/libc.so.6", "/usr/lib64/libz.so.1")


def test_file_trigger_does_not_fire_without_a_matching_layered_file() -> None:
    glibc = pkg(
        "glibc",
        files=("/usr/lib64/libc.so.6",),
        file_triggers=(ftrig(FILETRIG, "/usr/lib64/"), ftrig(TRANSFILETRIG, "/lib64/")),
    )
    plan = plan_packages([pkg("doc", POST, files=("/usr/share/doc/x",))], [glibc])
    assert labels(plan) == ["doc:%post"]


def test_transfiletriggers_run_after_posttrans_by_priority_base_and_layered() -> None:
    icons = pkg(
        "hicolor",
        files=("/usr/share/icons/hicolor/index.theme",),
        file_triggers=(ftrig(TRANSFILETRIG, "/usr/share/icons/", priority=10),),
    )
    glibc = pkg("glibc", file_triggers=(ftrig(TRANSFILETRIG, "/usr/lib64/", priority=100),))
    app = pkg(
        "app",
        POST,
        POSTTRANS,
        files=("/usr/lib64/libapp.so.1", "/usr/share/icons/hicolor/48x48/app.png"),
        file_triggers=(ftrig(TRANSFILETRIG, "/usr/lib64/", priority=1000),),
    )
    plan = plan_packages([app], [icons, glibc])
    assert labels(plan) == [
        "app:%post",
        "app:%posttrans",
        "app:%transfiletriggerin",
        "glibc:%transfiletriggerin",
        "hicolor:%transfiletriggerin",
    ]
    assert plan.scripts[-1].stdin == (
        "/usr/share/icons/hicolor/48x48/app.png",
        "/usr/share/icons/hicolor/index.theme",
    )
    assert [s.priority for s in plan.scripts[2:]] == [1000, 100, 10]


def test_transfiletrigger_fires_once_however_many_packages_match() -> None:
    glibc = pkg("glibc", file_triggers=(ftrig(TRANSFILETRIG, "/usr/lib64/"),))
    layered = [pkg(f"lib{i}", files=(f"/usr/lib64/lib{i}.so",)) for i in range(3)]
    plan = plan_packages(layered, [glibc])
    assert labels(plan) == ["glibc:%transfiletriggerin"]
    assert plan.scripts[0].stdin == tuple(f"/usr/lib64/lib{i}.so" for i in range(3))


def test_new_packages_own_file_trigger_sees_earlier_layered_files() -> None:
    lib = pkg("lib", files=("/usr/lib64/liba.so",))
    cache = pkg(
        "cache", POST, files=("/usr/bin/cache",), file_triggers=(ftrig(FILETRIG, "/usr/lib64/"),)
    )
    plan = plan_packages([lib, cache])
    assert labels(plan) == ["cache:%post", "cache:%filetriggerin"]
    assert plan.scripts[1].stdin == ("/usr/lib64/liba.so",)


def test_overrides_ignore_or_replace_a_script() -> None:
    table = {
        ("a", POST): Override(OverrideAction.IGNORE, "known bad"),
        ("b", POST): Override(OverrideAction.REPLACE, "fixed", body="echo fixed"),
    }
    plan = plan_packages([pkg("a", PRE, POST), pkg("b", POST)], overrides=table)
    assert labels(plan) == ["a:%pre", "b:%post"]
    assert plan.scripts[1].body == "echo fixed"
    assert plan.ignored == ("a:%post",)


def test_default_overrides_skip_kernel_install_scripts() -> None:
    plan = plan_packages([pkg("kernel-core", POST, POSTTRANS)])
    assert labels(plan) == ["kernel-core:%post"]
    assert plan.ignored == ("kernel-core:%posttrans",)


def test_bodyless_interpreter_is_kept_and_empty_lua_dropped() -> None:
    ldconfig = PackageInfo(
        "libfoo",
        None,
        "1",
        "1",
        "x86_64",
        scripts=(
            Scriptlet(POST, ("/sbin/ldconfig",), None),
            Scriptlet(POSTTRANS, ("<lua>",), None),
        ),
    )
    plan = plan_packages([ldconfig])
    assert [(s.label, s.interp, s.body) for s in plan.scripts] == [
        ("libfoo:%post", ("/sbin/ldconfig",), None),
    ]
    assert not plan.needs_lua
