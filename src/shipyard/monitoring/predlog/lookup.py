"""Finding one logged request by its request id, or by its caller's own key, without
re-reading the log per call.

``LogLookup`` keeps an incremental index:

- of the segments (open, sealed) and spill files: per file, how far it has been scanned,
  and for every record there its request id, (caller, key) and time → (file, offset). A
  refresh scans only what was appended since (an open segment up to its valid length); a
  segment renamed from ``.open`` to ``.seg`` keeps its entries; a deleted (compacted) one
  drops them;
- of the compacted Parquet parts: per part, the request-id range of each row group (parts
  are sorted by request id within a row group, ``compact.py``), read once from the footer;
  a lookup reads only the row groups whose range admits the id. Keys are indexed per part
  once (only the rows that have one).

``lookup_for(home)`` is the process's shared instance for a home (the HTTP routes use it).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shipyard.monitoring.predlog.files import (
    Part,
    list_parts,
    list_segments,
    list_spill,
    read_frame,
    read_payloads_from,
)
from shipyard.monitoring.predlog.table import INPUT_PREFIX, OUTPUT_PREFIX, REQUEST_FIELDS

logger = logging.getLogger(__name__)

ROW_GROUP_CACHE = 8
PARTS_TTL = 10.0
"""Seconds a listing of the Parquet parts is trusted while the segments do not change."""
"""Decoded Parquet row groups kept for the next lookups."""


@dataclass
class _FileIndex:
    path: Path
    scanned: int = 0
    ids: list[str] = field(default_factory=list)
    keys: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class _PartIndex:
    part: Part
    groups: list[tuple[int, str, str]]
    """(row group, min request id, max request id)"""
    keys: dict[tuple[str, str], tuple[float, str]]
    """(caller, key) → (time, request id) of the latest keyed request in the part"""
    stamp: tuple[int, int] = (0, 0)
    """The file's (mtime_ns, size) when indexed: a part rewritten by an erasure or retention
    (``erased.rewrite_part``) is indexed again."""


class LogLookup:
    """Finds logged requests of ``home``'s prediction log (thread-safe)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._lock = threading.Lock()
        self._files: dict[str, _FileIndex] = {}
        self._by_id: dict[str, tuple[float, str, int]] = {}
        self._by_key: dict[tuple[str, str], tuple[float, str, int]] = {}
        self._parts: dict[Path, _PartIndex] = {}
        self._groups: dict[tuple[Path, int], tuple[pa.Table, dict[str, list[int]]]] = {}
        self._stems: set[str] = set()
        self._parts_listed = -math.inf
        self.scanned_bytes = 0
        """Bytes of log files scanned so far (each byte once: the index is incremental)."""

    def find(self, request_id: str) -> dict[str, Any] | None:
        """The latest logged record with ``request_id`` (a decoded payload), or None."""
        with self._lock:
            for full in (False, True):
                self._refresh(full=full)
                hit = self._by_id.get(request_id)
                if hit is not None:
                    record = self._read(hit[1], hit[2])
                    if record is not None:
                        return record
                found = self._find_in_parts(request_id)
                if found is not None:
                    return found
            return None

    def find_by_key(self, caller: str, key: str) -> dict[str, Any] | None:
        """The latest record ``caller`` sent with ``key`` (header ``X-Prediction-Key``)."""
        with self._lock:
            for full in (False, True):
                self._refresh(full=full)
                best: tuple[float, dict[str, Any]] | None = None
                hit = self._by_key.get((caller, key))
                if hit is not None:
                    record = self._read(hit[1], hit[2])
                    if record is not None:
                        best = (hit[0], record)
                for index in self._parts.values():
                    found = index.keys.get((caller, key))
                    if found is not None and (best is None or found[0] > best[0]):
                        record = self._find_in_part(index, found[1])
                        if record is not None:
                            best = (found[0], record)
                if best is not None:
                    return best[1]
            return None

    # -- the index --------------------------------------------------------------------------

    def _refresh(self, *, full: bool = False) -> None:
        """Catch up with the files: scan what segments gained; list the Parquet parts again
        when the segments changed (compaction deletes a segment once its parts are written),
        after ``PARTS_TTL`` seconds, or when ``full`` (a lookup that missed)."""
        segments = list_segments(self.home)
        stems = {p.stem for p in segments}
        now = time.monotonic()
        relist = full or stems != self._stems or now - self._parts_listed > PARTS_TTL
        self._stems = stems
        files = {p.stem: p for p in segments}
        files.update({f"spill:{p.name}": p for p in list_spill(self.home)})
        for stem in [s for s in self._files if s not in files]:
            self._drop(stem)
        for stem, path in files.items():
            index = self._files.get(stem)
            if index is None:
                index = self._files[stem] = _FileIndex(path)
            index.path = path  # .open renamed to .seg: same frames
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                continue
            if size < index.scanned:
                self._drop(stem)
                index = self._files[stem] = _FileIndex(path)
            if size > index.scanned:
                self._scan(stem, index)
        if not relist:
            return
        self._parts_listed = now
        parts = list_parts(self.home)
        visible = {p.path: p for p in parts if p.stem not in stems}
        for path in [p for p in self._parts if p not in visible]:
            del self._parts[path]
            for key in [k for k in self._groups if k[0] == path]:
                del self._groups[key]
        for path, part in visible.items():
            known = self._parts.get(path)
            if known is not None and known.stamp != _stamp(path):
                del self._parts[path]
                for key in [k for k in self._groups if k[0] == path]:
                    del self._groups[key]
            if path not in self._parts:
                try:
                    self._parts[path] = _index_part(part)
                except (OSError, pa.ArrowException) as exc:
                    logger.warning("cannot index %s: %s", path, exc)

    def _scan(self, stem: str, index: _FileIndex) -> None:
        try:
            frames, end = read_payloads_from(index.path, index.scanned)
        except FileNotFoundError:
            return
        self.scanned_bytes += max(0, end - index.scanned)
        index.scanned = end
        for offset, payload in frames:
            try:
                record = orjson.loads(payload)
            except orjson.JSONDecodeError:
                continue
            rid = record.get("request_id")
            moment = float(record.get("time") or 0.0)
            if isinstance(rid, str):
                current = self._by_id.get(rid)
                if current is None or moment >= current[0]:
                    self._by_id[rid] = (moment, stem, offset)
                index.ids.append(rid)
            key, caller = record.get("key"), record.get("caller")
            if isinstance(key, str) and isinstance(caller, str):
                current = self._by_key.get((caller, key))
                if current is None or moment >= current[0]:
                    self._by_key[(caller, key)] = (moment, stem, offset)
                index.keys.append((caller, key))

    def _drop(self, stem: str) -> None:
        index = self._files.pop(stem, None)
        if index is None:
            return
        for rid in index.ids:
            hit = self._by_id.get(rid)
            if hit is not None and hit[1] == stem:
                del self._by_id[rid]
        for pair in index.keys:
            hit = self._by_key.get(pair)
            if hit is not None and hit[1] == stem:
                del self._by_key[pair]

    def _read(self, stem: str, offset: int) -> dict[str, Any] | None:
        index = self._files.get(stem)
        if index is None:
            return None
        payload = read_frame(index.path, offset)
        if payload is None:
            return None
        record: dict[str, Any] = orjson.loads(payload)
        return record

    def _find_in_parts(self, request_id: str) -> dict[str, Any] | None:
        best: dict[str, Any] | None = None
        for index in self._parts.values():
            record = self._find_in_part(index, request_id)
            if record is not None and (best is None or float(record["time"] or 0) >= float(best["time"] or 0)):
                best = record
        return best

    def _find_in_part(self, index: _PartIndex, request_id: str) -> dict[str, Any] | None:
        for group, low, high in index.groups:
            if not low <= request_id <= high:
                continue
            loaded = self._row_group(index.part.path, group)
            if loaded is None:
                continue
            table, positions = loaded
            found = positions.get(request_id)
            if found:
                return record_of(table.take(found))
        return None

    def _row_group(self, path: Path, group: int) -> tuple[pa.Table, dict[str, list[int]]] | None:
        """A row group and its request id → row positions, from a small LRU cache (a batch
        of feedback names requests close in time: the same row groups)."""
        key = (path, group)
        cached = self._groups.pop(key, None)
        if cached is None:
            try:
                table = pq.ParquetFile(path).read_row_group(group)
            except (OSError, pa.ArrowException):
                return None
            positions: dict[str, list[int]] = {}
            for i, rid in enumerate(table.column("request_id").to_pylist()):
                positions.setdefault(rid, []).append(i)
            cached = (table, positions)
            if len(self._groups) >= ROW_GROUP_CACHE:
                del self._groups[next(iter(self._groups))]
        self._groups[key] = cached
        return cached


