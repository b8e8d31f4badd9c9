"""The initramfs generator's parts: cpio newc, compression, module dependencies."""

from __future__ import annotations

import gzip
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from core.errors import ConfigError
from layering.engine.initramfs import (
    Compression,
    Cpio,
    InitramfsConfig,
    build_archive,
    compress,
    modinfo,
    module_closure,
)


def fake_module(fields: dict[str, str]) -> bytes:
    """An ELF64 LE file whose only content is a .modinfo section (what modinfo reads)."""
    modinfo_data = b"".join(f"{k}={v}\0".encode() for k, v in fields.items())
    shstrtab = b"\0.shstrtab\0.modinfo\0"
    header_size, sh_size = 64, 64
    data_at = header_size
    strtab_at = data_at + len(modinfo_data)
    shoff = strtab_at + len(shstrtab)
    header = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    header += struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, sh_size, 3, 1)
    sections = struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    sections += struct.pack("<IIQQQQIIQQ", 1, 3, 0, 0, strtab_at, len(shstrtab), 0, 0, 1, 0)
    sections += struct.pack("<IIQQQQIIQQ", 11, 1, 0, 0, data_at, len(modinfo_data), 0, 0, 1, 0)
    return header + modinfo_data + shstrtab + sections


def test_modinfo_reads_depends() -> None:
    info = modinfo(fake_module({"name": "virtio_blk", "depends": "virtio,virtio_ring"}), "x.ko")
    assert info["depends"] == "virtio,virtio_ring"


@pytest.mark.parametrize("data", [b"", b"not an elf at all", b"\x7fELF\x02\x01" + b"\xff" * 80])
def test_a_damaged_module_is_a_config_error(data: bytes) -> None:
    with pytest.raises(ConfigError, match="bad.ko"):
        modinfo(data, "bad.ko")


def test_closure_loads_dependencies_first_and_skips_builtins() -> None:
    mods = {
        "k/virtio_blk.ko": fake_module({"depends": "virtio,virtio_ring"}),
        "k/virtio.ko": fake_module({"depends": "virtio_ring"}),
        "k/virtio_ring.ko": fake_module({"depends": ""}),
    }
    available = {p.rsplit("/", 1)[1].removesuffix(".ko"): p for p in mods}
    order = module_closure(["virtio-blk", "ext4"], available, {"ext4"}, mods.__getitem__)
    assert order == ["k/virtio_ring.ko", "k/virtio.ko", "k/virtio_blk.ko"]
    with pytest.raises(ConfigError, match="nosuch .needed by virtio_blk"):
        module_closure(
            ["virtio_blk"],
            {"virtio_blk": "k/b.ko"},
            set(),
            lambda p: fake_module({"depends": "nosuch"}),
        )


def test_cpio_newc_is_read_by_cpio(tmp_path: Path) -> None:
    archive = Cpio()
    archive.directory("etc")
    archive.file("etc/hello", b"hi\n", 0o600)
    archive.symlink("etc/link", "hello")
    archive.char_device("console", 5, 1)
    (tmp_path / "a.cpio").write_bytes(archive.finish())
    listing = subprocess.run(
        ["cpio", "-itv", "-F", str(tmp_path / "a.cpio")], capture_output=True, text=True, check=True
    ).stdout
    assert "etc/hello" in listing and "etc/link -> hello" in listing
    assert "crw-------" in listing and "-rw-------" in listing


needs_busybox = pytest.mark.skipif(shutil.which("busybox") is None, reason="no busybox")


@needs_busybox
@pytest.mark.parametrize("how", list(Compression))
def test_archive_is_complete_and_reproducible(tmp_path: Path, how: Compression) -> None:
    config = InitramfsConfig(
        busybox=Path(str(shutil.which("busybox"))),
        prepare_root=Path("/usr/bin/true"),
        compression=how,
    )
    modules = [("usr/lib/modules/6.1/kernel/a.ko", b"module a")]
    image = build_archive(config, modules, "6.1")
    assert build_archive(config, modules, "6.1") == image
    raw = (
        gzip.decompress(image)
        if how is Compression.GZIP
        else subprocess.run(["zstd", "-dc"], input=image, capture_output=True, check=True).stdout
    )
    out = tmp_path / "root"
    out.mkdir()
    subprocess.run(["cpio", "-idm", "--quiet"], input=raw, cwd=out, check=True)
    assert (out / "init").read_text().startswith("#!/bin/busybox sh")
    assert (out / "init").stat().st_mode & 0o111
    assert (out / "usr/lib/ostree/ostree-prepare-root").read_bytes() == Path(
        "/usr/bin/true"
    ).read_bytes()
    assert (out / "etc/strata-initramfs/modules").read_text() == "usr/lib/modules/6.1/kernel/a.ko\n"
    assert (out / "usr/lib/modules/6.1/kernel/a.ko").read_bytes() == b"module a"
    assert list(out.glob("lib*/**/libc.so.6")), "prepare-root's libraries come along"
    assert (out / "lib64/ld-linux-x86-64.so.2").is_file()


def test_missing_host_files_are_named(tmp_path: Path) -> None:
    config = InitramfsConfig(busybox=tmp_path / "nope", prepare_root=tmp_path / "nope2")
    with pytest.raises(ConfigError, match="nope"):
        build_archive(config, [], "6.1")


def test_gzip_has_no_timestamp() -> None:
    assert compress(b"x" * 100, Compression.GZIP)[4:8] == b"\0\0\0\0"
