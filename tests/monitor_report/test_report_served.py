"""End to end on a real server: requests are logged, feedback is posted to /feedback, the
server's monitor task sets the Prometheus gauges and drives the alert rules, and
``shipyard monitor summary|report`` read the same log into a table, JSON and an HTML report
that a real Chromium renders."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from report_browser import assert_clean, assert_plots_have_data, open_report
from report_support import HOSTILE, MODEL, frame, give_feedback, register, send, send_bad, serve

from homes import open_home
from live_server import LiveServer
from shipyard.cli.main import cli
from shipyard.monitoring.reference import drift_against_reference

RULES = """
rules:
  - name: scoring-accuracy
    target: scoring
    figure: performance.accuracy
    op: "<"
    threshold: 0.99
    for: 0s
  - name: scoring-latency-2h
    target: scoring
    figure: latency.p95_ms
    op: ">"
    threshold: 0
    window: 2h
    for: 0s
  - name: scoring-errors
    target: scor*
    figure: traffic.error_rate
    op: ">"
    threshold: 0.01
    for: 0s
  - name: scoring-unseen
    target: scoring
    figure: quality.plan.unseen_share
    op: ">"
    threshold: 0.9
    for: 0s
"""


@dataclass
class Served:
    home: Path
    server: LiveServer
    requests: int
    errors: int
    pairs: list[tuple[int, int]]
    inputs: pd.DataFrame

    @property
    def accuracy(self) -> float:
        return sum(label == predicted for label, predicted in self.pairs) / len(self.pairs)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("served") / "home"
    register(home)
    (home / "alerts.yaml").write_text(RULES, encoding="utf-8")
    with serve(home) as server, server.client() as client:
        sent = send(client, frame(200, 1)) + send(client, frame(100, 2, shift=15, plans=("basic", "pro", HOSTILE)))
        send_bad(client, 5)
        pairs = give_feedback(client, sent[:30], groups=("north", "south", HOSTILE))
        inputs = pd.concat([s.data for s in sent], ignore_index=True)
        yield Served(home, server, requests=len(sent) + 5, errors=5, pairs=pairs, inputs=inputs)


def gauge(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name) : line.index("}") + 1]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_for_gauge(server: LiveServer, name: str, expected: float, timeout: float = 30.0, **labels: str) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    with server.client() as client:
        while time.monotonic() < deadline:
            text = client.get("/metrics").text
            value = gauge(text, name, **labels)
            if value is not None and value == pytest.approx(expected):
                return text
            time.sleep(0.3)
    raise AssertionError(
        f"{name}{labels} never became {expected}:\n"
        + "\n".join(
            line for line in text.splitlines() if line.startswith("shipyard_") and not line.startswith("shipyard_http")
        )[-4000:]
    )


def test_the_monitor_sets_the_gauges_from_the_log_and_the_feedback(served: Served) -> None:
    text = wait_for_gauge(
        served.server, "shipyard_performance", served.accuracy, target=MODEL, version="1", metric="accuracy"
    )
    assert gauge(text, "shipyard_performance", target=MODEL, metric="rows") is None  # counts are not gauges here
    unseen = gauge(text, "shipyard_data_quality", target=MODEL, version="1", figure="plan.unseen_share")
    assert unseen is not None and 0.0 < unseen < 1.0  # the hostile plan was never seen in training
    assert gauge(text, "shipyard_data_quality", target=MODEL, version="1", figure="max_missing_rate") == 0.0
    fairness = gauge(text, "shipyard_fairness", target=MODEL, version="1", figure="demographic_parity_difference")
    assert fairness is not None and 0.0 <= fairness <= 1.0
    estimate = gauge(text, "shipyard_performance_estimate", target=MODEL, version="1", metric="accuracy")
    assert estimate is not None and 0.0 <= estimate <= 1.0
    share = gauge(text, "shipyard_drift_share", target=MODEL, version="1")
    assert share is not None and share > 0  # a third of the traffic is shifted
    assert gauge(text, "shipyard_drift_score", target=MODEL, version="1", column="age") is not None
    last = gauge(text, "shipyard_monitor_last_run_timestamp_seconds", target=MODEL)
    assert last is not None and abs(last - time.time()) < 60


def test_the_monitor_evaluates_the_alert_rules(served: Served) -> None:
    deadline = time.monotonic() + 30
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        services = open_home(served.home)
        try:
            states = {s.rule: s.state for s in services.store.alerts.states()}
        finally:
            services.close()
        if all(states.get(r) == "firing" for r in ("scoring-accuracy", "scoring-latency-2h", "scoring-errors")):
            break
        time.sleep(0.5)
    assert states.get("scoring-accuracy") == "firing", states  # accuracy below 0.99
    assert states.get("scoring-latency-2h") == "firing", states  # computed over the rule's own 2h window
    assert states.get("scoring-errors") == "firing", states  # 5 bad requests of 65
    assert states.get("scoring-unseen") in ("inactive", None), states  # 0.9 is not reached
    assert "scoring-accuracy" in served.server.log()  # the log channel


def run(home: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--home", str(home), *args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_summary_json_matches_what_was_sent(served: Served) -> None:
    code, out, err = run(served.home, "monitor", "summary", MODEL, "--window", "1d", "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["target"] == MODEL
    assert summary["total"]["requests"] == served.requests
    assert summary["total"]["errors"] == served.errors
    assert summary["total"]["rows"] == 300
    figures = summary["figures"]
    assert figures["performance.accuracy"] == pytest.approx(served.accuracy)
    assert figures["performance.rows"] == len(served.pairs)
    assert figures["outcome.revenue.count"] == len(served.pairs)
    assert figures["traffic.error_rate"] == pytest.approx(served.errors / served.requests)
    # The log charges every request the worker CPU it used, so the cost figures exist.
    assert 0 < figures["cost.cpu_seconds_per_1000"] < 1000
    (traffic,) = summary["traffic"]  # the bad requests were refused by version 1's signature
    assert (traffic["version"], traffic["variant"], traffic["errors"]) == (1, None, served.errors)
    # Drift equals drift_report of the rows sent against the version's registered reference.
    services = open_home(served.home)
    try:
        expected = drift_against_reference(services.registry, MODEL, 1, served.inputs).to_dict()
    finally:
        services.close()
    (version,) = summary["versions"]
    assert figures["drift.share"] == expected["share_of_drifted_columns"] > 0
    for column in ("age", "income", "plan"):
        assert version["drift"]["columns"][column]["score"] == pytest.approx(expected["columns"][column]["score"])
    assert set(version["distributions"]) == {"age", "income", "plan"}
    assert HOSTILE in version["distributions"]["plan"]["bins"]


def test_summary_table(served: Served) -> None:
    code, out, err = run(served.home, "monitor", "summary", MODEL, "--window", "1d")
    assert code == 0, err
    assert f"{MODEL}: traffic over the last 1d" in out
    assert re.search(r"all\s+│\s+│\s+" + str(served.requests), out)
    assert "performance.accuracy" in out


def test_report_renders_in_chromium_with_data(served: Served, tmp_path: Path) -> None:
    out = tmp_path / "scoring.html"
    code, stdout, err = run(served.home, "monitor", "report", MODEL, "--window", "1d", "--out", str(out))
    assert code == 0, err
    assert f"wrote {out}" in stdout
    opened = open_report(out)
    assert_clean(opened, out)
    assert_plots_have_data(opened, at_least=7)
    ids = {p["id"] for p in opened.plots}
    assert {
        "plot-traffic",
        "plot-latency",
        "plot-performance",
        "plot-outcomes",
        "plot-fairness-v1",
        "plot-quality-v1",
    } <= ids
    assert {"plot-dist-1-0", "plot-dist-1-1", "plot-dist-1-2"} <= ids
    assert opened.images == 0 and HOSTILE in opened.text  # the category is shown, never run


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["summary", "nope"], 3, "no model or deployment named 'nope'"),
        (["report", "nope"], 3, "no model or deployment named 'nope'"),
        (["summary", MODEL, "--window", "7y"], 2, "is not a duration"),
        (["summary", MODEL, "--window", "0d"], 2, "more than 0"),
        (["report", MODEL, "--out", "/nonexistent-dir/r.html"], 2, "does not exist"),
    ],
)
def test_bad_input(served: Served, args: list[str], code: int, message: str) -> None:
    exit_code, _, err = run(served.home, "monitor", *args)
    assert exit_code == code, err
    assert message in err
    assert len(err.strip().splitlines()) <= 2


def test_one_monitor_run_at_a_time_across_processes(served: Served) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from shipyard.fs.locks import held_exclusively
    from shipyard.monitoring.figure_metrics import FigureMetrics
    from shipyard.monitoring.monitor import WINDOW_SECONDS, FigureMonitor

    services = open_home(served.home)
    try:
        registry = CollectorRegistry()
        monitor = FigureMonitor(services.settings, services.registry, lambda: [MODEL], FigureMetrics(registry))
        # The server's own monitor takes the lock every second: wait for our turns.
        for _ in range(100):
            with held_exclusively(monitor.lock_path) as held:  # as another worker would, mid-run
                if held:
                    assert monitor.run_once() is None
                    break
            time.sleep(0.05)
        else:
            pytest.fail("never got the monitor lock")
        figures = None
        for _ in range(100):
            figures = monitor.run_once()
            if figures is not None:
                break
            time.sleep(0.05)
    finally:
        services.close()
    assert figures is not None
    assert figures[(MODEL, "performance.accuracy")] == pytest.approx(served.accuracy)
    assert figures[(MODEL, "performance.accuracy", WINDOW_SECONDS)] == pytest.approx(served.accuracy)
    assert figures[(MODEL, "traffic.requests")] == served.requests
    text = generate_latest(registry).decode()
    assert gauge(text, "shipyard_performance", target=MODEL, metric="accuracy") == pytest.approx(served.accuracy)
