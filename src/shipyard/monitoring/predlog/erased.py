"""Erasures the prediction log still has to honour, and rewriting Parquet parts without rows.

An erasure (``monitoring/erasure.py``) removes a subject's rows from the compacted Parquet
parts at once; records still in segments (open ones belong to a live writer and cannot be
rewritten) are dropped when they are compacted. For that the erasure leaves an entry in
``predlog/erasures.json`` (0600): the kind (``key``: the caller's ``X-Prediction-Key``;
``field``: a value of an input field), the field, the keyed HMACs of the subject (never
the subject) and the time. ``Compactor`` drops every row an entry matches whose request
started before the entry's time. Entries are kept ``KEEP_SECONDS``.

A row matches a ``key`` entry when the HMAC of its ``key`` is one of the entry's; a
``field`` entry when its ``in.<field>`` is a pseudonym whose HMAC is one of the entry's, or
a value (a field kept in clear) whose HMAC is.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shipyard.errors import StorageError
from shipyard.fs.locks import held_exclusively
from shipyard.governance.pii import PREFIX, digest, is_pseudonym
from shipyard.monitoring.predlog.files import log_dir
from shipyard.monitoring.predlog.table import INPUT_PREFIX

FILE = "erasures.json"
KEEP_SECONDS = 30 * 86400.0
COMPACT_LOCK = "compact.lock"
"""The compactor's lock (``compact.py`` ``LOCK_NAME``)."""
LOCK_WAIT_SECONDS = 60.0
_CHECK = "shipyard-pii-key-check"


@dataclass(frozen=True)
class Pending:
    kind: str
    """``key`` or ``field``."""
    field: str | None
    hashes: frozenset[str]
    at: float
    """Unix time of the erasure: rows of requests started before it are dropped."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "field": self.field, "hashes": sorted(self.hashes), "at": self.at}


def key_check(key: bytes) -> str:
    """What tells a compactor it holds the key the entries were hashed with."""
    return digest(_CHECK, key)


def load(home: Path) -> tuple[str | None, list[Pending]]:
    """The key check and the entries of ``home``'s file (none: ``(None, [])``)."""
    path = log_dir(home) / FILE
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None, []
    entries = [
        Pending(str(e["kind"]), e.get("field"), frozenset(str(h) for h in e["hashes"]), float(e["at"]))
        for e in data.get("entries", [])
    ]
    check = data.get("check")
    return (str(check) if check is not None else None), entries


def add(home: Path, entry: Pending, key: bytes) -> None:
    """Append ``entry`` (dropping entries older than ``KEEP_SECONDS``), atomically."""
    _check, entries = load(home)
    now = time.time()
    kept = [e for e in entries if now - e.at < KEEP_SECONDS]
    kept.append(entry)
    directory = log_dir(home)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FILE
    tmp = directory / f".{FILE}.{secrets.token_hex(4)}.tmp"
    body = orjson.dumps({"check": key_check(key), "entries": [e.to_dict() for e in kept]})
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


class RowFilter:
    """Which rows of a log table ``entries`` erase (``key`` is the PII key they were hashed with)."""

    def __init__(self, entries: Iterable[Pending], key: bytes) -> None:
        self.entries = tuple(entries)
        self.key = key

    def __bool__(self) -> bool:
        return bool(self.entries)

    def erased(self, table: pa.Table) -> pa.Array:
        """A boolean mask: True where the row is erased."""
        mask = pa.array([False] * table.num_rows, type=pa.bool_())
        if not table.num_rows:
            return mask
        times = pc.fill_null(table.column("time"), 0.0) if "time" in table.column_names else None
        for entry in self.entries:
            column = "key" if entry.kind == "key" else INPUT_PREFIX + str(entry.field)
            if column not in table.column_names:
                continue
            hit = self._matches(table.column(column), entry.hashes)
            if times is not None:
                hit = pc.and_(hit, pc.less_equal(times, entry.at))
            mask = pc.or_(mask, pc.fill_null(hit, False))
        return mask

    def _matches(self, column: pa.ChunkedArray, hashes: frozenset[str]) -> pa.ChunkedArray:
        values = column.to_pylist()
        hit: dict[Any, bool] = {}
        flags: list[bool] = []
        for value in values:
            marker = _hashable(value)
            found = hit.get(marker)
            if found is None:
                found = hit[marker] = self._is_subject(value, hashes)
            flags.append(found)
        return pa.chunked_array([pa.array(flags, type=pa.bool_())])

    def _is_subject(self, value: Any, hashes: frozenset[str]) -> bool:
        if value is None:
            return False
        if is_pseudonym(value):
            return str(value)[len(PREFIX) :] in hashes
        return digest(value, self.key) in hashes


def _hashable(value: Any) -> Any:
    if isinstance(value, list | dict):
        return (type(value).__name__, orjson.dumps(value))
    return (type(value).__name__, value)


def rewrite_part(path: Path, drop: pa.Array | None = None, *, table: pa.Table | None = None) -> tuple[int, pa.Table]:
    """Rewrite the Parquet part ``path`` without the rows where ``drop`` is True (a temporary
    file, fsynced, renamed over it; the part is deleted when no row is left). Returns the rows
    dropped and the dropped rows."""
    whole = table if table is not None else pq.read_table(path)
    if drop is None:
        drop = pa.array([True] * whole.num_rows, type=pa.bool_())
    gone = whole.filter(drop)
    if not gone.num_rows:
        return 0, gone
    left = whole.filter(pc.invert(drop))
    if not left.num_rows:
        path.unlink(missing_ok=True)
    else:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            pq.write_table(left, tmp, compression="zstd")
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return int(gone.num_rows), gone


@contextlib.contextmanager
def compaction_lock(home: Path, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the compaction lock (``compact.lock``), waiting up to ``wait_seconds`` for a
    running compaction; ``StorageError`` after that."""
    deadline = time.monotonic() + wait_seconds
    while True:
        with held_exclusively(log_dir(home) / COMPACT_LOCK) as held:
            if held:
                yield
                return
        if time.monotonic() > deadline:
            raise StorageError("the prediction log is being compacted; try again", hint="retry in a minute")
        time.sleep(0.1)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
