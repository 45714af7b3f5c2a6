"""Retention per target: prediction-log rows (whole day partitions and the cutoff's day),
feedback and review tickets older than ``retention_days`` are purged, with counts, by
``shipyard retention run``, ``POST /api/retention/run`` and each server's schedule."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from privacy_support import build_home, run, start

from homes import open_home
from prediction_homes import wait_for
from shipyard.fs.pii_key import load_or_create
from shipyard.monitoring.predlog.record import Privacy
from shipyard.monitoring.predlog.writer import PredictionLog
from shipyard.monitoring.retention import run_retention
from shipyard.registry.review_types import NewTicket
from shipyard.registry.sql.audit import AuditFilter
from shipyard.registry.sql.feedback import Feedback, Prediction
from shipyard.schema.batch import Batch
from shipyard.serving.events import InferenceRecord

DAY = 86400.0
MARKS = {"email": "hash", "name": "drop"}


def _write_log(home: Path, model: str, moments: list[tuple[str, float, int]]) -> None:
    """Records of ``model`` (request id, start time, rows) through the real log writer."""
    services = open_home(home)
    try:
        signature = services.store.get_version(model, 1).signature
    finally:
        services.close()
    key = load_or_create(home / "pii.key")

    async def write() -> None:
        log = PredictionLog(home / "predlog", mode="sync")
        log.use_privacy(Privacy(lambda m, d: MARKS, key))
        log.start(asyncio.get_running_loop())
        for request_id, started, rows in moments:
            columns = {
                "email": np.array([f"u{i}@example.com" for i in range(rows)], dtype=object),
                "name": np.array(["U"] * rows, dtype=object),
                "x": np.arange(rows, dtype=np.float64),
            }
            record = InferenceRecord(
                request_id=request_id, model=model, version=1, protocol="v2", caller="user:test", rows=rows,
                started_at=started, duration_seconds=0.001, compute_seconds=0.001,
                batch=Batch(signature, columns=columns), outputs={"predict": np.zeros(rows)},
            )  # fmt: skip
            future = log.on_inference(record)
            assert future is not None
            await future
        await log.close()

    asyncio.run(write())


def _feedback(home: Path, model: str, moments: list[tuple[str, float, int]]) -> None:
    services = open_home(home)
    try:
        for request_id, started, rows in moments:
            prediction = Prediction(request_id, rows, model, model, 1, started, "user:test")
            services.store.feedback.record(prediction, 0, Feedback(label=1.0), recorded_by="user:test")
    finally:
        services.close()


def _rows(home: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for path in (home / "predlog" / "parquet").rglob("*.parquet"):
        for rid in pq.read_table(path, columns=["request_id"]).column("request_id").to_pylist():
            counts[rid] = counts.get(rid, 0) + 1
    return counts


def test_retention_purges_what_is_older_than_each_targets_days_with_counts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    build_home(home, ["people"], {"pii": MARKS, "retention_days": 2})
    build_home(home, ["keepme"], {"pii": MARKS})  # no retention: never purged
    now = time.time()
    cutoff = now - 2 * DAY
    moments = [("old", now - 5 * DAY, 2), ("before", cutoff - 60, 1), ("after", cutoff + 60, 1), ("new", now, 3)]
    _write_log(home, "people", moments)
    _write_log(home, "keepme", [("ancient", now - 400 * DAY, 2)])
    _feedback(home, "people", moments)
    _feedback(home, "keepme", [("ancient", now - 400 * DAY, 2)])

    dry = run(home, "retention", "run", "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    report = json.loads(dry.stdout)
    assert report["dry_run"] is True and report["totals"] == {"log_rows": 3, "feedback": 2, "reviews": 0}
    assert [t["target"] for t in report["targets"]] == ["people"]
    assert _rows(home) == {}  # a dry run compacts nothing

    done = run(home, "retention", "run", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["targets"][0] | {"before": None} == {
        "target": "people", "retention_days": 2, "before": None, "log_rows": 3, "feedback": 2, "reviews": 0,
    }  # fmt: skip
    assert _rows(home) == {"after": 1, "new": 3, "ancient": 2}
    again = run(home, "retention", "run")
    assert again.returncode == 0 and "people" in again.stdout and "0" in again.stdout

    services = open_home(home)
    try:
        left = {f.request_id for f in services.store.feedback.facts(target="people")}
        ticket = services.store.reviews.open(
            NewTicket("people", "people", 1, None, None, "new", "user:test", None, ["sample"], {}, {}, None, 60.0)
        )
        assert ticket.id.startswith("rv_")
        later = run_retention(home, services.store, actor="user:test", now=_at(now + 30 * DAY))
        entries = services.store.audit.list(AuditFilter(action="privacy.retention", limit=10))
    finally:
        services.close()
    assert left == {"after", "new"}
    assert later.totals() == {"log_rows": 4, "feedback": 2, "reviews": 1}
    assert _rows(home) == {"ancient": 2}
    assert [e.details["log_rows"] for e in entries] == [3, 4]  # oldest first
    assert all(e.resource == "people" and e.details["retention_days"] == 2 for e in entries)


def test_each_server_purges_on_its_schedule_and_over_http(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    build_home(home, ["people"], {"pii": MARKS, "retention_days": 1})
    now = time.time()
    _write_log(home, "people", [("stale", now - 3 * DAY, 2), ("fresh", now - 60, 1)])
    _feedback(home, "people", [("stale", now - 3 * DAY, 2)])
    server = start(home, ["people"], retention_interval_seconds="0.5")
    try:
        wait_for(lambda: _rows(home) == {"fresh": 1}, timeout=30)
        with server.client(timeout=30) as client:
            dry = client.post("/api/retention/run", json={"dry_run": True})
            assert dry.status_code == 200, dry.text
            assert dry.json()["totals"] == {"log_rows": 0, "feedback": 0, "reviews": 0}
            ran = client.post("/api/retention/run", json={})
            assert ran.status_code == 200 and ran.json()["targets"][0]["target"] == "people"
            for bad, words in (({"dry_run": 1}, "true or false"), ({"days": 3}, "unknown fields")):
                refused = client.post("/api/retention/run", json=bad)
                assert refused.status_code == 400 and words in refused.json()["error"]
    finally:
        server.stop()
    services = open_home(home)
    try:
        entries = services.store.audit.list(AuditFilter(action="privacy.retention", limit=10))
    finally:
        services.close()
    assert len(entries) == 1 and entries[0].actor == "system:retention"
    assert entries[0].details["log_rows"] == 2 and entries[0].details["feedback"] == 1


def _at(moment: float) -> datetime:
    return datetime.fromtimestamp(moment, UTC)
