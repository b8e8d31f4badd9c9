"""Scripts run on a real checkout from the store: the store's objects survive, fsck stays clean."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from triggers_support import build_minimal_root

from core.progress import QuietProgress
from tests.conftest import needs_bwrap
from triggers import run_scripts
from triggers.model import Script, ScriptKind, ScriptPlan

pytestmark = needs_bwrap
store_mod = pytest.importorskip("core.store.repo")


def test_script_rewriting_checked_out_files_leaves_store_and_fsck_clean(tmp_path: Path) -> None:
    root = build_minimal_root(tmp_path / "root")  # the shell and libraries, below the checkout
    src = tmp_path / "src"
    (src / "usr/bin").mkdir(parents=True)
    shutil.copy2(root / "usr/bin/cat", src / "usr/bin/cat")
    (src / "usr/share/demo").mkdir(parents=True)
    (src / "usr/share/demo/shared.conf").write_text("pristine\n")
    store = store_mod.Store.init(tmp_path / "repo")
    commit = store.commit_dir(src, branch="base", subject="base")
    checkout = tmp_path / "deploy"
    store.checkout(commit, checkout, hardlink=True)
    shared = checkout / "usr/share/demo/shared.conf"
    assert os.stat(shared).st_nlink > 1  # really a hardlink into the store's objects
    upper = tmp_path / "upper"
    upper.mkdir()

    body = (
        "echo appended >> /usr/share/demo/shared.conf\n"
        "chmod u+w /usr/bin/cat; echo clobbered > /usr/bin/cat\n"
    )
    plan = ScriptPlan((Script("demo", ScriptKind.POST, ("/bin/sh",), body),))
    run_scripts(
        plan, lowers=[checkout, root], upper=upper, progress=QuietProgress(), sanity_check=False
    )

    assert shared.read_text() == "pristine\n"
    assert store.read_file(commit, "usr/share/demo/shared.conf") == b"pristine\n"
    assert (checkout / "usr/bin/cat").read_bytes() == (src / "usr/bin/cat").read_bytes()
    assert store.fsck() == []
    assert (upper / "usr/share/demo/shared.conf").read_text() == "pristine\nappended\n"
    assert (upper / "usr/bin/cat").read_text() == "clobbered\n"

    editor = store.edit(store.commit_info(commit).tree)
    editor.apply_upper(upper)
    new_tree = editor.write()
    assert store.read_file(new_tree, "usr/share/demo/shared.conf") == b"pristine\nappended\n"
    assert store.read_file(commit, "usr/share/demo/shared.conf") == b"pristine\n"
    assert store.fsck() == []
