"""The key of the HMAC that pseudonymises PII (``governance/pii.py``).

``Settings.pii_hash_key`` when set (its UTF-8 bytes); else ``$SHIPYARD_HOME/pii.key``: 32
random bytes (hex text), made on first use with ``O_CREAT | O_EXCL`` and mode 0600 through
a temporary file renamed into place, so two processes starting together agree on one key and
nobody ever reads half a key. The key is never logged.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path

from shipyard.config import Settings
from shipyard.errors import StorageError

KEY_FILE = "pii.key"
_HEX_CHARS = 64


def pii_key(home: Path, configured: str | None = None) -> bytes:
    """The PII key: ``configured`` (a secret's value) or the one in ``home`` (made if absent)."""
    if configured:
        return configured.encode("utf-8")
    return load_or_create(home / KEY_FILE)


def existing_pii_key(home: Path, configured: str | None = None) -> bytes | None:
    """The key if there is one already (``configured`` or the file); never makes one."""
    if configured:
        return configured.encode("utf-8")
    path = home / KEY_FILE
    if not path.exists():
        return None
    return _read(path)


def load_or_create(path: Path) -> bytes:
    if path.exists():
        return _read(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_hex(_HEX_CHARS // 2).encode("ascii"))
            handle.flush()
            os.fsync(handle.fileno())
        # link() fails if another process made the key meanwhile: theirs wins.
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return _read(path)


def _read(path: Path) -> bytes:
    for _ in range(50):
        try:
            text = path.read_bytes().strip()
        except OSError as exc:
            raise StorageError(f"cannot read the PII key {path.name}: {exc.strerror}") from exc
        if len(text) >= _HEX_CHARS:
            return text
        time.sleep(0.01)
    raise StorageError(f"the PII key {path.name} is too short", hint="delete it to make a new one (old hashes unlink)")


def settings_pii_key(settings: Settings) -> bytes:
    """The PII key ``settings`` name (made in their home on first use)."""
    secret = settings.pii_hash_key
    return pii_key(settings.home, secret.get_secret_value() if secret is not None else None)