def _stamp(path: Path) -> tuple[int, int]:
    try:
        info = path.stat()
    except FileNotFoundError:
        return (0, 0)
    return (info.st_mtime_ns, info.st_size)


def _index_part(part: Part) -> _PartIndex:
    stamp = _stamp(part.path)
    handle = pq.ParquetFile(part.path)
    meta = handle.metadata
    column = meta.schema.names.index("request_id")
    groups: list[tuple[int, str, str]] = []
    for g in range(meta.num_row_groups):
        stats = meta.row_group(g).column(column).statistics
        if stats is None or not stats.has_min_max:
            groups.append((g, "", "\U0010ffff"))
        else:
            groups.append((g, str(stats.min), str(stats.max)))
    keys: dict[tuple[str, str], tuple[float, str]] = {}
    if "key" in meta.schema.names:
        table = handle.read(columns=["request_id", "time", "caller", "key"])
        table = table.filter(pc.is_valid(table.column("key")))
        for rid, moment, caller, key in zip(
            *(table.column(c).to_pylist() for c in ("request_id", "time", "caller", "key")), strict=True
        ):
            current = keys.get((caller, key))
            if current is None or moment >= current[0]:
                keys[(caller, key)] = (float(moment or 0.0), rid)
    return _PartIndex(part, groups, keys, stamp)


