"""``/api/controls/{target}`` and ``shipyard controls``: admins set PII marks, review rules,
guardrails and retention per model or deployment; every bad input is a 4xx or one CLI line."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from privacy_support import run as cli

from live_server import LiveServer
from prediction_homes import key_for


def test_an_admin_sets_reads_and_deletes_controls_audited(people_server: LiveServer) -> None:
    with people_server.client(timeout=30) as client:
        body = {"controls": {"pii": {"email": "hash", "phone": "drop"}, "retention_days": 30}, "reason": "DPIA 7"}
        put = client.put("/api/controls/crm", json=body)
        assert put.status_code == 200, put.text
        assert put.json()["controls"]["pii"] == {"email": "hash", "phone": "drop"}
        assert put.json()["revision"] == 1
        again = client.put("/api/controls/crm", json={"controls": {"pii": {"email": "keep"}}})
        assert again.json()["revision"] == 2
        got = client.get("/api/controls/crm")
        assert got.status_code == 200 and got.json()["controls"] == {"pii": {"email": "keep"}}
        assert client.delete("/api/controls/crm").status_code == 204
        assert client.get("/api/controls/crm").status_code == 404
        assert client.delete("/api/controls/crm").status_code == 404
    audit = cli(people_server.home, "audit", "list", "--json", "--limit", "50")
    assert audit.returncode == 0, audit.stderr
    assert audit.stdout.count("controls.set") >= 2 and "controls.delete" in audit.stdout


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"not json", 400, "not valid JSON"),
        (b"[1]", 400, "JSON object"),
        (b"{}", 400, '"controls" is required'),
        (b'{"controls": {}, "extra": 1}', 400, "unknown fields: extra"),
        (b'{"controls": []}', 400, "mapping"),
        (b'{"controls": {"pii": {"email": "encrypt"}}}', 400, "pii.email"),
        (b'{"controls": {"pii": {"": "hash"}}}', 400, "PII mark"),
        (b'{"controls": {"retention_days": 0}}', 400, "retention_days"),
        (b'{"controls": {"retention_days": 1.5}}', 400, "retention_days"),
        (b'{"controls": {"colour": "red"}}', 400, "colour"),
        (b'{"controls": {}, "reason": 5}', 400, "reason"),
    ],
)
def test_bad_controls_are_refused(people_server: LiveServer, body: bytes, status: int, words: str) -> None:
    answer = httpx.put(
        f"{people_server.url}/api/controls/crm",
        content=body,
        headers={**people_server.auth_headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert answer.status_code == status, answer.text
    assert set(answer.json()) >= {"error", "code"}
    assert words in answer.json()["error"]


def test_controls_need_their_scopes(people_server: LiveServer) -> None:
    viewer = key_for(people_server, "viewer")
    publisher = key_for(people_server, "publisher")
    narrow = key_for(people_server, "viewer", ("other*",))
    body = {"controls": {"pii": {"email": "hash"}}}
    with httpx.Client(base_url=people_server.url, timeout=30) as client:
        assert client.get("/api/controls/people", headers={"Authorization": f"Bearer {viewer}"}).status_code == 200
        assert client.get("/api/controls/people", headers={"Authorization": f"Bearer {narrow}"}).status_code == 403
        assert client.get("/api/controls/people").status_code == 401
        for token in (viewer, publisher):
            refused = client.put("/api/controls/people", json=body, headers={"Authorization": f"Bearer {token}"})
            assert refused.status_code == 403, refused.text
            gone = client.delete("/api/controls/people", headers={"Authorization": f"Bearer {token}"})
            assert gone.status_code == 403
        bad_name = client.get("/api/controls/..%2Fetc", headers=people_server.auth_headers)
        assert 400 <= bad_name.status_code < 500


def test_the_cli_sets_shows_lists_and_deletes(people_server: LiveServer, tmp_path: Path) -> None:
    home = people_server.home
    document = tmp_path / "controls.yaml"
    document.write_text("pii:\n  email: hash\nretention_days: 7\n")
    done = cli(home, "controls", "set", "clinic", "-f", str(document), "--reason", "DPIA")
    assert done.returncode == 0, done.stderr
    done = cli(home, "controls", "set", "clinic", "--pii", "name=drop", "--retention-days", "14", "--json")
    assert done.returncode == 0, done.stderr
    assert (
        '"name": "drop"' in done.stdout and '"retention_days": 14' in done.stdout and '"email": "hash"' in done.stdout
    )
    shown = cli(home, "controls", "show", "clinic")
    assert shown.returncode == 0 and "email: hash" in shown.stdout and "revision 2" in shown.stdout
    listed = cli(home, "controls", "list")
    assert listed.returncode == 0 and "clinic" in listed.stdout and "name=drop" in listed.stdout
    assert cli(home, "controls", "set", "clinic", "--no-retention").returncode == 0
    assert "retention_days" not in cli(home, "controls", "show", "clinic", "--json").stdout
    assert cli(home, "controls", "delete", "clinic").returncode == 0
    missing = cli(home, "controls", "show", "clinic")
    assert missing.returncode != 0 and missing.stderr.startswith("error: ")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("controls", "set", "clinic"), "say what to set"),
        (("controls", "set", "clinic", "--pii", "email"), "FIELD=drop|hash|keep"),
        (("controls", "set", "clinic", "--pii", "email=encrypt"), "FIELD=drop|hash|keep"),
        (("controls", "set", "clinic", "--retention-days", "3", "--no-retention"), "contradict"),
        (("controls", "set", "clinic", "-f", "/nonexistent/controls.yaml"), "no such file"),
        (("controls", "set", "bad/name", "--pii", "email=hash"), "error: "),
        (("controls", "delete", "never-set"), "has no controls"),
    ],
)
def test_bad_cli_input_is_one_line_and_a_failing_exit(
    people_server: LiveServer, args: tuple[str, ...], words: str
) -> None:
    done = cli(people_server.home, *args)
    assert done.returncode != 0
    assert words in done.stderr
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr


def test_bad_yaml_names_the_line(people_server: LiveServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("pii:\n  email: hash\n   name: [\n")
    done = cli(people_server.home, "controls", "set", "clinic", "-f", str(bad))
    assert done.returncode != 0 and "not valid YAML (line" in done.stderr
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("pii:\n  email: scramble\n")
    done = cli(people_server.home, "controls", "set", "clinic", "-f", str(wrong))
    assert done.returncode != 0 and "pii.email" in done.stderr
