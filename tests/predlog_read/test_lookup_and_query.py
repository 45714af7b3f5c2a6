"""Lookups by request id and by (caller, key) over segments and Parquet, with an index that
reads each byte of the log once; and window reads with filters, open segments read up to
their valid length."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pytest
from log_files import T0, TORN, append, record, write_segment

from shipyard.monitoring.predlog.compact import Compactor
from shipyard.monitoring.predlog.lookup import LogLookup
from shipyard.monitoring.predlog.query import LogFilter, join_feedback, read_rows, read_window
from shipyard.registry.sql.feedback import Fact


def test_the_index_reads_each_byte_once(tmp_path: Path) -> None:
    live = write_segment(tmp_path, "w1-1-00000001.open", [record(i, key=f"k{i}") for i in range(200)])
    lookup = LogLookup(tmp_path)
    assert lookup.find("r000010")["inputs"]["a"] == [10.0, 10.1]  # type: ignore[index]
    scanned = lookup.scanned_bytes
    assert scanned == live.stat().st_size
    for i in range(100):
        assert lookup.find(f"r{i:06d}") is not None
    assert lookup.find("r999999") is None
    assert lookup.scanned_bytes == scanned  # a hundred lookups read nothing again
    # An appended record is found, and only the new bytes are read.
    size = live.stat().st_size
    append(live, [record(500, key="late")])
    assert lookup.find("r000500")["request_id"] == "r000500"  # type: ignore[index]
    assert lookup.scanned_bytes == scanned + (live.stat().st_size - size)
    # By key: the latest request of that caller with that key; another caller's is not it.
    append(live, [record(501, key="k7", time=T0 + 10_000)])
    assert lookup.find_by_key("key:aaaaaaaaaaaa", "k7")["request_id"] == "r000501"  # type: ignore[index]
    assert lookup.find_by_key("key:bbbbbbbbbbbb", "k7") is None


def test_a_torn_tail_is_not_read_and_the_rest_is(tmp_path: Path) -> None:
    live = write_segment(tmp_path, "w1-1-00000001.open", [record(i) for i in range(3)], tail=TORN)
    lookup = LogLookup(tmp_path)
    assert lookup.find("r000002") is not None
    assert lookup.find("r999999") is None  # the torn frame's request
    assert read_rows(tmp_path).num_rows == 6
    # The writer finishes the frame (here: the file is rewritten whole) and goes on.
    live.unlink()
    write_segment(tmp_path, "w1-1-00000001.open", [record(i) for i in range(3)] + [record(999_999), record(4)])
    assert lookup.find("r000004") is not None
    assert lookup.find("r999999") is not None


def test_sealing_and_compaction_keep_every_record_findable(tmp_path: Path) -> None:
    live = write_segment(tmp_path, "w1-1-00000001.open", [record(i, key=f"k{i}") for i in range(300)])
    lookup = LogLookup(tmp_path)
    assert lookup.find("r000299") is not None
    scanned = lookup.scanned_bytes
    sealed = live.with_suffix(".seg")
    live.rename(sealed)  # sealing: the same frames under another name
    assert lookup.find("r000150") is not None
    assert lookup.scanned_bytes == scanned
    Compactor(tmp_path, row_group_rows=32).run_once()
    assert not sealed.exists()
    for i in (0, 31, 32, 150, 299):
        found = lookup.find(f"r{i:06d}")
        assert found is not None
        assert found["request_id"] == f"r{i:06d}"
        assert found["inputs"] == {"a": [float(i), i + 0.1], "b": [f"s{i % 3}"] * 2}
        assert found["outputs"]["predict_proba"] == [[0.25, 0.75]] * 2
    assert lookup.find("r000300") is None
    assert lookup.find_by_key("key:aaaaaaaaaaaa", "k42")["request_id"] == "r000042"  # type: ignore[index]
    assert lookup.scanned_bytes == scanned  # Parquet is read by row group, not scanned


def test_parquet_lookups_read_one_row_group(tmp_path: Path) -> None:
    """The measured cost of a lookup in compacted data: one row group of a sorted part."""
    write_segment(tmp_path, "w1-1-00000001.seg", [record(i) for i in range(20_000)])
    Compactor(tmp_path, row_group_rows=1000).run_once()
    lookup = LogLookup(tmp_path)
    lookup.find("r000000")  # builds the part's index (its footer) once
    started = time.perf_counter()
    for i in range(0, 20_000, 200):
        assert lookup.find(f"r{i:06d}") is not None
    per_lookup = (time.perf_counter() - started) / 100
    full = time.perf_counter()
    read_rows(tmp_path, LogFilter(request_id="r012345"))
    full_read = time.perf_counter() - full
    index = next(iter(lookup._parts.values()))
    assert len(index.groups) == 20
    print(f"parquet lookup {per_lookup * 1000:.2f} ms; filtered read {full_read * 1000:.2f} ms")
    assert per_lookup < 0.05


def test_filters_windows_and_limits(tmp_path: Path) -> None:
    write_segment(tmp_path, "w1-1-00000001.seg", [record(i, version=1 + i % 2) for i in range(40)])
    write_segment(tmp_path, "w1-1-00000002.seg", [record(100 + i, target="fraud") for i in range(10)])
    Compactor(tmp_path).run_once()
    write_segment(tmp_path, "w1-1-00000003.open", [record(40 + i) for i in range(10)])
    everything = read_rows(tmp_path)
    assert everything.num_rows == 120
    assert everything.column("time").to_pylist() == sorted(everything.column("time").to_pylist())
    assert read_rows(tmp_path, LogFilter(model="fraud")).num_rows == 20
    v2 = read_rows(tmp_path, LogFilter(target="iris", version=2))
    assert set(v2.column("version").to_pylist()) == {2}
    assert v2.num_rows == 40
    window = read_window(tmp_path, "iris", T0 + 10, T0 + 45)
    assert sorted(set(window.column("request_id").to_pylist())) == [f"r{i:06d}" for i in range(10, 45)]
    assert read_window(tmp_path, "iris", T0 + 10, T0 + 45, columns=["in.a"]).column_names == ["in.a"]
    latest = read_rows(tmp_path, LogFilter(target="iris"), limit=4)
    assert latest.column("request_id").to_pylist() == ["r000048", "r000048", "r000049", "r000049"]
    assert read_rows(tmp_path, LogFilter(request_id="r000045")).num_rows == 2
    assert read_rows(tmp_path, LogFilter(since=T0 + 1e6)).num_rows == 0


def test_join_feedback_adds_columns_per_request_and_row(tmp_path: Path) -> None:
    write_segment(tmp_path, "w1-1-00000001.seg", [record(i) for i in range(3)])
    table = read_rows(tmp_path)
    now = __import__("datetime").datetime.now(__import__("datetime").UTC)

    def fact(rid: str, row: int, kind: str, name: str, value: object) -> Fact:
        return Fact(rid, row, kind, name, value, "iris", "iris", 1, None, None, now, now)  # type: ignore[arg-type]

    joined = join_feedback(
        table,
        [
            fact("r000001", 1, "label", "", 1),
            fact("r000001", 1, "outcome", "revenue", 12.5),
            fact("r000002", 0, "attribute", "group", "a"),
            fact("r000002", 0, "value", "", 3.5),
            fact("r999999", 0, "label", "", 0),  # not in the window: ignored
        ],
    )
    rows = {(r["request_id"], r["row"]): r for r in joined.to_pylist()}
    assert rows[("r000001", 1)]["label"] == 1
    assert rows[("r000001", 1)]["outcome.revenue"] == 12.5
    assert rows[("r000001", 0)]["label"] is None
    assert rows[("r000002", 0)]["attribute.group"] == "a"
    assert rows[("r000002", 0)]["value"] == 3.5
    assert joined.schema.field("outcome.revenue").type == pa.float64()
    with pytest.raises(ValueError, match="request_id and row"):
        join_feedback(table.select(["time"]), [])


def test_a_segment_compacted_between_two_lookups_is_still_found(tmp_path: Path) -> None:
    write_segment(tmp_path, "w1-1-00000001.seg", [record(i) for i in range(3)])
    Compactor(tmp_path).run_once()
    lookup = LogLookup(tmp_path)
    assert lookup.find("r000001") is not None
    # A segment the index never saw comes and goes (compacted) before the next lookup: the
    # segments look the same as before, yet its rows are found in its new part.
    write_segment(tmp_path, "w1-1-00000002.seg", [record(50 + i, key=f"k{i}") for i in range(3)])
    Compactor(tmp_path).run_once()
    assert lookup.find("r000051") is not None
    assert lookup.find_by_key("key:aaaaaaaaaaaa", "k2")["request_id"] == "r000052"  # type: ignore[index]


def test_a_replayed_copy_is_read_once_and_a_reused_request_id_twice(tmp_path: Path) -> None:
    # A crash during a spill replay can write a record twice (same id, time and rows): one
    # copy is read. A caller reusing its request id for another prediction is two predictions.
    first = record(1)
    reused = dict(record(1), time=T0 + 30)
    write_segment(tmp_path, "w1-1-00000001.seg", [first, record(2), first])
    write_segment(tmp_path, "w1-1-00000002.seg", [first, reused])
    rows = read_rows(tmp_path)
    keys = list(
        zip(
            rows.column("request_id").to_pylist(),
            rows.column("time").to_pylist(),
            rows.column("row").to_pylist(),
            strict=True,
        )
    )
    assert keys == [
        ("r000001", T0 + 1, 0),
        ("r000001", T0 + 1, 1),
        ("r000002", T0 + 2, 0),
        ("r000002", T0 + 2, 1),
        ("r000001", T0 + 30, 0),
        ("r000001", T0 + 30, 1),
    ]
    Compactor(tmp_path).run_once()  # the copies reach Parquet too: still read once
    assert read_window(tmp_path, "iris", T0, T0 + 60).num_rows == 6
