"""Signing keys and signed RPMs for the engine's GPG tests (real gpg and rpmsign)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path


def can_sign() -> bool:
    return shutil.which("rpmsign") is not None and shutil.which("gpg") is not None


def make_key(home: Path, email: str) -> tuple[bytes, str]:
    """A fresh passphrase-less signing key in GNUPGHOME=home; (armored public key, key id)."""
    home.mkdir(mode=0o700, parents=True)
    params = home / "params"
    params.write_text(
        "%no-protection\nKey-Type: RSA\nKey-Length: 2048\n"
        f"Name-Real: Strata Test\nName-Email: {email}\nExpire-Date: 0\n%commit\n"
    )
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        ["gpg", "--batch", "--gen-key", str(params)], env=env, check=True, capture_output=True
    )
    public = subprocess.run(
        ["gpg", "--armor", "--export", email], env=env, check=True, capture_output=True
    ).stdout
    listing = subprocess.run(
        ["gpg", "--with-colons", "--list-keys", email],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    fingerprint = next(
        line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
    )
    return public, fingerprint[-8:].lower()


def sign(rpm_path: Path, home: Path, email: str) -> None:
    subprocess.run(
        [
            "rpmsign",
            "--define",
            f"__gpg {shutil.which('gpg')}",
            "--define",
            f"_gpg_name {email}",
            "--define",
            f"_gpg_path {home}",
            "--addsign",
            str(rpm_path),
        ],
        check=True,
        capture_output=True,
        stdin=subprocess.DEVNULL,
    )
