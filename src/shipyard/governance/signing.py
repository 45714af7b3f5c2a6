"""Signing artifacts with ed25519: this home's key pair, signatures, and which keys are trusted.

The private key lives at ``$SHIPYARD_HOME/signing.key`` (PEM, PKCS#8, mode 0600), created on
first use with ``O_CREAT | O_EXCL`` so that two processes starting together cannot both
write one: the loser reads the winner's. A key is named by its id, the first 16 hex
characters of the sha256 of its raw public bytes.

A signature is trusted only under a key the verifier already trusts (this home's, or one
listed in ``signing_public_keys``); the public key stored beside a signature is a label for
humans, never a reason to believe it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shipyard.errors import ConfigError

KEY_FILE = "signing.key"


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> str:
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode("ascii")


@dataclass(frozen=True)
class Signature:
    """A signature over some payload, and the key it claims to be made with."""

    key_id: str
    public_key: str
    """PEM of the signing key (informational: verification uses the trusted keys only)."""
    signature: str
    """base64 of the 64 signature bytes."""


class Signer:
    """This home's signing key."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self.public = private.public_key()
        self.key_id = key_id(self.public)

    def __repr__(self) -> str:
        return f"Signer(key_id={self.key_id!r})"

    @classmethod
    def load_or_create(cls, home: Path) -> Signer:
        path = home / KEY_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return cls(_read_private(path))
        private = Ed25519PrivateKey.generate()
        pem = private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return cls(private)

    def public_pem(self) -> str:
        return public_pem(self.public)

    def sign(self, payload: bytes) -> Signature:
        raw = self._private.sign(payload)
        return Signature(self.key_id, self.public_pem(), base64.b64encode(raw).decode("ascii"))


def _read_private(path: Path) -> Ed25519PrivateKey:
    # A racing creator may not have written the file yet: wait briefly for its content.
    for _ in range(50):
        data = path.read_bytes()
        if data:
            break
        time.sleep(0.02)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except ValueError as exc:
        raise ConfigError(f"the signing key {KEY_FILE} in SHIPYARD_HOME is not a PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigError(f"the signing key {KEY_FILE} in SHIPYARD_HOME is not an ed25519 key")
    return key


def load_public_keys(paths: Iterable[str]) -> dict[str, Ed25519PublicKey]:
    """Trusted public keys from PEM files, by key id; ``ConfigError`` for an unreadable one."""
    keys: dict[str, Ed25519PublicKey] = {}
    for text in paths:
        path = Path(text.strip()).expanduser()
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read a signing public key from {path.name}",
                hint="signing_public_keys lists PEM files of ed25519 public keys",
            ) from exc
        if not isinstance(key, Ed25519PublicKey):
            raise ConfigError(f"{path.name} is not an ed25519 public key")
        keys[key_id(key)] = key
    return keys


def verify(payload: bytes, signature: Signature, trusted: Mapping[str, Ed25519PublicKey]) -> str | None:
    """None when ``signature`` verifies under the trusted key it names, else why not."""
    public = trusted.get(signature.key_id)
    if public is None:
        return f"signed by key {signature.key_id}, which is not trusted here"
    try:
        public.verify(base64.b64decode(signature.signature, validate=True), payload)
    except (InvalidSignature, ValueError):
        return f"the signature does not match (key {signature.key_id}): the artifact or its record changed"
    return None
