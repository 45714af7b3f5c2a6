"""Erasure by subject (``POST /api/erasure``, ``shipyard erase``): by prediction key and by a
field's value, across the prediction log (open segments at compaction, sealed segments,
Parquet), feedback and review tickets; audited and reported with counts."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from privacy_support import build_home, infer_all, run, start, v2_body

from homes import open_home
from live_server import LiveServer
from prediction_homes import key_for
from shipyard.fs.pii_key import load_or_create
from shipyard.governance.pii import digest, pseudonymise
from shipyard.registry.sql.audit import AuditFilter

ANN = [{"email": "ann@example.com", "name": "Ann", "x": 1.0}, {"email": "ann@example.com", "name": "Ann", "x": -1.0}]
BOB = [{"email": "bob@example.com", "name": "Bob", "x": 2.0}]
CAROL = [{"email": "carol@example.com", "name": "Carol", "x": 3.0}]
DAVE = [{"email": "dave@example.com", "name": "Dave", "x": 4.0}]


def _feedback(server: LiveServer, body: dict[str, object]) -> None:
    answer = httpx.post(f"{server.url}/feedback", json=body, headers=server.auth_headers, timeout=30)
    assert answer.status_code == 201, answer.text


def _export(home: Path, tmp_path: Path) -> object:
    out = tmp_path / "all.parquet"
    done = run(home, "logs", "export", "--format", "parquet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return pq.read_table(out)


def test_erasure_by_key_and_by_field_everywhere_with_counts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    build_home(home, ["people"], {"pii": {"email": "hash", "name": "drop"}})
    build_home(home, ["held"], {"pii": {"email": "hash"}, "review": {"rules": [{"kind": "sample", "rate": 1.0}]}})
    server = start(home, ["people", "held"], log_compact_seconds="3600")
    try:
        ann = infer_all(server, "people", ANN, key="subject-1")  # 4 requests of 2 rows (+ 2 held below)
        bob = infer_all(server, "people", BOB, key="subject-2")  # 4 requests of 1 row
        carol = infer_all(server, "people", CAROL, key="subject-3")
        infer_all(server, "people", DAVE)  # nobody erases dave
        _feedback(server, {"request_id": ann[0], "row": 0, "label": 1.0, "attributes": {"email": "ann@example.com"}})
        _feedback(server, {"request_id": ann[1], "row": 1, "label": 0.0})
        _feedback(server, {"request_id": bob[0], "row": 0, "label": 1.0, "attributes": {"segment": "b"}})
        _feedback(
            server, {"request_id": carol[0], "row": 0, "label": 1.0, "attributes": {"email": "carol@example.com"}}
        )
        held = httpx.post(
            f"{server.url}/v2/models/held/infer",
            json=v2_body(ANN),
            headers={**server.auth_headers, "X-Prediction-Key": "subject-1"},
            timeout=30,
        )
        assert held.status_code == 202, held.text
        ticket = held.json()["ticket"]
        with server.client(timeout=60) as client:
            dry = client.post("/api/erasure", json={"key": "subject-1", "dry_run": True})
            assert dry.status_code == 200, dry.text
            assert dry.json() | {"subject_hash": None} == {
                "kind": "key", "field": None, "subject_hash": None, "log_rows": 10, "pending_rows": 0,
                "feedback": 3, "reviews": 1, "dry_run": True,
            }  # fmt: skip
            # While serving: the rows are in the live writer's open segment, erased at compaction.
            done = client.post("/api/erasure", json={"key": "subject-1", "reason": "GDPR art. 17 #12"})
            assert done.status_code == 200, done.text
            report = done.json()
            assert (report["log_rows"], report["pending_rows"], report["feedback"], report["reviews"]) == (0, 10, 3, 1)
            assert client.get(f"/feedback/{ann[0]}").json()["feedback"] == []  # its record waits for compaction
            assert client.get(f"/reviews/{ticket}").status_code == 404
            assert len(client.get(f"/feedback/{bob[0]}").json()["feedback"]) == 1
    finally:
        server.stop()
    key = load_or_create(home / "pii.key")
    assert report["subject_hash"] == digest("subject-1", key)

    # Offline: subject-2 by the CLI; compaction drops subject-1's rows (the pending erasure) and
    # subject-2's, counted as erased; then carol by her email, now in Parquet.
    by_key = run(home, "erase", "--key", "subject-2", "--json")
    assert by_key.returncode == 0, by_key.stderr
    assert {k: v for k, v in json.loads(by_key.stdout).items() if k != "subject_hash"} == {
        "kind": "key", "field": None, "log_rows": 14, "pending_rows": 0, "feedback": 2, "reviews": 0, "dry_run": False,
    }  # fmt: skip
    table = _export(home, tmp_path)
    keys = table.column("key").to_pylist()
    assert (
        "subject-1" not in keys and "subject-2" not in keys and keys.count("subject-3") == 4 and keys.count(None) == 4
    )
    by_field = run(home, "erase", "--field", "email", "--value", "carol@example.com", "--json")
    assert by_field.returncode == 0, by_field.stderr
    counts = json.loads(by_field.stdout)
    assert (counts["log_rows"], counts["feedback"], counts["reviews"]) == (4, 2, 0)
    assert counts["subject_hash"] == digest("carol@example.com", key)
    table = _export(home, tmp_path)
    assert table.column("in.email").to_pylist() == [pseudonymise("dave@example.com", key)] * 4
    assert table.column("key").to_pylist() == [None] * 4
    assert table.filter(pc.equal(table.column("status"), 200)).num_rows == 4
    again = run(home, "erase", "--field", "email", "--value", "carol@example.com", "--json")
    assert json.loads(again.stdout)["log_rows"] == 0

    # Audited with counts, never the subject; recorded in `erasures` by its HMAC.
    services = open_home(home)
    try:
        recorded = services.store.privacy.erasures()
        entries = services.store.audit.list(AuditFilter(action="privacy.erase", limit=50))
    finally:
        services.close()
    assert [e.counts["log_rows"] for e in recorded] == [0, 4, 14, 0]  # newest first
    assert [e.counts["feedback"] for e in recorded] == [0, 2, 2, 3]
    assert len(entries) == 4 and {e.reason for e in entries} == {None, "GDPR art. 17 #12"}
    stored = json.dumps([[e.details, e.resource] for e in entries] + [e.to_dict() for e in recorded])
    for subject in ("carol@example.com", "subject-1", "subject-2"):
        assert subject not in stored
    assert all({"log_rows", "feedback", "reviews", "subject_hash"} <= set(e.details) for e in entries)


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "name the subject"),
        ({"key": "a b"}, "prediction key is"),
        ({"key": 5}, "prediction key is"),
        ({"key": "k", "field": "email", "value": "Zx9-secret"}, "one of them"),
        ({"key": "k", "value": "Zx9-secret"}, "a value goes with a field"),
        ({"field": "email"}, "needs the value"),
        ({"field": "email", "value": {"a": 1}}, "string, a number"),
        ({"field": "email", "value": True}, "string, a number"),
        ({"field": "email", "value": ""}, "1 to 4096"),
        ({"field": "", "value": "Zx9-secret"}, "a field is a name"),
        ({"field": "e\nmail", "value": "Zx9-secret"}, "a field is a name"),
        ({"key": "k", "dry_run": "yes"}, '"dry_run" is true or false'),
        ({"key": "k", "reason": 5}, '"reason"'),
        ({"key": "k", "subject": "x"}, "unknown fields: subject"),
    ],
)
def test_bad_erasure_requests_are_refused_without_echoing(
    people_server: LiveServer, body: dict[str, object], words: str
) -> None:
    answer = httpx.post(f"{people_server.url}/api/erasure", json=body, headers=people_server.auth_headers, timeout=30)
    assert answer.status_code == 400, answer.text
    assert words in answer.json()["error"] and answer.json()["code"]
    value = body.get("value")
    if isinstance(value, str) and value:
        assert value not in answer.text


def test_erasure_and_retention_need_the_admin_scope(people_server: LiveServer) -> None:
    for role in ("viewer", "publisher", "deployer", "approver", "auditor"):
        token = key_for(people_server, role)
        headers = {"Authorization": f"Bearer {token}"}
        erase = httpx.post(f"{people_server.url}/api/erasure", json={"key": "k"}, headers=headers, timeout=30)
        assert erase.status_code == 403, (role, erase.text)
        purge = httpx.post(f"{people_server.url}/api/retention/run", json={}, headers=headers, timeout=30)
        assert purge.status_code == 403, (role, purge.text)
    assert httpx.post(f"{people_server.url}/api/erasure", json={"key": "k"}, timeout=30).status_code == 401


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "name the subject"),
        (("--field", "email"), "--field needs --value"),
        (("--value", "x"), "--value goes with --field"),
        (("--key", "has space"), "prediction key is"),
        (("--key", "k", "--field", "email", "--value", "v"), "one of them"),
    ],
)
def test_bad_cli_erasures_are_one_line(people_server: LiveServer, args: tuple[str, ...], words: str) -> None:
    done = run(people_server.home, "erase", *args)
    assert done.returncode != 0
    assert done.stderr.startswith("error: ") and words in done.stderr and "Traceback" not in done.stderr
