"""Bases that live on a remote: ``REMOTE:REF`` refspecs pulled before they are used.

``admin deploy``, ``rebase`` and ``upgrade`` accept a remote's ref, as rpm-ostree does
(``fedora:fedora/41/x86_64/silverblue``): the commit is pulled into the sysroot's store
as ``REMOTE:REF`` first (under the sysroot lock the caller holds), and the origin keeps the
refspec, so the next ``upgrade`` pulls the same ref again. ``--cache-only`` never touches
the network and uses what an earlier pull left.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import StoreError
from core.progress import Progress
from core.remote.pull import PullOptions, pull, split_refspec
from core.store import Store


def is_remote(refspec: str) -> bool:
    return ":" in refspec


def fetch_base(store: Store, refspec: str, progress: Progress, *, cache_only: bool) -> str:
    """The commit ``refspec`` names, pulled first when it is a remote's (unless
    ``cache_only``); a local ref is only resolved."""
    if is_remote(refspec) and not cache_only:
        remote, refs = split_refspec(refspec, ())
        return pull(store, remote, refs[0], progress).commit
    try:
        return store.resolve(refspec)
    except StoreError as err:
        hint = "'strata refs --repo SYSROOT/ostree/repo' lists what is there"
        if is_remote(refspec):
            hint = "pull it first: run the command without --cache-only"
        raise StoreError(f"Ref '{refspec}' not found in the store", hint=hint) from err


@dataclass(frozen=True)
class Available:
    """What ``upgrade --check`` learned from the remote: its newest commit of the ref."""

    commit: str
    version: str
    timestamp: int


def check_remote(store: Store, refspec: str, progress: Progress) -> Available:
    """Fetch and verify only the newest commit object of a remote ref (no ref moves)."""
    remote, refs = split_refspec(refspec, ())
    found = pull(store, remote, refs[0], progress, PullOptions(commit_only=True))
    return Available(found.commit, found.version, found.timestamp)
