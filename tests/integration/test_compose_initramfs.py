"""The initramfs step of compose on a real store: where it goes, and a tree without a kernel."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from core.errors import ConfigError
from core.store import Store
from layering.engine.initramfs import InitramfsConfig, add_initramfs

needs_busybox = pytest.mark.skipif(shutil.which("busybox") is None, reason="no busybox")


def _tree(store: Store, src: Path, files: dict[str, bytes]) -> str:
    for rel, data in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    return store.commit_info(store.commit_dir(src, branch="b", subject="t")).tree


@needs_busybox
def test_the_image_lands_beside_the_kernel(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    tree = _tree(
        store,
        tmp_path / "src",
        {
            "usr/lib/modules/6.1.0/vmlinuz": b"kernel",
            "usr/lib/modules/6.1.0/modules.builtin": b"kernel/fs/ext4/ext4.ko\n",
        },
    )
    config = InitramfsConfig(
        busybox=Path(str(shutil.which("busybox"))),
        prepare_root=Path("/usr/bin/true"),
        modules=("ext4",),
    )
    new = add_initramfs(store, tree, config)
    image = store.read_file(new, "usr/lib/modules/6.1.0/initramfs.img")
    assert image is not None
    listing = subprocess.run(
        ["cpio", "-it", "--quiet"], input=gzip.decompress(image), capture_output=True, check=True
    ).stdout.decode()
    assert "init" in listing.split() and "etc/strata-initramfs/kver" in listing.split()
    assert add_initramfs(store, tree, config) == new  # reproducible


def test_a_tree_without_a_kernel_is_refused(tmp_path: Path) -> None:
    store = Store.init(tmp_path / "repo")
    tree = _tree(store, tmp_path / "src", {"usr/bin/tool": b"#!/bin/sh\n"})
    config = InitramfsConfig(busybox=Path("/bin/busybox"), prepare_root=Path("/usr/bin/true"))
    with pytest.raises(ConfigError, match="no kernel") as info:
        add_initramfs(store, tree, config)
    assert "kernel package" in str(info.value)
