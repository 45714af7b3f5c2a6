"""Reading the prediction log back: rows of a window, with filters, from compacted Parquet
and from the segments not compacted yet (sealed, and open ones up to their valid length).

- ``read_rows(home, LogFilter(...))``: every matching prediction row as an Arrow table
  (``table.py``'s shape: request fields, ``row``, ``in.<input>``, ``out.<output>``), by time;
- ``read_window(home, target, since, until, columns=None)``: what the monitoring figures
  read: one target's rows in ``[since, until)``;
- ``iter_tables``: the same, one source file at a time (exports with progress);
- ``join_feedback(table, facts)``: adds ``label``, ``value``, ``outcome.<name>`` and
  ``attribute.<name>`` per (request_id, row) from ``FeedbackStore.facts``.

Parquet parts are pruned by their target and day partitions, then by row-group statistics
(``time``, ``request_id``) through pyarrow's filters; segment records are filtered before
they become rows.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from shipyard.monitoring.predlog.files import Part, SegmentVanished, Snapshot, read_payloads
from shipyard.monitoring.predlog.table import EMPTY_SCHEMA, concat, payloads_table
from shipyard.registry.sql.feedback import ATTRIBUTE, LABEL, OUTCOME, VALUE, Fact

logger = logging.getLogger(__name__)

OUTCOME_PREFIX = "outcome."
ATTRIBUTE_PREFIX = "attribute."
_RETRIES = 5


@dataclass(frozen=True)
class LogFilter:
    """Which rows: every given field must match; ``since <= time < until`` (Unix seconds)."""

    target: str | None = None
    model: str | None = None
    version: int | None = None
    deployment: str | None = None
    variant: str | None = None
    request_id: str | None = None
    caller: str | None = None
    status: int | None = None
    since: float | None = None
    until: float | None = None

    def admits(self, record: dict[str, Any]) -> bool:
        for name in ("target", "model", "version", "deployment", "variant", "request_id", "caller", "status"):
            wanted = getattr(self, name)
            if wanted is not None and record.get(name) != wanted:
                return False
        moment = record.get("time")
        if not isinstance(moment, int | float):
            return self.since is None and self.until is None
        if self.since is not None and moment < self.since:
            return False
        return self.until is None or moment < self.until

    def admits_part(self, part: Part) -> bool:
        if self.target is not None and part.target != self.target:
            return False
        if self.since is not None and part.day < _day(self.since):
            return False
        return self.until is None or part.day <= _day(self.until)

    def expression(self) -> pc.Expression | None:
        """The filter as a pyarrow expression (pushed down to Parquet row-group statistics)."""
        terms: list[pc.Expression] = []
        for name in ("target", "model", "version", "deployment", "variant", "request_id", "caller", "status"):
            wanted = getattr(self, name)
            if wanted is not None:
                terms.append(pc.field(name) == wanted)
        if self.since is not None:
            terms.append(pc.field("time") >= self.since)
        if self.until is not None:
            terms.append(pc.field("time") < self.until)
        if not terms:
            return None
        expression = terms[0]
        for term in terms[1:]:
            expression = expression & term
        return expression


def read_rows(
    home: Path, where: LogFilter | None = None, *, columns: Sequence[str] | None = None, limit: int | None = None
) -> pa.Table:
    """Every logged prediction row ``where`` admits, oldest first (the latest ``limit``
    when given); only ``columns`` (plus what is needed to sort) when given."""
    table = concat(list(iter_tables(home, where or LogFilter(), columns=columns)))
    if table.num_rows and "time" in table.column_names:
        keys = [("time", "ascending")] + [(k, "ascending") for k in ("request_id", "row") if k in table.column_names]
        table = _without_copies(table.sort_by(keys))
    if limit is not None and table.num_rows > limit:
        table = table.slice(table.num_rows - limit)
    if columns is not None:
        table = _select(table, columns)
    return table


def _without_copies(table: pa.Table) -> pa.Table:
    """``table`` (sorted by time, request id, row) without repeated copies of one logged row.

    A spill file replayed into a segment is replayed at least once: a crash in the middle
    can write some of its records twice. A copy has the same request id, time and row as
    its original; two predictions that merely share a caller-chosen request id differ in time.
    """
    if table.num_rows < 2 or not {"request_id", "time", "row"} <= set(table.column_names):
        return table
    ids = table.column("request_id").to_numpy(zero_copy_only=False)
    times = table.column("time").to_numpy(zero_copy_only=False)
    rows = table.column("row").to_numpy(zero_copy_only=False)
    copy = (ids[1:] == ids[:-1]) & (times[1:] == times[:-1]) & (rows[1:] == rows[:-1])
    if not copy.any():
        return table
    return table.filter(pa.array(np.concatenate([[True], ~copy])))


def read_window(home: Path, target: str, since: float, until: float, columns: Sequence[str] | None = None) -> pa.Table:
    """The rows of ``target`` (a deployment or model name) logged in ``[since, until)``."""
    return read_rows(home, LogFilter(target=target, since=since, until=until), columns=columns)


def iter_tables(
    home: Path,
    where: LogFilter,
    *,
    columns: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Iterator[pa.Table]:
    """The matching rows, one table per source (segments, then Parquet parts), in no order.
    ``progress(done, total)`` is called as sources are read."""
    for attempt in range(_RETRIES):
        snapshot = Snapshot.take(home)
        parts = [p for p in snapshot.parts if where.admits_part(p)]
        total = len(parts) + len(snapshot.segments)
        try:
            tables = list(_from_segments(snapshot.segments, where))
        except SegmentVanished:
            if attempt == _RETRIES - 1:
                raise
            continue  # compacted meanwhile: its rows are in Parquet now
        done = len(snapshot.segments)
        if progress is not None:
            progress(done, total)
        yield from tables
        for part in parts:
            table = _read_part(part, where, columns)
            done += 1
            if progress is not None:
                progress(done, total)
            if table is not None and table.num_rows:
                yield table
        return


def sources(home: Path, where: LogFilter) -> tuple[list[Part], list[Path]]:
    """The parts and segments a read of ``where`` would open (for progress bars)."""
    snapshot = Snapshot.take(home)
    return [p for p in snapshot.parts if where.admits_part(p)], list(snapshot.segments)


def _read_part(part: Part, where: LogFilter, columns: Sequence[str] | None) -> pa.Table | None:
    try:
        wanted = None
        if columns is not None:
            present = pq.ParquetFile(part.path).schema_arrow.names
            wanted = [c for c in present if c in {*columns, "time", "row", "request_id"}]
        table: pa.Table = pq.read_table(part.path, columns=wanted, filters=where.expression())
    except FileNotFoundError:
        return None  # a part is never deleted by compaction; only by a person
    return table


def _from_segments(segments: Iterable[Path], where: LogFilter) -> Iterator[pa.Table]:
    expression = where.expression()
    for path in segments:
        payloads = [payload for _offset, payload in read_payloads(path)]
        if not payloads:
            continue
        table = payloads_table(payloads)
        if expression is not None:
            table = table.filter(expression)
        if table.num_rows:
            yield table


def _select(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    return table.select([c for c in columns if c in table.column_names])


def _day(moment: float) -> str:
    if not math.isfinite(moment):
        return "9999-12-31" if moment > 0 else "0000-01-01"
    try:
        return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        return "9999-12-31" if moment > 0 else "0000-01-01"


def join_feedback(table: pa.Table, facts: Iterable[Fact]) -> pa.Table:
    """``table`` (with ``request_id`` and ``row``) plus, per row, the feedback recorded for it:
    ``label``, ``value``, ``outcome.<name>`` and ``attribute.<name>`` (null where none)."""
    if not {"request_id", "row"} <= set(table.column_names):
        raise ValueError("join_feedback needs the request_id and row columns")
    position = {
        (rid, row): i
        for i, (rid, row) in enumerate(
            zip(table.column("request_id").to_pylist(), table.column("row").to_pylist(), strict=True)
        )
    }
    n = table.num_rows
    columns: dict[str, list[Any]] = {LABEL: [None] * n, VALUE: [None] * n}
    for fact in facts:
        i = position.get((fact.request_id, fact.row))
        if i is None:
            continue
        if fact.kind == LABEL:
            name = LABEL
        elif fact.kind == VALUE:
            name = VALUE
        elif fact.kind == OUTCOME:
            name = OUTCOME_PREFIX + fact.name
        elif fact.kind == ATTRIBUTE:
            name = ATTRIBUTE_PREFIX + fact.name
        else:
            continue
        columns.setdefault(name, [None] * n)[i] = fact.value
    for name, values in columns.items():
        if name == VALUE or name.startswith(OUTCOME_PREFIX):
            array = pa.array(values, type=pa.float64())
        else:
            array = _scalar_array(values)
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, array)
        else:
            table = table.append_column(name, array)
    return table


def _scalar_array(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode() for v in values])


def empty() -> pa.Table:
    return EMPTY_SCHEMA.empty_table()
