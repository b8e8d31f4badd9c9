"""Facts read from the OS being layered: $releasever, repo files and GPG keys, never the host."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.store import Store
from layering.engine.base_context import load_repos, releasever, repo_variables, tree_file_reader


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
