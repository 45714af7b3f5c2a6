"""Erasure by subject (the right to erasure): every logged prediction row, feedback fact and
review ticket of one subject is deleted, audited, and reported with counts.

A subject is named either by a prediction key (the ``X-Prediction-Key`` its caller sent:
every request logged with it, its feedback and tickets) or by the value of an input field
(``--field email --value ann@example.com``: every prediction row whose field holds it,
hashed or in clear, the feedback of those requests, and attributes of that name holding it).

``erase_subject``:

1. records a pending erasure for the prediction log (``predlog/erased.py``: the subject's
   HMACs, never the subject) so that records still in open segments are dropped when they
   are compacted;
2. under the compaction lock: seals dead writers' segments, compacts the sealed ones (the
   pending erasure applies) and rewrites every Parquet part holding the subject's rows;
3. deletes feedback and review tickets and records the erasure (``erasures``, keyed HMAC)
   with a ``privacy.erase`` audit entry carrying the counts, in one transaction.

``pending_rows`` counts rows still in live writers' open segments: they are dropped when
their segment is compacted (within ``log_compact_seconds``). ``dry_run`` only counts.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from shipyard.errors import InvalidRequest
from shipyard.governance.pii import PREFIX, digest, is_pseudonym, subject_digests, subject_forms
from shipyard.monitoring.predlog import erased
from shipyard.monitoring.predlog.compact import Compactor
from shipyard.monitoring.predlog.files import (
    OPEN_SUFFIX,
    SEALED_SUFFIX,
    SEGMENTS,
    SegmentVanished,
    list_parts,
    list_segments,
    log_dir,
    read_payloads,
)
from shipyard.monitoring.predlog.segments import recover
from shipyard.monitoring.predlog.table import payloads_table
from shipyard.registry.sql.store import RegistryStore

_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_FIELD = re.compile(r"^[^\x00-\x1f\x7f]{1,256}$")


@dataclass(frozen=True)
class Subject:
    """Who to erase: ``kind`` ``key`` (``value`` is the prediction key) or ``field``."""

    kind: str
    field: str | None
    value: Any

    @classmethod
    def parse(cls, *, key: Any = None, field: Any = None, value: Any = None) -> Subject:
        """A checked subject; ``InvalidRequest`` (naming what is wrong, never the value)."""
        if (key is None) == (field is None):
            raise InvalidRequest("name the subject by a prediction key, or by a field and a value (one of them)")
        if key is not None:
            if value is not None:
                raise InvalidRequest("a value goes with a field, not with a prediction key")
            if not isinstance(key, str) or not _KEY.fullmatch(key):
                raise InvalidRequest(
                    "a prediction key is 1 to 128 characters of letters, digits, '.', '_', ':' and '-'"
                )
            return cls("key", None, key)
        if not isinstance(field, str) or not _FIELD.fullmatch(field):
            raise InvalidRequest("a field is a name of 1 to 256 characters without control characters")
        if value is None:
            raise InvalidRequest(f"erasing by field {field!r} needs the value to erase")
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InvalidRequest(f"the value of field {field!r} is a string, a number or a boolean")
        if isinstance(value, str) and not 1 <= len(value) <= 4096:
            raise InvalidRequest(f"the value of field {field!r} is 1 to 4096 characters")
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequest(f"the value of field {field!r} is not a finite number")
        return cls("field", field, value)

    def hashes(self, key: bytes) -> frozenset[str]:
        if self.kind == "key":
            return frozenset({digest(self.value, key)})
        return frozenset(subject_digests(subject_forms(self.value), key))


@dataclass(frozen=True)
class ErasureReport:
    kind: str
    field: str | None
    subject_hash: str
    log_rows: int
    pending_rows: int
    feedback: int
    reviews: int
    dry_run: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "field": self.field,
            "subject_hash": self.subject_hash,
            "log_rows": self.log_rows,
            "pending_rows": self.pending_rows,
            "feedback": self.feedback,
            "reviews": self.reviews,
            "dry_run": self.dry_run,
        }


def erase_subject(
    home: Path,
    store: RegistryStore,
    subject: Subject,
    *,
    pii_key: bytes,
    actor: str,
    source: str = "local",
    reason: str | None = None,
    dry_run: bool = False,
) -> ErasureReport:
    """Erase ``subject`` everywhere (see the module); the counts."""
    hashes = subject.hashes(pii_key)
    subject_hash = digest(subject.value, pii_key)
    row_filter = erased.RowFilter([erased.Pending(subject.kind, subject.field, hashes, time.time())], pii_key)
    request_ids: set[str] = set()
    log_rows = 0
    root = log_dir(home)
    if root.exists():
        with erased.compaction_lock(home):
            if not dry_run:
                erased.add(home, erased.Pending(subject.kind, subject.field, hashes, time.time()), pii_key)
                recover(root / SEGMENTS)
                compactor = Compactor(home, pii_key=pii_key)
                result = compactor.run_held()
                log_rows += result.erased
                request_ids |= compactor.erased_ids
            for part in list_parts(home):
                table = pq.read_table(part.path)
                drop = row_filter.erased(table)
                if not pc.any(drop).as_py():
                    continue
                request_ids.update(str(r) for r in table.filter(drop).column("request_id").to_pylist())
                if dry_run:
                    log_rows += int(pc.sum(drop).as_py() or 0)
                else:
                    gone, _rows = erased.rewrite_part(part.path, drop, table=table)
                    log_rows += gone
            pending_rows, pending_ids = _in_segments(home, row_filter, sealed_too=dry_run)
            request_ids |= pending_ids
            if dry_run:
                log_rows += pending_rows
                pending_rows = 0

    def attribute_match(value: Any) -> bool:
        if is_pseudonym(value):
            return str(value)[len(PREFIX) :] in hashes
        return value is not None and digest(value, pii_key) in hashes

    counts = store.privacy.erase(
        subject_hash=subject_hash,
        kind=subject.kind,
        field=subject.field,
        keys=[subject.value] if subject.kind == "key" else [],
        request_ids=request_ids,
        attribute_match=attribute_match if subject.kind == "field" else None,
        log_rows=log_rows,
        dry_run=dry_run,
        actor=actor,
        source=source,
        reason=reason,
    )
    return ErasureReport(
        kind=subject.kind,
        field=subject.field,
        subject_hash=subject_hash,
        log_rows=log_rows,
        pending_rows=pending_rows if root.exists() else 0,
        feedback=counts["feedback"],
        reviews=counts["reviews"],
        dry_run=dry_run,
    )


def _in_segments(home: Path, row_filter: erased.RowFilter, *, sealed_too: bool) -> tuple[int, set[str]]:
    """Rows of the subject still in open segments (and sealed ones when ``sealed_too``)."""
    rows = 0
    ids: set[str] = set()
    suffixes = (OPEN_SUFFIX, SEALED_SUFFIX) if sealed_too else (OPEN_SUFFIX,)
    for path in list_segments(home):
        if path.suffix not in suffixes:
            continue
        try:
            payloads = [p for _offset, p in read_payloads(path)]
        except SegmentVanished:
            continue
        table = payloads_table(payloads)
        drop = row_filter.erased(table)
        found = int(pc.sum(drop).as_py() or 0)
        if found:
            rows += found
            ids.update(str(r) for r in table.filter(drop).column("request_id").to_pylist())
    return rows, ids
