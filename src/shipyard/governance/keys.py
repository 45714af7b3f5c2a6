"""API keys: the token format, parsing it strictly, and what is stored of a key.

A key is ``shp_<id>_<secret>``: ``id`` is 12 lowercase hex characters (public, it names
the key in logs, the audit trail and ``keys list``), ``secret`` is ``secrets.token_urlsafe(32)``
(256 random bits). Only ``sha256(secret)`` is stored. A slow password hash (bcrypt, argon2)
exists to resist guessing low-entropy secrets; a 256-bit random secret cannot be guessed, so
one fast hash is as strong and keeps the server's hot path at one sha256 per request.

Nothing here ever puts a token, or any part of its secret, into a message.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shipyard.errors import InvalidRequest, Unauthenticated
from shipyard.governance.scopes import ANY_MODEL, ROLES, Grant

PREFIX = "shp"
ID_LENGTH = 12
SECRET_BYTES = 32
_ID = re.compile(r"^[0-9a-f]{12}$")
# token_urlsafe(32) is 43 characters of the URL-safe base64 alphabet.
_SECRET = re.compile(r"^[A-Za-z0-9_-]{43}$")
_PATTERN_CHARS = re.compile(r"^[A-Za-z0-9_.*?\[\]!-]{1,128}$")
_DURATION = re.compile(r"^(\d{1,6})([dhm])$")
MAX_NAME = 128


@dataclass(frozen=True)
class ParsedKey:
    id: str
    secret: str

    def __repr__(self) -> str:  # never show the secret, even in a traceback
        return f"ParsedKey(id={self.id!r}, secret=***)"


@dataclass(frozen=True)
class KeyRecord:
    """What the registry keeps of a key: never the secret, only its sha256."""

    id: str
    name: str
    grants: tuple[Grant, ...]
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    secret_hash: str

    def state(self, now: datetime) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def to_dict(self, now: datetime) -> dict[str, Any]:
        """The public view (``keys list``): everything but the hash."""
        return {
            "id": self.id,
            "name": self.name,
            "grants": [g.to_dict() for g in self.grants],
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
            "state": self.state(now),
        }


def new_key() -> tuple[str, str, str]:
    """A fresh ``(id, secret, token)``."""
    key_id = secrets.token_hex(ID_LENGTH // 2)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return key_id, secret, f"{PREFIX}_{key_id}_{secret}"


def hash_secret(secret: str) -> str:
    """The stored form of a secret (see the module docstring for why sha256 suffices)."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def parse_token(token: str) -> ParsedKey:
    """Split a token into id and secret; ``Unauthenticated`` (without echoing it) when malformed."""
    # The secret may itself contain "_", so split off the prefix and id only.
    prefix, sep1, rest = token.partition("_")
    key_id, sep2, secret = rest.partition("_")
    if prefix != PREFIX or not sep1 or not sep2:
        raise Unauthenticated("malformed API key: expected shp_<id>_<secret>")
    if not _ID.fullmatch(key_id) or not _SECRET.fullmatch(secret):
        raise Unauthenticated("malformed API key: wrong length or characters (truncated?)")
    return ParsedKey(key_id, secret)


def secret_matches(record: KeyRecord, secret: str) -> bool:
    """Constant-time comparison of ``secret`` with the stored hash."""
    return hmac.compare_digest(hash_secret(secret), record.secret_hash)


def check_usable(record: KeyRecord, secret: str, now: datetime) -> None:
    """Raise ``Unauthenticated`` saying why the key cannot be used (never the key itself)."""
    if not secret_matches(record, secret):
        raise Unauthenticated(f"unknown key {record.id}: the secret does not match")
    state = record.state(now)
    if state != "active":
        raise Unauthenticated(f"API key {record.id} is {state}", hint="ask an admin for a new key")


def make_grants(roles: Iterable[str], models: Iterable[str] = (ANY_MODEL,)) -> tuple[Grant, ...]:
    """One grant per role over ``models``; ``InvalidRequest`` for an unknown role or bad pattern."""
    patterns = tuple(check_pattern(p) for p in models)
    if not patterns:
        raise InvalidRequest("a key needs at least one model pattern", hint="use --models '*' for every model")
    grants = []
    for role in roles:
        if role not in ROLES:
            raise InvalidRequest(f"unknown role {role!r}", hint=f"roles: {', '.join(ROLES)}")
        grants.append(Grant(role, patterns))
    if not grants:
        raise InvalidRequest("a key needs at least one role", hint=f"--role ROLE, one of {', '.join(ROLES)}")
    return tuple(dict.fromkeys(grants))


def check_pattern(pattern: str) -> str:
    """A model-name glob: letters, digits, ``_.-`` and glob characters only."""
    if not _PATTERN_CHARS.fullmatch(pattern):
        raise InvalidRequest(
            f"invalid model pattern {pattern[:40]!r}",
            hint="use model names or globs like 'iris' or 'fraud-*' (no spaces or control characters)",
        )
    return pattern


def check_key_name(name: str) -> str:
    if not name or len(name) > MAX_NAME or not name.isprintable() or name != name.strip():
        raise InvalidRequest(
            "a key name must be 1-128 printable characters without surrounding spaces",
            hint="e.g. ci-deployer",
        )
    return name


def parse_duration(text: str) -> timedelta | None:
    """``30d``, ``12h``, ``90m`` → a timedelta; ``never`` → None."""
    if text == "never":
        return None
    match = _DURATION.fullmatch(text)
    if not match or int(match.group(1)) == 0:
        raise InvalidRequest(f"invalid duration {text[:20]!r}", hint="use e.g. 30d, 12h, 90m or never")
    amount, unit = int(match.group(1)), match.group(2)
    return {"d": timedelta(days=amount), "h": timedelta(hours=amount), "m": timedelta(minutes=amount)}[unit]


def grants_to_json(grants: tuple[Grant, ...]) -> list[dict[str, object]]:
    return [g.to_dict() for g in grants]


def grants_from_json(data: Iterable[Mapping[str, Any]]) -> tuple[Grant, ...]:
    return tuple(Grant(str(g["role"]), tuple(str(p) for p in g["models"])) for g in data)
