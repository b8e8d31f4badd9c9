"""A deployment Strata wrote boots for real: QEMU, Debian's kernel, Strata's initramfs
and libostree's own ostree-prepare-root, from the BLS entry Strata wrote.

One :class:`fixtures.demo_boot.BootScenario` run (three boots, about a minute under TCG)
is shared by the tests: the layered deployment (strace staged, then finalized), the
rollback to the base, and a kernel argument appended with ``kargs``. The guest reports
on its second serial port; see ``fixtures/bootable.py`` for what each line means.
"""

from __future__ import annotations

import shutil

import pytest

from core.sysroot import Sysroot
from fixtures.demo import OSNAME
from fixtures.demo_boot import ADMIN_CONF, BootScenario
from tests.conftest import needs_bwrap, needs_rpmbuild

pytestmark = [needs_bwrap, needs_rpmbuild]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> BootScenario:
    assert shutil.which("qemu-system-x86_64"), "qemu-system-x86 is missing: run `make setup`"
    run = BootScenario(tmp_path_factory.mktemp("boot"), echo=False)
    run.walk()
    return run


def _dirname(scenario: BootScenario, boot: int) -> str:
    return scenario.boots[boot].field("deployment").rsplit("/", 1)[-1]


def test_the_layered_deployment_boots_with_merged_etc_and_shared_var(
    scenario: BootScenario,
) -> None:
    first = scenario.boots[0]
    # the first line of the guest's report names the deployment ostree= led to: the
    # default one, the layered deployment just finalized
    assert first.report[0] == f"deployment {OSNAME}/deploy/{scenario.defaults[0]}"
    assert first.field("strace").startswith("strace -- version 6.1")  # layered, libs via ldconfig
    assert first.field("admin-conf") == "edited by the administrator"  # /etc merged at finalize
    assert first.field("usr") == "read-only"
    assert first.field("var") == "stateroot"  # ostree/deploy/OS/var, not the deployment's own
    # the kernel got exactly the options of the BLS entry Strata wrote
    assert first.field("cmdline") == first.spec.options
    assert f"options {first.spec.options}\n" in first.entry_text
    linux = next(line for line in first.entry_text.splitlines() if line.startswith("linux "))
    assert first.spec.kernel.name == linux.rsplit("/", 1)[-1]
    assert "root=/dev/vda rw" in first.spec.options  # init-fs --karg
    assert "console=ttyS0" in first.spec.options  # the treefile's kargs


def test_strata_names_the_booted_deployment_from_the_guest_cmdline(
    scenario: BootScenario,
) -> None:
    """Given the guest's /proc/cmdline, Strata (as on a running root) finds ostree='s
    deployment: the one the guest itself reported, for every boot."""
    reported = [f"{OSNAME}-{_dirname(scenario, i)}" for i in range(3)]
    assert scenario.booted_by_cmdline == reported


def test_rollback_boots_the_previous_deployment_with_var_kept(scenario: BootScenario) -> None:
    second = scenario.boots[1]
    assert _dirname(scenario, 1) == scenario.defaults[1]
    assert _dirname(scenario, 1) != _dirname(scenario, 0)
    assert second.field("strace") == "absent"
    assert _dirname(scenario, 0) in second.field("var-marker").split()  # /var outlived it
    assert second.field("etc-marker") == "absent"  # the other deployment's /etc
    assert second.field("admin-conf") == "edited by the administrator"


def test_an_appended_karg_reaches_the_guest(scenario: BootScenario) -> None:
    third = scenario.boots[2]
    assert _dirname(scenario, 2) == scenario.defaults[2]
    assert "strata.test=hello" in third.field("cmdline").split()
    # a kargs change is a new deployment of the same commit
    assert third.field("deployment") != scenario.boots[1].field("deployment")
    assert _dirname(scenario, 2).split(".")[0] == _dirname(scenario, 1).split(".")[0]
    assert third.field("strace") == "absent"
    markers = third.field("var-marker").split()
    assert markers == [_dirname(scenario, 0), _dirname(scenario, 1)]
    admin_conf = scenario.deployment_root() / ADMIN_CONF
    assert admin_conf.read_text() == "edited by the administrator\n"
    booted = [d for d in Sysroot.open(scenario.sysroot).deployments() if d.booted]
    assert [d.key.dirname for d in booted] == [_dirname(scenario, 2)]
