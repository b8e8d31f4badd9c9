"""overlayfs for the sandbox root, mounted in a private mount namespace.

bubblewrap 0.8 has no ``--overlay``, so the sandbox command is wrapped:
``unshare --mount --propagation private`` creates a mount namespace that dies
with the process, a tiny ``sh -c`` mounts the overlay there, then ``exec``s
bwrap, which sees the merged tree and binds it as ``/``. The host's mount table
never changes, so a crash or a kill leaks no mount.

Writes land in the upper directory: a script that appends to a file hardlinked
into the store gets a copied-up file in the upper and never opens the store's
inode for writing. The options keep the upper plain (no redirect xattrs, no
index, no metacopy-only inodes) so the engine can fold it into a tree by
reading ordinary files, whiteouts (0:0 character devices) and opaque-dir xattrs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from core.errors import TriggerError

# Options that keep the upper directory a plain tree of full files.
PLAIN_UPPER_OPTIONS = ("redirect_dir=off", "index=off", "metacopy=off", "xino=off")

MOUNT_FAILED = "strata-overlay: mounting the overlay failed"
_MOUNT_THEN_EXEC = (
    'mount -t overlay strata-overlay -o "$1" "$2" '
    f'|| {{ echo "{MOUNT_FAILED}" >&2; exit 125; }}; shift 2; exec "$@"'
)

# Mount points bwrap creates in the root when the tree lacks them; they are
# sandbox plumbing, not script output, and must not be folded into the tree.
PLUMBING_DIRS = ("dev", "proc", "run", "tmp", "var", "etc")


def _check_path(path: Path) -> str:
    text = str(path)
    if not path.is_absolute() or any(c in text for c in ",:\\\n="):
        raise TriggerError(
            f"Cannot use {text!r} as an overlay layer: it must be an absolute path "
            "without ',', ':', '=' or '\\'",
            hint="move the tree to a plain directory name",
        )
    return text


def overlay_options(
    lowers: Sequence[Path], upper: Path | None = None, work: Path | None = None
) -> str:
    """The ``mount -o`` string; ``lowers`` topmost first. No upper: a read-only overlay."""
    if not lowers:
        raise TriggerError("Cannot build an overlay without a lower tree")
    parts = ["lowerdir=" + ":".join(_check_path(p) for p in lowers)]
    if upper is not None:
        if work is None:
            raise TriggerError("An overlay with an upper directory needs a work directory")
        parts += [f"upperdir={_check_path(upper)}", f"workdir={_check_path(work)}"]
    parts += PLAIN_UPPER_OPTIONS
    options = ",".join(parts)
    if len(options) >= os.sysconf("SC_PAGE_SIZE"):
        raise TriggerError(
            f"Cannot mount an overlay of {len(lowers)} layers: the option string is "
            f"{len(options)} bytes, over the kernel's one-page limit",
            hint="use fewer, larger lower trees or shorter paths",
        )
    return options


def mount_and_exec(options: str, merged: Path, command: Sequence[str]) -> list[str]:
    """Wrap ``command`` so it runs in a private mount namespace with the overlay mounted."""
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        _MOUNT_THEN_EXEC,
        "strata-overlay",
        options,
        str(merged),
        *command,
    ]


def remove_plumbing(upper: Path, lowers: Sequence[Path]) -> list[str]:
    """Remove the empty mount-point directories bwrap made in ``upper``; return their names.

    Only a directory that no lower tree has and that is still empty is bwrap's
    doing; anything a script put there is kept.
    """
    removed = []
    for name in PLUMBING_DIRS:
        candidate = upper / name
        if not candidate.is_dir() or candidate.is_symlink():
            continue
        if any(os.path.lexists(lower / name) for lower in lowers):
            continue
        if not any(candidate.iterdir()):
            candidate.rmdir()
            removed.append(name)
    return removed
