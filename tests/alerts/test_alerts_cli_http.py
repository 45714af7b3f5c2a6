"""``shipyard alerts list|history|deliveries|check`` on a real home, and ``GET /api/alerts``
from a real server, scoped to what the caller may read."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression

from homes import open_home
from live_server import LiveServer, create_key
from shipyard.cli.main import cli
from shipyard.monitoring.alerts import AlertEngine, rules_from_settings

RULES = """\
webhooks:
  ops:
    url: https://93.184.215.14/hook
    secret_env: OPS_SECRET
rules:
  - name: drift-high
    target: "*"
    figure: drift.share
    op: ">"
    threshold: 0.3
    for: 5m
    notify: [log, ops]
  - name: accuracy-low
    target: lr
    figure: performance.accuracy
    op: "<"
    threshold: 0.9
"""
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def populate(home: Path) -> None:
    """lr firing on accuracy (its log line delivered), fraud pending on drift, lr's drift
    fired once and resolved (its webhook deliveries pending: no deliverer here)."""
    (home / "alerts.yaml").write_text(RULES)
    services = open_home(home)
    try:
        engine = AlertEngine(services.store.alerts, rules_from_settings(services.settings))
        engine.evaluate({("lr", "drift.share"): 0.9, ("lr", "performance.accuracy"): 0.5}, T0)
        engine.evaluate({("lr", "drift.share"): 0.9}, T0 + timedelta(minutes=5))
        engine.evaluate({("lr", "drift.share"): 0.1, ("fraud", "drift.share"): 0.8}, T0 + timedelta(minutes=6))
    finally:
        services.close()


@pytest.fixture
def alert_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    services = open_home(home)
    try:
        services.registry.register("lr", LogisticRegression().fit(X, X[:, 0] > 0), sample=X[:3], compile=False)
    finally:
        services.close()
    populate(home)
    monkeypatch.setenv("SHIPYARD_HOME", str(home))
    for name in ("SHIPYARD_CONFIG", "SHIPYARD_REGISTRY_URL", "SHIPYARD_ALERT_RULES_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return home


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_the_cli_lists_alerts_history_and_deliveries(alert_home: Path) -> None:
    code, out = run("alerts", "list", "--json")
    assert code == 0, out
    rules = {r["rule"]: r for r in json.loads(out)["rules"]}
    assert {(a["target"], a["state"]) for a in rules["drift-high"]["alerts"]} == {
        ("lr", "resolved"),
        ("fraud", "pending"),
    }
    assert [(a["target"], a["state"], a["value"]) for a in rules["accuracy-low"]["alerts"]] == [("lr", "firing", 0.5)]
    assert rules["drift-high"]["condition"] == "drift.share > 0.3" and rules["drift-high"]["for_seconds"] == 300

    code, out = run("alerts", "history", "--json")
    assert code == 0
    assert [(e["rule"], e["target"], e["kind"]) for e in json.loads(out)] == [
        ("drift-high", "lr", "resolved"),
        ("drift-high", "lr", "firing"),
        ("accuracy-low", "lr", "firing"),
    ]
    code, out = run("alerts", "history", "--rule", "accuracy-low", "--json")
    assert [e["rule"] for e in json.loads(out)] == ["accuracy-low"]

    # Evaluated without a deliverer: the webhooks wait, unclaimed, for a server to send them.
    code, out = run("alerts", "deliveries", "--status", "pending", "--json")
    pending = json.loads(out)
    assert {d["channel"] for d in pending} == {"webhook:ops"} and len(pending) == 2
    assert all(d["attempts"] == 0 and d["last_error"] is None for d in pending)
    code, out = run("alerts", "deliveries", "--json")
    assert len(json.loads(out)) == 5  # 3 log lines (delivered) + 2 webhooks

    for command, shown in (("list", "drift-high"), ("history", "drift-high"), ("deliveries", "webhook:ops")):
        code, out = run("alerts", command)
        assert code == 0 and shown in out, out


def test_alerts_check_names_the_bad_line(alert_home: Path, tmp_path: Path) -> None:
    code, out = run("alerts", "check")
    assert code == 0 and "2 rule(s), 1 webhook(s), valid" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text(RULES.replace('op: "<"', 'op: "less"'))
    code, out = run("alerts", "check", str(bad))
    assert code == 2
    assert "line 16" in out and "rules.1.op" in out and len(out.strip().splitlines()) <= 2
    code, out = run("alerts", "check", str(tmp_path / "absent.yaml"))
    assert code == 2 and "no alert rule file" in out


def test_get_api_alerts_from_a_real_server(alert_home: Path) -> None:
    other = create_key(alert_home, "viewer", ["fraud"])
    with LiveServer(alert_home, ["lr"]) as server:
        with server.client() as admin:
            answer = admin.get("/api/alerts")
            assert answer.status_code == 200, answer.text
            rules = {r["rule"]: r for r in answer.json()["rules"]}
            assert {a["target"] for a in rules["drift-high"]["alerts"]} == {"lr", "fraud"}
            assert rules["accuracy-low"]["alerts"][0]["state"] == "firing"
            spec = admin.get("/openapi.json").json()
            assert "/api/alerts" in spec["paths"] and "AlertList" in spec["components"]["schemas"]
        # A key that may read only fraud sees only fraud's alerts.
        narrow = httpx.get(server.url + "/api/alerts", headers={"Authorization": f"Bearer {other}"})
        assert narrow.status_code == 200
        narrowed = {r["rule"]: r for r in narrow.json()["rules"]}
        assert [a["target"] for a in narrowed["drift-high"]["alerts"]] == ["fraud"]
        assert narrowed["accuracy-low"]["alerts"] == []
        anonymous = httpx.get(server.url + "/api/alerts")
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
