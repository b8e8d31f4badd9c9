"""Where a repo's metadata comes from: ``metalink=``, ``mirrorlist=`` or ``baseurl=``.

As dnf (libdnf hands these to librepo): a metalink wins over a mirror list, which
wins over ``baseurl``; a ``mirrorlist=`` whose URL contains "metalink" is read as a
metalink (yum guessed so, dnf keeps the guess). A mirror list is plain text, one URL
a line, ``#`` comments. A metalink (MirrorManager's dialect of metalink 3.0) lists
``repomd.xml`` URLs with a preference, and its hashes (plus *alternates*, recent
older versions a mirror may still serve): the ``repomd.xml`` a mirror serves must
match one of them, else that mirror is stale or forged and the next one is tried.

Both lists are hostile input: they are read with a size limit, and a list fetched
from the network may only name http(s) mirrors (never a ``file://`` path of the
machine running Strata).
"""

from __future__ import annotations

import hashlib
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field

from core.errors import FetchError
from solver.fetch import local_path, open_url
from solver.types import RepoConfig, Speed

MAX_LIST_BYTES = 4 << 20  # a real metalink is ~20 KiB, a mirror list ~5 KiB
_ML = "{http://www.metalinker.org/}"
_REPOMD_SUFFIX = "/repodata/repomd.xml"
# Strongest first, as librepo picks the best hash type a metalink offers.
HASH_STRENGTH = ("sha512", "sha384", "sha256", "sha224", "sha1", "md5")


@dataclass(frozen=True)
class Metalink:
    """The mirrors a metalink names (best first) and the ``repomd.xml`` hashes it accepts."""

    url: str
    mirrors: tuple[str, ...]  # base URLs (the repomd.xml URL less /repodata/repomd.xml)
    hashes: Mapping[str, frozenset[str]] = field(default_factory=dict)  # type -> hex digests

    def check(self, repomd: bytes, served_by: str) -> None:
        """``FetchError`` unless ``repomd`` has one of the listed hashes (strongest type)."""
        algo = next(a for a in HASH_STRENGTH if a in self.hashes)
        digest = hashlib.new(algo, repomd).hexdigest()
        if digest not in self.hashes[algo]:
            raise FetchError(
                f"{served_by}: repomd.xml does not match the metalink {self.url} "
                f"({algo} {digest[:16]}…, the metalink lists "
                f"{', '.join(sorted(h[:16] + '…' for h in self.hashes[algo]))})",
                hint="the mirror is out of date or was tampered with; try again later",
            )


@dataclass(frozen=True)
class MirrorSet:
    """The base URLs to try, in order; with the metalink that verifies them, if any."""

    source: str  # "baseurl", "mirrorlist" or "metalink"
    mirrors: tuple[str, ...]
    metalink: Metalink | None = None


def _read_list(url: str, what: str, repo_id: str, speed: Speed) -> bytes:
    try:
        with open_url(url, timeout=speed.timeout) as stream:
            data = stream.read(MAX_LIST_BYTES + 1)
    except FetchError as err:
        raise FetchError(
            f"repo {repo_id!r}: cannot fetch its {what}: {err.args[0]}",
            hint=f"check {what}= of {repo_id!r} and your network, set "
            "skip_if_unavailable=1 for it, or disable it (enabled=0)",
        ) from err
    except OSError as err:
        raise FetchError(f"repo {repo_id!r}: cannot fetch its {what} {url}: {err}") from err
    if len(data) > MAX_LIST_BYTES:
        raise FetchError(
            f"repo {repo_id!r}: its {what} {url} is larger than {MAX_LIST_BYTES >> 20} MiB",
            hint=f"check {what}= of {repo_id!r}: it does not point at a {what}",
        )
    return data


def _allowed(mirror: str, list_url: str) -> bool:
    """http(s) always; ``file://`` only when the list itself is a local file."""
    scheme = urllib.parse.urlsplit(mirror).scheme
    if scheme in ("http", "https"):
        return True
    return scheme == "file" and local_path(list_url) is not None


def parse_mirrorlist(data: bytes, *, url: str, repo_id: str) -> tuple[str, ...]:
    """The mirror URLs of a plain mirror list, in order, duplicates dropped."""
    try:
        text = data.decode()
    except UnicodeDecodeError as err:
        raise FetchError(
            f"repo {repo_id!r}: mirror list {url} is not text", hint="check mirrorlist="
        ) from err
    mirrors: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if _allowed(line, url) and line not in mirrors:
            mirrors.append(line)
    if not mirrors:
        raise FetchError(
            f"repo {repo_id!r}: mirror list {url} names no usable mirror",
            hint=f"the list is empty or names no http(s) URL; check mirrorlist= of {repo_id!r}, "
            "or set baseurl= instead",
        )
    return tuple(mirrors)


def _preference(element: ET.Element) -> int:
    try:
        return int(element.get("preference", "0"))
    except ValueError:
        return 0


def parse_metalink(data: bytes, *, url: str, repo_id: str) -> Metalink:
    """The mirrors (by preference, best first) and accepted hashes of a metalink."""
    bad = f"repo {repo_id!r}: metalink {url}"
    hint = f"check metalink= of {repo_id!r}; the server may be failing, try again later"
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise FetchError(f"{bad} is not valid XML ({err})", hint=hint) from err
    target = next(
        (f for f in root.iter(f"{_ML}file") if f.get("name") == "repomd.xml"),
        None,
    )
    if target is None:
        raise FetchError(f"{bad} describes no repomd.xml", hint=hint)
    hashes: dict[str, set[str]] = {}
    for item in target.iter(f"{_ML}hash"):  # the current hashes and every alternate's
        algo = (item.get("type") or "").lower()
        value = (item.text or "").strip().lower()
        if algo in HASH_STRENGTH and value and all(c in "0123456789abcdef" for c in value):
            hashes.setdefault(algo, set()).add(value)
    if not hashes:
        raise FetchError(
            f"{bad} lists no hash of repomd.xml Strata can check",
            hint=f"{hint} (a metalink without hashes verifies nothing, so it is refused)",
        )
    ranked = sorted(
        enumerate(target.iter(f"{_ML}url")), key=lambda pair: (-_preference(pair[1]), pair[0])
    )
    mirrors: list[str] = []
    for _, element in ranked:
        location = (element.text or "").strip()
        if not location.endswith(_REPOMD_SUFFIX) or not _allowed(location, url):
            continue
        base = location[: -len(_REPOMD_SUFFIX)] + "/"
        if base not in mirrors:
            mirrors.append(base)
    if not mirrors:
        raise FetchError(f"{bad} names no usable http(s) mirror of repomd.xml", hint=hint)
    frozen = {algo: frozenset(values) for algo, values in hashes.items()}
    return Metalink(url, tuple(mirrors), frozen)


def mirror_set(config: RepoConfig) -> MirrorSet:
    """Resolve where ``config``'s metadata comes from (fetching a list when it names one)."""
    if config.metalink or (config.mirrorlist and "metalink" in config.mirrorlist):
        url = config.metalink or config.mirrorlist
        data = _read_list(url, "metalink", config.id, config.speed)
        metalink = parse_metalink(data, url=url, repo_id=config.id)
        return MirrorSet("metalink", metalink.mirrors, metalink)
    if config.mirrorlist:
        data = _read_list(config.mirrorlist, "mirrorlist", config.id, config.speed)
        mirrors = parse_mirrorlist(data, url=config.mirrorlist, repo_id=config.id)
        return MirrorSet("mirrorlist", mirrors)
    return MirrorSet("baseurl", config.baseurls)
