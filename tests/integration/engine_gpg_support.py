"""Signing keys and signed RPMs for the engine's GPG tests (real gpg and rpmsign)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

Keys = dict[str, tuple[Path, bytes, str]]  # label -> (GNUPGHOME, armored public key, key id)


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


def make_keys(root: Path, labels: Sequence[str]) -> Keys:
    """One key per label, in GNUPGHOME ``root/label``, for ``label@example.com``."""
    out = {}
    for label in labels:
        public, kid = make_key(root / label, f"{label}@example.com")
        out[label] = (root / label, public, kid)
    return out


def private_copy(rpm_path: Path, dest_dir: Path) -> Path:
    """A copy of a built RPM to sign or damage: the shared fixture cache (which ``out_dir``
    may hardlink) must stay pristine."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / rpm_path.name
    shutil.copyfile(rpm_path, dest)
    return dest


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
