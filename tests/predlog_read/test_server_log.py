"""The read path against a real server, on SQLite and PostgreSQL: its log compacted while it
serves, labels given after compaction (late) joined to the logged rows, and the
``shipyard logs`` and ``shipyard feedback`` commands on the same home."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from live_server import LiveServer
from postgres_db import pg_schema_url
from prediction_homes import build_home, post, predict, start_server, wait_for
from shipyard.cli.main import cli
from shipyard.monitoring.predlog.query import LogFilter, join_feedback, read_rows, read_window
from shipyard.registry.sql import RegistryStore


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home: Path = tmp_path_factory.mktemp(f"readback-{request.param}")
    url = None
    if request.param == "postgres":
        url = pg_schema_url(request.getfixturevalue("pg_user"), request.getfixturevalue("pg_database"))
    build_home(home, url)
    live = start_server(home, url, log_compact_seconds="1", log_mode="sync")
    try:
        yield live
    finally:
        live.stop()


def shipyard(server: LiveServer, *args: str) -> Result:
    options = ["--home", str(server.home)]
    if "registry_url" in server.settings:
        options += ["--registry-url", server.settings["registry_url"]]
    return CliRunner().invoke(cli, [*options, *args], catch_exceptions=False)


def _compacted(server: LiveServer, ids: list[str]) -> bool:
    segments = server.home / "predlog" / "segments"
    if list(segments.glob("*.seg")):
        return False
    table = read_rows(server.home, LogFilter(target="clf"), columns=["request_id"])
    return set(ids) <= set(table.column("request_id").to_pylist()) and any(
        (server.home / "predlog" / "parquet").rglob("*.parquet")
    )


def _store(server: LiveServer) -> RegistryStore:
    return RegistryStore(server.settings.get("registry_url") or f"sqlite:///{server.home / 'registry.db'}")


def test_compaction_while_serving_and_late_labels(server: LiveServer) -> None:
    started = time.time()
    ids = [predict(server, "clf", rows=2, seed=100 + i)[0] for i in range(6)]
    wait_for(lambda: _compacted(server, ids), timeout=30)
    parts = list((server.home / "predlog" / "parquet").rglob("*.parquet"))
    assert any("target=clf" in str(p) for p in parts)
    # Labels given after the rows reached Parquet are still joined to them.
    for i, rid in enumerate(ids):
        response = post(server, {"request_id": rid, "row": 1, "label": i % 2, "outcomes": {"revenue": float(i)}})
        assert response.status_code == 201, response.text
    window = read_window(server.home, "clf", started - 1, time.time() + 1)
    mine = window.filter(pc.is_in(window.column("request_id"), pa.array(ids)))
    assert mine.num_rows == 12
    assert {"in.x0", "in.x1", "in.x2", "in.x3", "out.predict", "out.predict_proba"} <= set(mine.column_names)
    store = _store(server)
    try:
        facts = store.feedback.facts(target="clf")
    finally:
        store.close()
    joined = join_feedback(mine, facts).to_pylist()
    labelled = {(r["request_id"], r["row"]): (r["label"], r["outcome.revenue"]) for r in joined}
    for i, rid in enumerate(ids):
        assert labelled[(rid, 1)] == (i % 2, float(i))
        assert labelled[(rid, 0)] == (None, None)


def test_logs_query_export_and_explain(server: LiveServer, tmp_path: Path) -> None:
    rid, answer = predict(server, "clf", rows=3, seed=7, key="basket-9")
    assert post(server, {"request_id": rid, "row": 2, "label": 1, "attributes": {"group": "b"}}).status_code == 201
    result = shipyard(server, "logs", "query", "--request-id", rid, "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["rows"]
    assert [(r["request_id"], r["row"], r["model"], r["version"], r["key"]) for r in rows] == [
        (rid, i, "clf", 1, "basket-9") for i in range(3)
    ]
    predicted = next(o for o in answer["outputs"] if o["name"] == "predict")["data"]
    assert [r["out.predict"] for r in rows] == predicted
    table = shipyard(server, "logs", "query", "--model", "clf", "--since", "-1h", "--limit", "5")
    assert table.exit_code == 0
    assert "logged prediction rows" in table.output
    assert rid in table.output
    # Export: Parquet and CSV hold the same rows.
    out_parquet, out_csv = tmp_path / "log.parquet", tmp_path / "log.csv"
    for fmt, out in (("parquet", out_parquet), ("csv", out_csv)):
        exported = shipyard(server, "logs", "export", "--format", fmt, "--out", str(out), "--model", "clf")
        assert exported.exit_code == 0, exported.output
    parquet_rows = pq.read_table(out_parquet)
    csv_rows = pcsv.read_csv(out_csv)
    assert parquet_rows.num_rows == csv_rows.num_rows > 0
    assert rid in parquet_rows.column("request_id").to_pylist()
    assert json.loads(csv_rows.column("out.predict_proba")[0].as_py())[0] >= 0
    # Explain: the prediction, its feedback and its version's lineage.
    explained = shipyard(server, "logs", "explain", rid, "--json")
    assert explained.exit_code == 0, explained.output
    body = json.loads(explained.output)
    assert body["prediction"]["request_id"] == rid
    assert body["prediction"]["outputs"]["predict"] == predicted
    assert body["feedback"][0]["row"] == 2
    assert body["feedback"][0]["attributes"] == {"group": "b"}
    lineage = body["lineage"]
    store = _store(server)
    try:
        version = store.get_version("clf", 1)
    finally:
        store.close()
    assert lineage["version"] == "clf/1"
    assert lineage["artifact_sha256"] == version.artifact.sha256
    assert lineage["training_data"]["sha256"] == version.lineage.training_data.sha256  # type: ignore[union-attr]
    assert lineage["training_data"]["rows"] == 120
    assert lineage["reference_profile"]["rows"] == 120
    assert lineage["metrics"] == {"accuracy": 0.93}
    shown = shipyard(server, "logs", "explain", rid)
    assert shown.exit_code == 0
    assert "lineage of clf/1" in shown.output
    assert version.artifact.sha256 in shown.output


def test_logs_commands_refuse_bad_input(server: LiveServer) -> None:
    missing = shipyard(server, "logs", "explain", "no-such-request")
    assert missing.exit_code == 3
    assert "no logged prediction" in missing.output
    assert shipyard(server, "logs", "explain", "bad id").exit_code == 2
    assert shipyard(server, "logs", "query", "--since", "yesterday").exit_code == 2
    assert shipyard(server, "logs", "query", "--since", "-1h", "--until", "-2h").exit_code == 2
    assert shipyard(server, "logs", "export", "--format", "xml", "--out", "x").exit_code == 2


def test_feedback_command_here_and_through_the_server(server: LiveServer, tmp_path: Path) -> None:
    rid, _ = predict(server, "clf", seed=11, key="cart-1")
    here = shipyard(server, "feedback", rid, "--outcome", "revenue=12.5", "--attribute", "group=a", "--json")
    assert here.exit_code == 0, here.output
    recorded: dict[str, Any] = json.loads(here.output)
    assert (recorded["created"], recorded["outcomes"], recorded["attributes"]) == (
        True,
        {"revenue": 12.5},
        {"group": "a"},
    )
    key_file = tmp_path / "key"
    key_file.write_text(str(server.api_key) + "\n")
    remote = shipyard(
        server, "feedback", "--key", "cart-1", "--label", "1", "--url", server.url, "--api-key-file", str(key_file)
    )
    assert remote.exit_code == 0, remote.output
    assert f"Recorded: label=1, revenue=12.5, group=a for request {rid} row 0" in remote.output
    again = shipyard(server, "feedback", rid, "--label", "1")
    assert again.exit_code == 0
    assert again.output.startswith("Already recorded")
    conflict = shipyard(server, "feedback", rid, "--label", "0")
    assert conflict.exit_code == 4
    wrong_type = shipyard(server, "feedback", rid, "--label", "yes")
    assert wrong_type.exit_code == 2
    assert "must be an integer" in wrong_type.output
    assert shipyard(server, "feedback", rid, "--value", "abc").exit_code == 2
    assert shipyard(server, "feedback", rid, "--outcome", "revenue").exit_code == 2
    assert shipyard(server, "feedback", "--label", "1").exit_code == 2
    assert shipyard(server, "feedback", "--key", "cart-1", "--label", "1").exit_code == 2  # here: whose key?
    assert shipyard(server, "feedback", "nope-nope", "--label", "1").exit_code == 3
