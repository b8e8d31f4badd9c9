"""ed25519 signatures on commits and summaries, stored as ``ostree sign`` stores them.

Keys are libostree's ed25519 key files: a secret key file holds base64 of the 64-byte
key (seed then public key), a public key file one base64 public key per line. A commit's
signatures are *detached metadata* beside the commit (``objects/XX/REST.commitmeta``, JSON
``{"strata.sign.ed25519": [base64 signature, ...]}``) over the commit object's exact bytes,
so signing never changes a commit id; a summary's sit in ``summary.sig`` beside it.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from core import atomic
from core.errors import StoreError

SIGN_KEY = "strata.sign.ed25519"
COMMITMETA = ".commitmeta"
SECRET_NAME = "strata-sign.key"
PUBLIC_NAME = "strata-sign.pub"
MAX_SIGNATURES = 64


def generate_key(directory: Path) -> tuple[Path, Path]:
    """A new key pair: ``DIR/strata-sign.key`` (secret, mode 0600) and ``DIR/strata-sign.pub``."""
    directory.mkdir(parents=True, exist_ok=True)
    secret_path, public_path = directory / SECRET_NAME, directory / PUBLIC_NAME
    if secret_path.exists() or public_path.exists():
        raise StoreError(
            f"Refusing to overwrite the key pair in {directory}",
            hint="choose another directory, or remove the old keys first",
        )
    key = Ed25519PrivateKey.generate()
    seed = key.private_bytes_raw()
    public = key.public_key().public_bytes_raw()
    atomic.write_bytes(secret_path, base64.b64encode(seed + public) + b"\n", mode=0o600)
    atomic.write_bytes(public_path, base64.b64encode(public) + b"\n", mode=0o644)
    return secret_path, public_path


def load_secret(path: Path) -> Ed25519PrivateKey:
    try:
        raw = base64.b64decode(path.read_bytes().strip(), validate=True)
    except OSError as err:
        raise StoreError(f"Cannot read signing key {path}: {err.strerror}") from err
    except (binascii.Error, ValueError) as err:
        raise StoreError(
            f"{path} is not an ed25519 secret key (base64 of 64 bytes expected)",
            hint="generate one with `strata sign --generate-key DIR`",
        ) from err
    if len(raw) not in (32, 64):
        raise StoreError(
            f"{path} is not an ed25519 secret key ({len(raw)} bytes, 64 expected)",
            hint="generate one with `strata sign --generate-key DIR`",
        )
    key = Ed25519PrivateKey.from_private_bytes(raw[:32])
    if len(raw) == 64 and key.public_key().public_bytes_raw() != raw[32:]:
        raise StoreError(f"{path}: the public half does not belong to the secret key")
    return key


def public_key_text(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes_raw()).decode()


def load_public_keys(path: Path) -> tuple[str, ...]:
    """The base64 public keys of a key file, one per line, each checked."""
    try:
        lines = path.read_text().split()
    except (OSError, UnicodeDecodeError) as err:
        raise StoreError(f"Cannot read verification key file {path}: {err}") from err
    keys = tuple(line for line in lines if line)
    if not keys:
        raise StoreError(f"{path} holds no key", hint="pass the strata-sign.pub of the signer")
    for key in keys:
        _public(key, str(path))
    return keys


def _public(text: str, where: str) -> Ed25519PublicKey:
    try:
        raw = base64.b64decode(text, validate=True)
        if len(raw) != 32:
            raise ValueError(f"{len(raw)} bytes, 32 expected")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as err:
        raise StoreError(
            f"{where}: {text[:20]!r} is not an ed25519 public key ({err})",
            hint="use the strata-sign.pub written by `strata sign --generate-key`",
        ) from err


def sign(key: Ed25519PrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data)).decode()


def encode_signatures(signatures: Iterable[str]) -> bytes:
    unique = list(dict.fromkeys(signatures))
    return json.dumps({SIGN_KEY: unique}, sort_keys=True).encode() + b"\n"


def decode_signatures(data: bytes, what: str) -> list[str]:
    """The signatures of a commitmeta or summary.sig; StoreError if it is malformed."""
    try:
        loaded = json.loads(data)
        found = loaded.get(SIGN_KEY, []) if isinstance(loaded, dict) else None
        if not isinstance(found, list) or not all(isinstance(s, str) for s in found):
            raise ValueError("no signature list")
    except (ValueError, UnicodeDecodeError) as err:
        raise StoreError(f"Malformed signatures in {what}: {err}") from err
    return found[:MAX_SIGNATURES]


def verify(keys: Sequence[str], data: bytes, signatures: Sequence[str], what: str) -> str:
    """The key that made one of ``signatures`` over ``data``; StoreError naming ``what``
    when none of the trusted ``keys`` did."""
    if not signatures:
        raise StoreError(
            f"{what} is not signed, and the remote requires ed25519 signatures",
            hint="sign it on the server (`strata sign`, `strata summary --update --sign-key`), "
            "or add the remote with --no-sign-verify if it is trusted",
        )
    for key in keys:
        public = _public(key, "verification key")
        for signature in signatures:
            try:
                public.verify(base64.b64decode(signature, validate=True), data)
            except (InvalidSignature, binascii.Error, ValueError):
                continue
            return key
    raise StoreError(
        f"{what}: no valid signature by a trusted key ({len(signatures)} signature(s) checked)",
        hint="the content was changed after signing, or signed by another key: check the "
        "remote's verification key (`strata remote add --sign-verify-key FILE`)",
    )


def commitmeta_path(objects_root: Path, commit: str) -> Path:
    return objects_root / commit[:2] / (commit[2:] + COMMITMETA)


def commit_signatures(objects_root: Path, commit: str) -> list[str]:
    path = commitmeta_path(objects_root, commit)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    return decode_signatures(data, str(path))


def add_commit_signature(objects_root: Path, commit: str, signature: str) -> None:
    existing = commit_signatures(objects_root, commit)
    path = commitmeta_path(objects_root, commit)
    os.makedirs(path.parent, exist_ok=True)
    atomic.write_bytes(path, encode_signatures([*existing, signature]))
