"""$releasever of a base from its packages, as dnf's detect_releasever finds it."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.rpms import build_rpm
from solver.release import detect_releasever
from tests.conftest import needs_rpmbuild
from tests.integration.test_solver_real import make_rpmdb

pytestmark = needs_rpmbuild


def _rpm(name: str, version: str = "1", **kw: object) -> Path:
    return build_rpm(name, version, autoreqprov=False, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("packages", "expected"),
    [
        # centos-release states the version on the provide: that wins over its own version
        ([_rpm("centos-release", "7", provides=["system-release(releasever) = 7.9"])], "7.9"),
        # a package of the provide's name: its version
        ([_rpm("system-release", "40", provides=["system-release(releasever)"])], "40"),
        # no versioned provide: the providing package's version
        ([_rpm("fedora-release", "41", provides=["system-release(releasever)"])], "41"),
        # the first name of dnf's list wins over later ones
        (
            [
                _rpm("redhat-release", "8"),
                _rpm("rocky-release", "9.3", provides=["system-release(releasever) = 9"]),
            ],
            "9",
        ),
        ([_rpm("redhat-release", "8.10")], "8.10"),
        ([_rpm("bash", "5")], None),
    ],
)
def test_release_version_from_the_base_packages(
    tmp_path: Path, packages: list[Path], expected: str | None
) -> None:
    rpmdb = make_rpmdb(tmp_path / "root", packages)
    assert detect_releasever(rpmdb, "k", tmp_path / "cache", "x86_64") == expected
    # the second time from the base's .solv cache (the rpmdb is gone)
    assert detect_releasever(tmp_path / "gone", "k", tmp_path / "cache", "x86_64") == expected
