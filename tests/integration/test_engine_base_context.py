"""Facts read from the OS being layered: $releasever, repo files and GPG keys, never the host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.store import Store
from layering.engine.base_context import (
    load_repos,
    read_vars,
    releasever,
    repo_variables,
    tree_file_reader,
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.init(tmp_path / "repo")


def _commit(store: Store, root: Path, **meta: str) -> str:
    return store.commit_dir(root, metadata=meta, timestamp=0)


def _base(tmp_path: Path) -> Path:
    root = tmp_path / "base"
    keys = root / "usr/etc/pki/rpm-gpg"
    keys.mkdir(parents=True)
    (keys / "KEY-39-primary").write_text("primary key")
    os.symlink("KEY-39-primary", keys / "KEY-39")
    os.symlink("/etc/pki/rpm-gpg/KEY-39-primary", keys / "ABSOLUTE")
    os.symlink("/etc/passwd", keys / "HOSTILE")
    (root / "usr/lib").mkdir(parents=True)
    (root / "usr/lib/os-release").write_text('NAME="X"\nVERSION_ID="39"\n')
    return root


def test_releasever_comes_from_the_base_os_release(store: Store, tmp_path: Path) -> None:
    commit = _commit(store, _base(tmp_path), version="39.20240101")
    assert releasever(store, commit) == "39"
    assert repo_variables(store, commit, "x86_64") == {
        "releasever": "39",
        "basearch": "x86_64",
        "arch": "x86_64",
    }
    empty = tmp_path / "empty"
    (empty / "usr").mkdir(parents=True)
    assert releasever(store, _commit(store, empty, version="7")) == "7"


def test_keys_follow_symlinks_inside_the_base_only(store: Store, tmp_path: Path) -> None:
    commit = _commit(store, _base(tmp_path))
    read = tree_file_reader(None, store, commit)
    assert read("/etc/pki/rpm-gpg/KEY-39") == b"primary key"
    assert read("/etc/pki/rpm-gpg/ABSOLUTE") == b"primary key"
    assert read("/etc/pki/rpm-gpg/HOSTILE") is None, "never the host's /etc/passwd"
    assert read("/etc/pki/rpm-gpg/MISSING") is None


def test_deployment_etc_wins_and_cannot_escape(store: Store, tmp_path: Path) -> None:
    commit = _commit(store, _base(tmp_path))
    deployment = tmp_path / "deployment"
    keys = deployment / "etc/pki/rpm-gpg"
    keys.mkdir(parents=True)
    (keys / "KEY-39").write_text("admin's key")
    os.symlink("../../../../../../../../etc/hostname", keys / "UP")
    read = tree_file_reader(deployment, store, commit)
    assert read("/etc/pki/rpm-gpg/KEY-39") == b"admin's key"
    assert read("/etc/pki/rpm-gpg/KEY-39-primary") == b"primary key"
    assert read("/etc/pki/rpm-gpg/UP") is None


def test_repos_come_from_the_deployment_etc(tmp_path: Path) -> None:
    deployment = tmp_path / "deployment"
    assert load_repos(deployment, {}) == ()
    repos = deployment / "etc/yum.repos.d"
    repos.mkdir(parents=True)
    (repos / "a.repo").write_text(
        "[fedora]\nname=Fedora $releasever\nbaseurl=https://example.org/$releasever/$basearch/\n"
    )
    (only,) = load_repos(deployment, {"releasever": "39", "basearch": "x86_64"})
    assert only.id == "fedora"
    assert only.baseurls == ("https://example.org/39/x86_64/",)


def test_vars_of_yum_and_dnf_stay_inside_the_deployment(tmp_path: Path) -> None:
    deployment = tmp_path / "deployment"
    yum = deployment / "etc/yum/vars"
    dnf = deployment / "etc/dnf/vars"
    yum.mkdir(parents=True)
    dnf.mkdir(parents=True)
    (yum / "infra").write_text("stock\nsecond line ignored\n")
    (yum / "contentdir").write_text("centos\n")
    (dnf / "contentdir").write_text("altarch\n")  # dnf's directory is read last: it wins
    (dnf / "bad name").write_text("x\n")
    (dnf / "binary").write_bytes(b"\xff\xfe\n")
    os.symlink("/etc/hostname", dnf / "hostile")  # absolute: resolves inside the deployment
    os.symlink("../../../../../../etc/hostname", dnf / "up")
    (deployment / "etc/hostname").write_text("deployment-host\n")
    assert read_vars(deployment) == {
        "contentdir": "altarch",
        "hostile": "deployment-host",
        "infra": "stock",
        "up": "deployment-host",
    }
    assert read_vars(tmp_path / "nothing") == {}


def test_releasever_precedence_vars_then_detected_then_command_line(
    store: Store, tmp_path: Path
) -> None:
    commit = _commit(store, _base(tmp_path))
    deployment = tmp_path / "deployment"
    (deployment / "etc/dnf/vars").mkdir(parents=True)
    (deployment / "etc/dnf/vars/releasever").write_text("from-vars\n")
    calls: list[str] = []

    def detect() -> str | None:
        calls.append("detect")
        return "42"

    variables = repo_variables(store, commit, "i686", config_root=deployment, detect=detect)
    assert (variables["basearch"], variables["arch"]) == ("i386", "i686")
    assert not calls, "the base is read only when a repo file uses $releasever"
    assert variables["releasever"] == "42" and calls == ["detect"]
    assert repo_variables(store, commit, "x86_64", detect=lambda: None)["releasever"] == "39"
    with_vars = repo_variables(store, commit, "x86_64", config_root=deployment, detect=None)
    assert with_vars["releasever"] == "from-vars"  # the os-release fallback does not win
    forced = repo_variables(store, commit, "x86_64", detect=detect, override="9")
    assert forced["releasever"] == "9" and calls == ["detect"]
