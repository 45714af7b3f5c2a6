"""The two ways records become rows agree: Arrow's JSON reader (the fast path compaction and
reads use) and the per-record Python path (the fallback), on every shape a record takes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from log_files import T0, record

from shipyard.monitoring.predlog.table import payloads_table, records_table

CASES: dict[str, list[dict[str, Any]]] = {
    "plain": [record(i, time=T0 + i + 0.123456) for i in range(40)],
    "rows-and-failures": [record(i, status=400 if i % 5 == 0 else 200, rows=1 + i % 3) for i in range(40)],
    "columns-change": [record(i) for i in range(5)]
    + [record(10 + i, inputs={"a": [1.5, 2.5], "c": [True, False]}) for i in range(3)],
    "type-change": [record(i, inputs={"a": [1, 2], "b": ["x", "y"]}) for i in range(3)]
    + [record(5, inputs={"a": ["one", "two"], "b": ["x", "y"]})],
    "all-failed": [record(i, status=500) for i in range(3)],
    "fewer-values-than-rows": [dict(record(1), rows=3)],
    "tensor-inputs": [record(i, rows=2, inputs={"image": [[[0, 1], [1, 0]], [[1, 1], [0, 0]]]}) for i in range(3)],
    "cpu-charges": [dict(record(i, rows=1 + i % 3), cpu_ms=0.5 * (i + 1)) for i in range(6)],
    "keys-and-deployments": [
        dict(record(i, key=f"k{i}"), deployment="fraud", variant="canary" if i % 2 else "stable", revision=3)
        for i in range(6)
    ],
}


@pytest.mark.parametrize("name", list(CASES))
def test_arrow_and_python_agree(name: str) -> None:
    records = CASES[name]
    slow = records_table(records, sort=True)
    fast = payloads_table([orjson.dumps(r) for r in records], sort=True)
    assert fast.column_names == slow.column_names
    assert fast.to_pylist() == slow.to_pylist()
    assert fast.num_rows == sum(max(r["rows"], 1) for r in records)


def test_one_row_per_prediction_row() -> None:
    table = payloads_table([orjson.dumps(record(7, rows=3)), orjson.dumps(record(8, status=503))])
    rows = table.to_pylist()
    assert [(r["request_id"], r["row"], r["in.a"], r["out.predict"]) for r in rows] == [
        ("r000007", 0, 7.0, 1),
        ("r000007", 1, 7.1, 1),
        ("r000007", 2, 7.2, 1),
        ("r000008", 0, None, None),
    ]
    assert rows[3]["status"] == 503
    assert payloads_table([]).num_rows == 0


def test_a_requests_cpu_is_shared_by_its_rows() -> None:
    records = [dict(record(1, rows=4), cpu_ms=2.0), dict(record(2, rows=1), cpu_ms=0.25), record(3, rows=2)]
    for table in (records_table(records), payloads_table([orjson.dumps(r) for r in records])):
        cpu = table.column("cpu_ms").to_pylist()
        assert cpu == [0.5, 0.5, 0.5, 0.5, 0.25, None, None]
