"""Treefile validation: every mistake is a ConfigError naming the key and the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import ConfigError
from layering.engine.treefile import parse

PATH = Path("/srv/compose/exampleos.yaml")
GOOD = """
ref: exampleos/x86_64/base
repos: [base, updates]
packages: [bash, coreutils]
releasever: 39
osname: exampleos
add-commit-metadata:
  version: "39.1"
  build: 7
postprocess:
  - echo hi > /usr/share/hi
"""


def test_a_good_treefile() -> None:
    tf = parse(GOOD, PATH)
    assert tf.ref == "exampleos/x86_64/base"
    assert tf.repos == ("base", "updates")
    assert tf.packages == ("bash", "coreutils")
    assert tf.releasever == "39"
    assert tf.add_commit_metadata == {"version": "39.1", "build": "7"}
    assert tf.postprocess == ("echo hi > /usr/share/hi",)
    assert tf.directory == PATH.parent
    assert parse(GOOD, PATH).canonical() == tf.canonical()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD + "packges: [vim]\n", "unknown key(s) 'packges'"),
        ("repos: [base]\npackages: [bash]\n", "missing required key 'ref'"),
        ("ref: r\npackages: [bash]\n", "missing required key 'repos'"),
        ("ref: r\nrepos: [b]\npackages: bash\n", "'packages' must be a list of strings"),
        ("ref: r\nrepos: [b]\npackages: []\n", "'packages' must not be empty"),
        ("ref: [r]\nrepos: [b]\npackages: [bash]\n", "'ref' must be a string"),
        ("ref: r\nrepos: [b]\npackages: [{a: 1}]\n", "'packages[0]' must be a string"),
        ("ref: r\nrepos: [b]\npackages: [x]\nadd-commit-metadata: [1]\n", "must be a mapping"),
        ("ref: r\nrepos: [b]\npackages: [x]\npostprocess: echo\n", "'postprocess' must be a list"),
        ("- just\n- a list\n", "must be a YAML mapping"),
        ("ref: [unclosed\n", "not valid YAML"),
        (GOOD + "kargs: quiet\n", "'kargs' must be a list"),
        (GOOD + "kargs: ['a b']\n", "not one KEY[=VALUE] argument"),
        (GOOD + "kargs: ['ostree=/x']\n", "not one KEY[=VALUE] argument"),
        (GOOD + "initramfs: yes\n", "'initramfs' must be a mapping"),
        (GOOD + "initramfs: {busybox: bb}\n", "needs 'ostree-prepare-root'"),
        (GOOD + "initramfs: {busybox: b, ostree-prepare-root: p, x: 1}\n", "unknown 'initramfs'"),
        (
            GOOD + "initramfs: {busybox: b, ostree-prepare-root: p, compression: lz4}\n",
            "gzip or zstd",
        ),
    ],
)
def test_mistakes_are_named(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse(text, PATH)
    assert message in str(err.value)
    assert str(PATH) in str(err.value)


def test_boot_keys() -> None:
    text = GOOD + (
        "kargs: [console=ttyS0, quiet]\n"
        "initramfs: {busybox: bin/busybox, ostree-prepare-root: /opt/prepare, modules: [nvme]}\n"
    )
    tf = parse(text, PATH)
    assert tf.kargs == ("console=ttyS0", "quiet")
    assert tf.initramfs is not None
    assert tf.initramfs.busybox == PATH.parent / "bin/busybox"  # relative to the treefile
    assert tf.initramfs.prepare_root == Path("/opt/prepare")
    assert tf.initramfs.modules == ("nvme",)
    assert tf.canonical() != parse(GOOD, PATH).canonical()
