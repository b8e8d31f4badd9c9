"""GPG signature checks of fetched RPMs against the keys their repository names.

Keys named ``file:///etc/pki/rpm-gpg/...`` belong to the OS being layered, never to the
host running Strata, so the caller resolves them inside the deployment or base tree.
Verification uses rpm's own keyring (``rpmkeys``) in a throwaway database: the host's
rpmdb is never read or written.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

from core.errors import FetchError

# "    Header V4 RSA/SHA512 Signature, key ID f9eadbac: OK"
_SIGNATURE_LINE = re.compile(r"Signature, key ID ([0-9a-fA-F]+): (\w+)")
_DIGEST_LINE = re.compile(r"digest: (\w+)")

KeyReader = Callable[[str], bytes | None]
"""Reads an absolute path (``/etc/pki/rpm-gpg/KEY``) from the tree being layered."""


@dataclass(frozen=True)
class GpgKey:
    url: str
    data: bytes


def load_keys(
    urls: Sequence[str], *, read_tree_file: KeyReader, fetch: Callable[[str, Path], Path]
) -> list[GpgKey]:
    """Resolve each ``gpgkey=`` URL: file:// inside the tree, http(s):// over the network."""
    keys = []
    for url in urls:
        parsed = urlparse(url)
        if parsed.scheme in ("", "file"):
            path = unquote(parsed.path)
            data = read_tree_file(path)
            if data is None:
                raise FetchError(
                    f"GPG key {url} not found in the deployment being layered",
                    hint="install the key into the base's /etc/pki/rpm-gpg, or fix gpgkey=",
                )
        else:
            with tempfile.TemporaryDirectory(prefix="strata-gpgkey-") as tmp:
                data = fetch(url, Path(tmp) / "key").read_bytes()
        keys.append(GpgKey(url, data))
    return keys


@dataclass(frozen=True)
class SignatureCheck:
    key_ids: tuple[tuple[str, str], ...]  # (key id, rpm's verdict: OK, NOKEY, BAD, ...)
    digests_ok: bool
    output: str
    trusted: tuple[str, ...] = ()  # ids of the keys given (what a refusal should name)


def _key_ids(dbpath: Path) -> tuple[str, ...]:
    """The short ids of the keys imported into the throwaway keyring at ``dbpath``."""
    listed = subprocess.run(
        ["rpm", "--dbpath", str(dbpath), "-q", "gpg-pubkey", "--qf", "%{VERSION}\\n"],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        return ()
    return tuple(sorted(line.strip().lower() for line in listed.stdout.split() if line.strip()))


def check_signature(rpm_path: Path, keys: Sequence[GpgKey]) -> SignatureCheck:
    """Run ``rpmkeys -Kv`` with exactly ``keys`` in a private keyring."""
    with tempfile.TemporaryDirectory(prefix="strata-keyring-") as tmp:
        dbpath = Path(tmp) / "db"
        dbpath.mkdir()
        for index, key in enumerate(keys):
            key_file = Path(tmp) / f"key{index}.asc"
            key_file.write_bytes(key.data)
            imported = subprocess.run(
                ["rpmkeys", "--dbpath", str(dbpath), "--import", str(key_file)],
                capture_output=True,
                text=True,
                check=False,
            )
            if imported.returncode != 0:
                raise FetchError(
                    f"GPG key {key.url} cannot be imported: {imported.stderr.strip()}",
                    hint="check that gpgkey= names an armored public key",
                )
        trusted = _key_ids(dbpath)
        result = subprocess.run(
            ["rpmkeys", "--dbpath", str(dbpath), "-Kv", str(rpm_path)],
            capture_output=True,
            text=True,
            check=False,
        )
    output = result.stdout + result.stderr
    sigs = tuple((m.group(1).lower(), m.group(2)) for m in _SIGNATURE_LINE.finditer(output))
    digests = [m.group(1) for m in _DIGEST_LINE.finditer(output)]
    digests_ok = bool(digests) and all(d == "OK" for d in digests)
    return SignatureCheck(sigs, digests_ok, output, trusted)


def verify_package(rpm_path: Path, keys: Sequence[GpgKey], *, what: str, repo: str) -> str:
    """Refuse unsigned, corrupted or foreign-signed packages; return the signing key id."""
    check = check_signature(rpm_path, keys)
    if not check.digests_ok:
        raise FetchError(
            f"Package {what} from repo '{repo}' is corrupted (digest mismatch)",
            hint="run 'strata cleanup --repomd' and retry; the mirror may be broken",
        )
    trusted = ", ".join(check.trusted) or "none"
    if not check.key_ids:
        raise FetchError(
            f"Package {what} from repo '{repo}' is not signed, but the repo has gpgcheck=1 "
            f"(trusted key ids: {trusted})",
            hint="sign the package, or set gpgcheck=0 for that repo if you trust it",
        )
    bad = [(kid, verdict) for kid, verdict in check.key_ids if verdict != "OK"]
    if bad:
        kid, verdict = bad[0]
        names = ", ".join(k.url for k in keys) or "none"
        if verdict == "NOKEY":
            reason = (
                f"is signed with key {kid}, which is not among the repo's keys ({names}; "
                f"trusted key ids: {trusted})"
            )
        else:
            reason = f"has a {verdict} signature by key {kid}"
        raise FetchError(
            f"Package {what} from repo '{repo}' {reason}",
            hint="check gpgkey= of the repo; the package may have been tampered with",
        )
    return check.key_ids[0][0]
