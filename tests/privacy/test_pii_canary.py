"""THE PII CANARY: a unique value sent in the PII fields of requests (V2, V1, MLflow JSON and
CSV), in refused requests, in feedback attributes and in a held prediction never appears,
byte for byte (UTF-8, UTF-16, percent- or JSON-escaped), in any file under SHIPYARD_HOME
(registry database and its WAL, segments, spill, Parquet, the server's own log), in any
answer, in the CLI's output or in an export."""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pyarrow.parquet as pq
from privacy_support import build_home, cli, files_holding, forms, infer_all, start, v2_body

from shipyard.fs.pii_key import load_or_create
from shipyard.governance.pii import pseudonymise

MARKS = {"email": "hash", "name": "drop"}
MARKS_AND_X = ("email", "name", "x")


def test_the_pii_canary_never_reaches_disk_logs_answers_or_exports(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    canary = f"Zoë.{secrets.token_hex(8)}@canary.example"
    other = f"Zoë.{secrets.token_hex(8)}@canary.example"
    needles = {**forms(canary), **{f"other {k}": v for k, v in forms(other).items()}}
    build_home(home, ["people"], {"pii": MARKS, "retention_days": 3650})  # the retention run compacts
    build_home(home, ["held"], {"pii": MARKS, "review": {"rules": [{"kind": "sample", "rate": 1.0}]}})
    answers: list[httpx.Response] = []
    server = start(home, ["people", "held"])
    try:
        rows = [{"email": canary, "name": canary, "x": 1.0}, {"email": "bob@example.com", "name": "Bob", "x": -1.0}]
        ids = infer_all(server, "people", rows, key="subject-1")
        with server.client(timeout=30) as client:
            refused = [
                client.post("/v2/models/people/infer", json={"inputs": [
                    {"name": "email", "datatype": "BYTES", "shape": [1], "data": [canary]},
                    {"name": "name", "datatype": "BYTES", "shape": [1], "data": [canary]},
                    {"name": "x", "datatype": "BYTES", "shape": [1], "data": [canary]},
                ]}),
                client.post("/v2/models/people/infer", json={"inputs": [
                    {"name": "email", "datatype": "FP64", "shape": [1], "data": [canary]},
                ]}),
                client.post("/v1/models/people:predict", json={"instances": [dict.fromkeys(MARKS_AND_X, canary)]}),
                client.post("/v1/models/people:predict", json={"instances": [{"email": 5, "name": canary}]}),
                client.post("/v1/models/people:predict", json={"instances": [[canary, canary]]}),
                client.post("/models/people/invocations", content=f"email,name,x\n{canary},{canary},{canary}\n",
                            headers={"Content-Type": "text/csv"}),
                client.post("/models/people/invocations", json={"inputs": {"email": [canary], "x": [{canary: 1}]}}),
                client.post("/v2/models/people/infer", content=b'{"inputs": [{"name": "' + canary.encode() + b'"'),
            ]  # fmt: skip
            for answer in refused:
                assert 400 <= answer.status_code < 500, answer.text
            answers += refused
            failing = client.post("/v2/models/people/infer", json=v2_body([{"email": canary, "name": canary, "x": 99}]))
            assert failing.status_code == 500, failing.text
            answers.append(failing)
            # Feedback: attributes marked hash (email) and drop (name), and a conflicting one.
            given = client.post(
                "/feedback",
                json={"request_id": ids[0], "row": 0, "label": 1.0, "attributes": {"email": canary, "name": canary}},
            )
            assert given.status_code == 201, given.text
            assert "email" in given.json()["attributes"] and "name" not in given.json()["attributes"]
            conflict = client.post("/feedback", json={"request_id": ids[0], "row": 0, "attributes": {"email": other}})
            assert conflict.status_code == 409, conflict.text
            by_key = client.post(
                "/feedback", json={"key": "subject-1", "row": 0, "attributes": {"email": canary, "name": other}}
            )
            assert by_key.status_code in (200, 201), by_key.text
            answers += [given, conflict, by_key, client.get(f"/feedback/{ids[0]}")]
            # A held prediction: its review ticket keeps the minimised inputs.
            held = client.post("/v2/models/held/infer", json=v2_body(rows))
            assert held.status_code == 202, held.text
            answers.append(held)
            answers.append(client.get(f"/reviews/{held.json()['ticket']}"))
            # Erasure by the canary's value is answered with counts, never the value.
            dry = client.post("/api/erasure", json={"field": "email", "value": canary, "dry_run": True})
            assert dry.status_code == 200, dry.text
            answers.append(dry)
    finally:
        server.stop()
    for answer in answers:
        assert not any(n in answer.content for n in needles.values()), answer.text

    # Exports before compaction (from segments), compaction, exports after (from Parquet).
    outputs: list[str] = []
    exports = tmp_path / "exports"
    exports.mkdir()
    for stage in ("segments", "parquet"):
        for fmt in ("csv", "parquet"):
            out = exports / f"{stage}.{fmt}"
            done = cli(home, "logs", "export", "--format", fmt, "--out", str(out))
            assert done.returncode == 0, done.stderr
            outputs += [done.stdout, done.stderr]
        for args in (("logs", "query", "--json", "--limit", "100"), ("logs", "explain", ids[0], "--json")):
            done = cli(home, *args)
            assert done.returncode == 0, done.stderr
            outputs += [done.stdout, done.stderr]
        if stage == "segments":
            done = cli(home, "retention", "run", "--json")
            assert done.returncode == 0, done.stderr
            outputs += [done.stdout, done.stderr]
            assert list((home / "predlog" / "parquet").rglob("*.parquet"))
    assert not list((home / "predlog" / "segments").glob("*.seg"))

    # What was logged: the pseudonym of the canary, never the canary; no name column at all.
    table = pq.read_table(exports / "parquet.parquet")
    assert "in.name" not in table.column_names
    pseudonym = pseudonymise(canary, load_or_create(home / "pii.key"))
    people = table.filter(pc.and_(pc.equal(table.column("model"), "people"), pc.equal(table.column("status"), 200)))
    assert people.num_rows == 8  # 4 requests of 2 rows each
    assert people.column("in.email").to_pylist().count(pseudonym) == 4

    server_log = server.log_path.read_text(errors="replace")
    assert "ValueError (message not logged)" in server_log  # the failure was logged, its text was not
    assert '"status": 400' in server_log or "400" in server_log  # access log lines were written
    assert files_holding(home, needles) == []
    assert files_holding(exports, needles) == []
    for text in outputs:
        assert not any(n in text.encode() for n in needles.values()), text[:2000]
