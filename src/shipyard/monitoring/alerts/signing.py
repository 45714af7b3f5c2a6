"""Signing webhook bodies: HMAC-SHA256 over the timestamp and the body.

    X-Shipyard-Timestamp: 1764480000
    X-Shipyard-Signature: sha256=<hex of HMAC-SHA256(secret, b"1764480000." + body)>

The timestamp is inside the signed material, so a receiver that refuses timestamps older
than a few minutes (``verify`` does, 300 s by default) cannot be fed a recorded delivery
again later; the ``X-Shipyard-Delivery`` id lets it drop a retry it has already handled.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Shipyard-Signature"
TIMESTAMP_HEADER = "X-Shipyard-Timestamp"
DELIVERY_HEADER = "X-Shipyard-Delivery"
EVENT_HEADER = "X-Shipyard-Event"
DEFAULT_TOLERANCE = 300.0


def signature(secret: bytes, timestamp: int, body: bytes) -> str:
    """The ``X-Shipyard-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_headers(secret: bytes, body: bytes, *, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: bytes,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """Whether ``body`` with these headers was signed with ``secret`` within ``tolerance``
    seconds of ``now`` (for receivers; header names are matched case-insensitively)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    stamp = lowered.get(TIMESTAMP_HEADER.lower(), "")
    given = lowered.get(SIGNATURE_HEADER.lower(), "")
    if not stamp.isdigit() or len(stamp) > 12:
        return False
    moment = time.time() if now is None else now
    if abs(moment - int(stamp)) > tolerance:
        return False
    return hmac.compare_digest(given, signature(secret, int(stamp), body))
