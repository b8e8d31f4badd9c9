"""``python -m bench.pull_bench``: ``strata pull`` against ``ostree pull``, same trees,
same nginx.

The bench base's two composed commits (v1, and v2: a newer bash plus xz-libs) are
published twice: into a Strata archive store (``pull-local``) and, checked out, into an
``ostree --mode=archive`` repository (``ostree commit`` of the same trees). One nginx
serves both. A fresh client of each kind pulls v1 (the first pull of a host), then v2
(an update): wall time of the pull command, and the bytes and requests nginx logged for
it. Goals (issue 19): first pull at most 1.0x ostree's time and bytes; the update at most
2x the compressed size of the files it changes.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench import bases
from bench.measure import timed
from bench.report import Row, machine, seconds, size_label, text_table
from core.store import DiffKind, Store
from core.store.archive import filez_path
from fixtures.servers import Nginx, nginx

STRATA_DIR = "strata"
OSTREE_DIR = "ostree"


@dataclass(frozen=True)
class Transfer:
    seconds: float
    bytes: int
    requests: int


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def publish(base: bases.Base, www: Path) -> None:
    """Both archives of v1 and v2 under ``www`` (cached beside the base)."""
    ready = www / ".ready"
    if ready.is_file():
        return
    shutil.rmtree(www, ignore_errors=True)
    repo = base.template / "ostree" / "repo"
    archive = www / STRATA_DIR
    _run(bases.strata_argv("repo", "init", "--repo", str(archive), "--mode", "archive"))
    _run(bases.strata_argv("pull-local", "--repo", str(archive), str(repo), bases.REF))
    _run(bases.strata_argv("pull-local", "--repo", str(archive), str(repo), bases.REF_V2))
    _run(bases.strata_argv("summary", "--repo", str(archive), "--update"))
    ostree = www / OSTREE_DIR
    _run(["ostree", "init", "--repo", str(ostree), "--mode", "archive"])
    store = Store.open(repo)
    for ref, commit in ((bases.REF, base.commit), (bases.REF_V2, base.commit_v2)):
        tree = www / "checkout"
        store.checkout(commit, tree, hardlink=False)
        _run(
            ["ostree", "commit", "--repo", str(ostree), "-b", ref, f"--tree=dir={tree}",
             "--no-bindings", "-s", ref]
        )  # fmt: skip
        shutil.rmtree(tree)
    _run(["ostree", "summary", "--repo", str(ostree), "--update"])
    ready.write_text("")


def _logged(web: Nginx, prefix: str) -> tuple[int, int]:
    entries = [e for e in web.log() if e.path.startswith(f"/{prefix}/")]
    return sum(e.bytes_sent for e in entries), len(entries)


def _strata_client(path: Path, url: str) -> list[str]:
    shutil.rmtree(path, ignore_errors=True)
    _run(bases.strata_argv("repo", "init", "--repo", str(path)))
    _run(
        bases.strata_argv(
            "remote", "add", "--repo", str(path), "server", f"{url}/{STRATA_DIR}",
            "--no-sign-verify",
        )
    )  # fmt: skip
    return bases.strata_argv("pull", "--repo", str(path), "server")


def _ostree_client(path: Path, url: str) -> list[str]:
    shutil.rmtree(path, ignore_errors=True)
    _run(["ostree", "init", "--repo", str(path), "--mode", "bare"])
    _run(
        ["ostree", "remote", "add", "--repo", str(path), "--no-gpg-verify", "server",
         f"{url}/{OSTREE_DIR}"]
    )  # fmt: skip
    return ["ostree", "pull", "--repo", str(path), "server"]


def measure(web: Nginx, work: Path, kind: str) -> tuple[Transfer, Transfer]:
    """A first pull (v1) then an update (v2) by a fresh client of ``kind``."""
    client = work / f"client-{kind}"
    make = _strata_client if kind == STRATA_DIR else _ostree_client
    pull = make(client, web.url)
    out = []
    for ref in (bases.REF, bases.REF_V2):
        web.clear_log()
        sample = timed([*pull, ref])
        sent, requests = _logged(web, kind)
        out.append(Transfer(sample.seconds, sent, requests))
    shutil.rmtree(client, ignore_errors=True)
    return out[0], out[1]


def changed_compressed(base: bases.Base, www: Path) -> int:
    """The compressed size (``.filez`` in the archive) of the files v2 adds or changes."""
    store = Store.open(www / STRATA_DIR)
    total = 0
    for change in store.diff(base.commit, base.commit_v2):
        if change.kind is DiffKind.DELETED:
            continue
        entry = store.lookup(base.commit_v2, change.path)
        if entry is not None and entry.kind.value == "file":
            total += filez_path(store.objects.root, entry.object_id).stat().st_size
    return total


def run(n_files: int, rounds: int) -> list[Row]:
    base = bases.get_base(n_files)
    www = base.directory / "www"
    publish(base, www)
    work = bases.cache_dir() / "work" / "pull"
    work.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[tuple[Transfer, Transfer]]] = {STRATA_DIR: [], OSTREE_DIR: []}
    with nginx(www, work / "nginx") as web:
        for _ in range(rounds):
            for kind in (OSTREE_DIR, STRATA_DIR):
                runs[kind].append(measure(web, work, kind))
    shutil.rmtree(work, ignore_errors=True)
    label = size_label(n_files)

    def med(kind: str, which: int, field: str) -> float:
        return float(statistics.median(getattr(r[which], field) for r in runs[kind]))

    rows = []
    for which, name in ((0, "pull-first"), (1, "pull-update")):
        s_t, o_t = med(STRATA_DIR, which, "seconds"), med(OSTREE_DIR, which, "seconds")
        s_b, o_b = med(STRATA_DIR, which, "bytes"), med(OSTREE_DIR, which, "bytes")
        s_r, o_r = med(STRATA_DIR, which, "requests"), med(OSTREE_DIR, which, "requests")
        goal = which == 0
        rows.append(
            Row(name, label, seconds(s_t), "-", f"ostree pull {seconds(o_t)}",
                f"{s_t / o_t:.2f}x", "<= 1.0x ostree" if goal else "-",
                s_t <= o_t if goal else None)
        )  # fmt: skip
        rows.append(
            Row(f"{name} bytes", label, f"{s_b / 1e6:.2f} MB ({s_r:.0f} req)", "-",
                f"ostree {o_b / 1e6:.2f} MB ({o_r:.0f} req)", f"{s_b / o_b:.2f}x",
                "<= 1.0x ostree" if goal else "-", s_b <= o_b if goal else None)
        )  # fmt: skip
    changed = changed_compressed(base, www)
    update = med(STRATA_DIR, 1, "bytes")
    rows.append(
        Row("pull-update vs changed files", label, f"{update / 1e6:.2f} MB", "-",
            f"changed files {changed / 1e6:.2f} MB compressed", f"{update / changed:.2f}x",
            "<= 2.0x", update <= 2 * changed)
    )  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pull_bench", description=__doc__)
    parser.add_argument("--size", type=int, default=50_000, help="base size in files")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"machine: {machine()}", flush=True)
    rows = run(args.size, args.rounds)
    print(text_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
