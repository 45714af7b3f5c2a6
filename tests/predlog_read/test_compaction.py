"""Compaction of sealed segments into Parquet: the layout, one row per prediction row, the
same rows before and after, idempotence, crash safety under ``kill -9``, and one compactor
at a time."""

from __future__ import annotations

import fcntl
import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
from log_files import T0, TORN, record, write_segment

from shipyard.monitoring.predlog.compact import LOCK_NAME, Compactor
from shipyard.monitoring.predlog.query import LogFilter, read_rows


def _keys(home: Path) -> Counter[tuple[str, int]]:
    table = read_rows(home, columns=["request_id", "row"])
    return Counter(zip(table.column("request_id").to_pylist(), table.column("row").to_pylist(), strict=True))


def test_segments_become_hive_partitioned_parquet(tmp_path: Path) -> None:
    home = tmp_path
    day2 = T0 + 86_400
    write_segment(
        home,
        "w1-1-00000001.seg",
        [record(i, rows=3) for i in range(50)] + [record(100 + i, target="fraud", time=day2 + i) for i in range(5)],
    )
    write_segment(home, "w1-1-00000002.open", [record(200 + i) for i in range(4)])
    before = read_rows(home)
    result = Compactor(home, row_group_rows=16).run_once()
    assert (result.segments, result.rows, result.parts, result.failed) == (1, 50 * 3 + 5 * 2, 2, 0)
    parquet = home / "predlog" / "parquet"
    assert sorted(str(p.relative_to(parquet)) for p in parquet.rglob("*.parquet")) == [
        "target=fraud/day=2026-09-22/w1-1-00000001.parquet",
        "target=iris/day=2026-09-21/w1-1-00000001.parquet",
    ]
    assert not (home / "predlog" / "segments" / "w1-1-00000001.seg").exists()
    assert (home / "predlog" / "segments" / "w1-1-00000002.open").exists()  # open: never compacted
    after = read_rows(home)
    assert after.num_rows == before.num_rows == 50 * 3 + 5 * 2 + 4 * 2
    assert after.to_pylist() == before.to_pylist()
    # One row per prediction row, request fields repeated, inputs and outputs as columns.
    iris = pq.read_table(parquet / "target=iris/day=2026-09-21/w1-1-00000001.parquet")
    assert iris.num_rows == 150
    assert {"in.a", "in.b", "out.predict", "out.predict_proba", "row", "request_id"} <= set(iris.column_names)
    assert str(iris.schema.field("out.predict_proba").type).startswith("list<")
    rows = iris.filter(iris.column("request_id").to_numpy(zero_copy_only=False) == "r000007").to_pylist()
    assert [(r["row"], r["in.a"], r["out.predict"], r["out.predict_proba"]) for r in rows] == [
        (0, 7.0, 1, [0.25, 0.75]),
        (1, 7.1, 1, [0.25, 0.75]),
        (2, 7.2, 1, [0.25, 0.75]),
    ]
    # Row groups sorted by request id, so their statistics prune lookups.
    meta = pq.ParquetFile(parquet / "target=iris/day=2026-09-21/w1-1-00000001.parquet").metadata
    assert meta.num_row_groups > 1
    column = meta.schema.names.index("request_id")
    ranges = [(meta.row_group(g).column(column).statistics.min, meta.row_group(g).column(column).statistics.max)
              for g in range(meta.num_row_groups)]  # fmt: skip
    assert all(low <= high for low, high in ranges)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(ranges))


def test_a_second_run_does_nothing_and_failures_stay(tmp_path: Path) -> None:
    write_segment(tmp_path, "w1-1-00000001.seg", [record(i) for i in range(10)])
    write_segment(tmp_path, "w1-1-00000002.seg", [], tail=TORN)  # nothing valid in it
    first = Compactor(tmp_path).run_once()
    assert first.segments == 2
    assert first.rows == 20
    again = Compactor(tmp_path).run_once()
    assert (again.segments, again.rows) == (0, 0)
    assert _keys(tmp_path) == Counter({(f"r{i:06d}", r): 1 for i in range(10) for r in range(2)})


def test_failed_requests_and_changing_columns(tmp_path: Path) -> None:
    records = [record(i) for i in range(5)]
    records.append(record(5, status=400))
    # A later version of the model with another input column, and integer values.
    records += [record(10 + i, version=2, inputs={"a": [1, 2], "c": [True, False]}) for i in range(3)]
    write_segment(tmp_path, "w1-1-00000001.seg", records)
    write_segment(tmp_path, "w1-1-00000002.seg", [record(20, inputs={"a": [0.5, 1.5], "b": ["x", "y"]})])
    Compactor(tmp_path, row_group_rows=2).run_once()
    table = read_rows(tmp_path)
    assert table.num_rows == 5 * 2 + 1 + 3 * 2 + 2
    failed = read_rows(tmp_path, LogFilter(status=400)).to_pylist()
    assert [(r["request_id"], r["row"], r["out.predict"], r["code"]) for r in failed] == [
        ("r000005", 0, None, "signature_mismatch")
    ]
    v2 = read_rows(tmp_path, LogFilter(version=2)).to_pylist()
    assert {r["in.c"] for r in v2} == {True, False}
    assert {r["in.b"] for r in v2} == {None}
    assert sorted({r["in.a"] for r in v2}) == [1.0, 2.0]


def test_one_compactor_at_a_time(tmp_path: Path) -> None:
    write_segment(tmp_path, "w1-1-00000001.seg", [record(i) for i in range(3)])
    fd = os.open(tmp_path / "predlog" / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held = Compactor(tmp_path).run_once()
        assert held.locked
        assert held.segments == 0
        assert (tmp_path / "predlog" / "segments" / "w1-1-00000001.seg").exists()
    finally:
        os.close(fd)
    assert Compactor(tmp_path).run_once().segments == 1


_CHILD = "import sys; from pathlib import Path; from shipyard.monitoring.predlog.compact import Compactor; " \
    "Compactor(Path(sys.argv[1]), row_group_rows=64).run_once()"  # fmt: skip


def test_kill_9_during_compaction_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """Compaction killed at random moments, 15 times: every read in between sees every row
    exactly once, and a last run finishes the work."""
    expected: Counter[tuple[str, int]] = Counter()
    for s in range(24):
        batch = [record(s * 300 + i, rows=1 + (i % 3), time=T0 + (s % 3) * 86_400 + i) for i in range(300)]
        write_segment(tmp_path, f"w1-1-{s:08d}.seg", batch)
        expected.update((item["request_id"], r) for item in batch for r in range(item["rows"]))
    assert _keys(tmp_path) == expected
    rng = random.Random(8)
    kills = 0
    for _ in range(15):
        child = subprocess.Popen([sys.executable, "-c", _CHILD, str(tmp_path)])
        time.sleep(rng.uniform(0.3, 1.2))
        if child.poll() is None:
            child.send_signal(signal.SIGKILL)
            kills += 1
        child.wait(timeout=60)
        assert _keys(tmp_path) == expected
        if not list((tmp_path / "predlog" / "segments").glob("*.seg")):
            break
    assert kills >= 1
    Compactor(tmp_path).run_once()
    assert not list((tmp_path / "predlog" / "segments").glob("*.seg"))
    assert _keys(tmp_path) == expected
    # A killed run's temporary files are replaced by the next run of the same segment.
    assert [p for p in (tmp_path / "predlog" / "parquet").rglob("*") if p.name.endswith(".tmp")] == []
