"""The audit trail's hash chain: entries, their hashes, and finding the first bad one.

Each entry's ``hash`` is the sha256 of a canonical JSON of its fields and of the previous
entry's hash (``GENESIS`` for the first), so editing, deleting, inserting or reordering an
entry breaks the chain at that point. With ``audit_hmac_key`` set, each entry also carries
``mac`` = HMAC-SHA256(key, hash): someone with write access to the database but not the
key cannot forge a chain that verifies, even by rewriting every hash after an edit.

What a chain alone cannot show: entries removed from the *end* (the shorter chain is still
a valid chain). ``verify(..., expect_head=(seq, hash))`` checks a checkpoint the operator
kept (``shipyard audit verify`` prints one): the entry ``seq`` must still be there with that hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64
OUTCOMES = ("ok", "denied", "failed")
LOOKAHEAD = 8
"""How far around its place a renumbered entry is looked for (a heuristic for naming the damage)."""


@dataclass(frozen=True)
class AuditEvent:
    """Something that happened: who (``actor``: ``key:<id>`` or ``user:<name>``), from where
    (``source``: client address or ``local``), what (``action`` on ``resource``), how it ended,
    and why when given."""

    actor: str
    source: str
    action: str
    resource: str
    outcome: str = "ok"
    reason: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"audit outcome must be one of {OUTCOMES}, got {self.outcome!r}")


@dataclass(frozen=True)
class AuditEntry:
    """An event as stored: its place in the chain and the hashes that tie it there."""

    seq: int
    at: datetime
    actor: str
    source: str
    action: str
    resource: str
    outcome: str
    reason: str | None
    details: Mapping[str, Any]
    prev_hash: str
    hash: str
    mac: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": iso(self.at),
            "actor": self.actor,
            "source": self.source,
            "action": self.action,
            "resource": self.resource,
            "outcome": self.outcome,
            "reason": self.reason,
            "details": dict(self.details),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "mac": self.mac,
        }


def iso(moment: datetime) -> str:
    """The one text form of a time in the chain: UTC, microseconds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical(value: Any) -> bytes:
    """Canonical JSON: sorted keys, no spaces, UTF-8 (the same bytes for the same value, always)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def entry_hash(seq: int, at: datetime, event: AuditEvent, prev_hash: str) -> str:
    body = [
        seq,
        iso(at),
        event.actor,
        event.source,
        event.action,
        event.resource,
        event.outcome,
        event.reason,
        dict(event.details),
        prev_hash,
    ]
    return hashlib.sha256(canonical(body)).hexdigest()


def entry_mac(key: bytes, digest: str) -> str:
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


def seal(seq: int, at: datetime, event: AuditEvent, prev_hash: str, hmac_key: bytes | None = None) -> AuditEntry:
    """The entry ``event`` becomes at position ``seq`` after an entry whose hash is ``prev_hash``."""
    digest = entry_hash(seq, at, event, prev_hash)
    return AuditEntry(
        seq=seq,
        at=at,
        actor=event.actor,
        source=event.source,
        action=event.action,
        resource=event.resource,
        outcome=event.outcome,
        reason=event.reason,
        details=dict(event.details),
        prev_hash=prev_hash,
        hash=digest,
        mac=entry_mac(hmac_key, digest) if hmac_key else None,
    )


def event_of(entry: AuditEntry) -> AuditEvent:
    return AuditEvent(
        entry.actor, entry.source, entry.action, entry.resource, entry.outcome, entry.reason, entry.details
    )


@dataclass(frozen=True)
class ChainReport:
    """The outcome of ``verify``: intact (with the head to keep as a checkpoint), or the first bad entry."""

    checked: int
    head_seq: int | None
    head_hash: str | None
    bad_seq: int | None = None
    problem: str | None = None
    """``edited``, ``deleted``, ``inserted``, ``reordered``, ``mac`` or ``truncated``."""
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def checkpoint(self) -> str | None:
        """``SEQ:HASH`` of the head, for ``audit verify --expect-head``."""
        return f"{self.head_seq}:{self.head_hash}" if self.head_seq is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "head": self.checkpoint,
            "bad_seq": self.bad_seq,
            "problem": self.problem,
            "reason": self.reason,
        }


def parse_checkpoint(text: str) -> tuple[int, str]:
    """``SEQ:HASH`` → ``(seq, hash)``; ``ValueError`` when malformed."""
    seq, sep, digest = text.strip().partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("a checkpoint is SEQ:HASH, as printed by `shipyard audit verify`")
    return int(seq), digest


def verify(
    entries: Iterable[AuditEntry],
    *,
    hmac_key: bytes | None = None,
    expect_head: tuple[int, str] | None = None,
) -> ChainReport:
    """Walk ``entries`` (in seq order) and name the first one that breaks the chain."""
    stream = _Lookahead(entries)
    seen: dict[str, int] = {}  # hash → seq, to tell a moved entry from an edited one
    prev: AuditEntry | None = None
    checked = 0
    checkpoint_seen = False
    for entry in stream:
        checked += 1
        problem = _check(entry, prev, seen, stream, hmac_key)
        if problem is not None:
            kind, bad_seq, reason = problem
            return ChainReport(checked, _seq(prev), _hash(prev), bad_seq, kind, reason)
        if expect_head is not None and entry.seq == expect_head[0]:
            checkpoint_seen = True
            if entry.hash != expect_head[1]:
                return ChainReport(
                    checked, _seq(prev), _hash(prev), entry.seq, "edited",
                    f"entry {entry.seq} no longer has the checkpoint's hash: the chain was rewritten from here",
                )  # fmt: skip
        seen[entry.hash] = entry.seq
        prev = entry
    if expect_head is not None and not checkpoint_seen:
        return ChainReport(
            checked, _seq(prev), _hash(prev), expect_head[0], "truncated",
            f"entry {expect_head[0]} of the checkpoint is gone: the trail was cut after entry {_seq(prev) or 0}",
        )  # fmt: skip
    return ChainReport(checked, _seq(prev), _hash(prev))


class _Lookahead:
    """An iterator that can peek a few entries ahead (to tell a swap from a deletion)."""

    def __init__(self, entries: Iterable[AuditEntry]) -> None:
        self._it = iter(entries)
        self._buffer: deque[AuditEntry] = deque()

    def __iter__(self) -> _Lookahead:
        return self

    def __next__(self) -> AuditEntry:
        return self._buffer.popleft() if self._buffer else next(self._it)

    def peek(self, n: int) -> list[AuditEntry]:
        while len(self._buffer) < n:
            try:
                self._buffer.append(next(self._it))
            except StopIteration:
                break
        return list(self._buffer)[:n]


def _check(
    entry: AuditEntry, prev: AuditEntry | None, seen: dict[str, int], stream: _Lookahead, hmac_key: bytes | None
) -> tuple[str, int, str] | None:
    expected_seq = 1 if prev is None else prev.seq + 1
    expected_prev = GENESIS if prev is None else prev.hash
    if entry_hash(entry.seq, entry.at, event_of(entry), entry.prev_hash) != entry.hash:
        moved = _moved_from(entry, seen)
        if moved is None:
            return "edited", entry.seq, f"entry {entry.seq} does not match its hash: its content was changed"
        if moved < entry.seq:
            return "inserted", moved, f"entry {entry.seq} was written as entry {moved}: entries were inserted before it"
        if any(later.hash == entry.prev_hash for later in stream.peek(LOOKAHEAD)):
            return "reordered", entry.seq, f"entry {entry.seq} was written as entry {moved}: entries were reordered"
        return "deleted", entry.seq, (
            f"entry {entry.seq} was written as entry {moved}: entries before it were deleted and the rest renumbered"
        )  # fmt: skip
    if entry.seq > expected_seq:
        return "deleted", expected_seq, f"entries {expected_seq} to {entry.seq - 1} are missing"
    if entry.seq < expected_seq:
        return "reordered", entry.seq, f"entry {entry.seq} comes after entry {expected_seq - 1}"
    if entry.prev_hash != expected_prev:
        if entry.prev_hash in seen or any(later.hash == entry.prev_hash for later in stream.peek(LOOKAHEAD)):
            return "reordered", entry.seq, f"entry {entry.seq} does not follow the entry it was written after"
        where = "the genesis" if prev is None else f"entry {prev.seq}"
        return "inserted", entry.seq, (
            f"entry {entry.seq} does not link to {where}: an entry was inserted here or the one before it deleted"
        )  # fmt: skip
    if hmac_key is not None and (
        entry.mac is None or not hmac.compare_digest(entry.mac, entry_mac(hmac_key, entry.hash))
    ):
        return "mac", entry.seq, f"entry {entry.seq} has a missing or wrong HMAC: it was not written with the audit key"
    return None


def _moved_from(entry: AuditEntry, seen: dict[str, int]) -> int | None:
    """The seq ``entry`` was sealed at, when it is intact but renumbered (its hash checks out there)."""
    candidates = {entry.seq + d for d in range(-LOOKAHEAD, LOOKAHEAD + 1) if entry.seq + d > 0}
    if entry.prev_hash == GENESIS:
        candidates.add(1)
    elif entry.prev_hash in seen:
        candidates.add(seen[entry.prev_hash] + 1)
    for seq in sorted(candidates):
        if seq != entry.seq and entry_hash(seq, entry.at, event_of(entry), entry.prev_hash) == entry.hash:
            return seq
    return None


def _seq(entry: AuditEntry | None) -> int | None:
    return entry.seq if entry is not None else None


def _hash(entry: AuditEntry | None) -> str | None:
    return entry.hash if entry is not None else None