def record_of(table: pa.Table) -> dict[str, Any]:
    """The record (payload shape) of one request's rows in the table shape (``table.py``)."""
    table = table.sort_by("row")
    first = {name: table.column(name)[0].as_py() for name in REQUEST_FIELDS if name in table.column_names}
    first.pop("row", None)
    inputs = _columns(table, INPUT_PREFIX)
    outputs = _columns(table, OUTPUT_PREFIX)
    failed = first.get("status") != 200
    return {
        "v": 1,
        **first,
        "inputs": None if failed and not inputs else inputs,
        "outputs": None if failed and not outputs else outputs,
    }


def _columns(table: pa.Table, prefix: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for name in table.column_names:
        if name.startswith(prefix):
            values = table.column(name).to_pylist()
            if any(v is not None for v in values):
                found[name[len(prefix) :]] = values
    return found


_SHARED: dict[Path, LogLookup] = {}
_SHARED_LOCK = threading.Lock()


def lookup_for(home: Path) -> LogLookup:
    """This process's ``LogLookup`` of ``home`` (created on first use)."""
    key = home.expanduser().resolve()
    with _SHARED_LOCK:
        found = _SHARED.get(key)
        if found is None:
            found = _SHARED[key] = LogLookup(key)
        return found


def find_many(lookup: LogLookup, request_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``request id → record`` of those found."""
    found: dict[str, dict[str, Any]] = {}
    for rid in request_ids:
        record = lookup.find(rid)
        if record is not None:
            found[rid] = record
    return found
