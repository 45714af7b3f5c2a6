"""A deployment splitting traffic between two versions: the window's figures come out per
version and variant, from the real log of a real server and real feedback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from report_browser import assert_clean, assert_plots_have_data, open_report
from report_support import MODEL, frame, register, truth, v2_inputs
from sklearn.dummy import DummyClassifier

from homes import open_home
from live_server import LiveServer
from shipyard.cli.main import cli
from shipyard.rollout.service import apply_spec

DEPLOYMENT = "scoring-live"
SPEC = f"""\
deployment: {DEPLOYMENT}
variants:
  stable: {{model: {MODEL}/1, role: primary}}
  candidate: {{model: {MODEL}/2, role: canary, weight: 40}}
"""


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, list[tuple[int, int]]]]]:
    home = tmp_path_factory.mktemp("deployed") / "home"
    register(home)
    train = frame(300, 5)
    services = open_home(home)
    try:  # version 2 says "1" whatever it is asked: worse, and easy to check
        constant = DummyClassifier(strategy="constant", constant=1).fit(train, truth(train))
        services.registry.register(MODEL, constant, sample=train.head(5), training_data=train, target=truth(train))
        apply_spec(services.store, SPEC, actor="user:test", reason="test")
    finally:
        services.close()
    pairs: dict[str, list[tuple[int, int]]] = {"stable": [], "candidate": []}
    settings = {"log_mode": "sync", "monitor_interval_seconds": "3600", "log_compact_seconds": "3600"}
    with LiveServer(home, [DEPLOYMENT], settings=settings) as server, server.client() as client:
        data = frame(300, 6)
        items = []
        for start in range(0, 300, 5):
            part = data.iloc[start : start + 5].reset_index(drop=True)
            response = client.post(f"/v2/models/{DEPLOYMENT}/infer", json={"inputs": v2_inputs(part)})
            assert response.status_code == 200, response.text
            variant = response.headers["x-shipyard-variant"]
            predicted = next(o["data"] for o in response.json()["outputs"] if o["name"] == "predict")
            labels = truth(part)
            for row in range(5):
                pairs[variant].append((int(labels[row]), int(predicted[row])))
                items.append(
                    {
                        "request_id": response.headers["x-request-id"],
                        "row": row,
                        "label": int(labels[row]),
                        "outcomes": {"conversion": float(labels[row] == predicted[row])},
                    }
                )
        for start in range(0, len(items), 500):
            assert client.post("/feedback", json={"items": items[start : start + 500]}).status_code in (200, 201)
    yield home, pairs


def accuracy(pairs: list[tuple[int, int]]) -> float:
    return sum(a == b for a, b in pairs) / len(pairs)


def test_figures_by_version_and_variant(deployed: tuple[Path, dict[str, list[tuple[int, int]]]]) -> None:
    home, pairs = deployed
    assert pairs["stable"] and pairs["candidate"]  # a 60/40 split of 60 requests
    result = CliRunner().invoke(
        cli, ["--home", str(home), "monitor", "summary", DEPLOYMENT, "--window", "1h", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    traffic = {(t["version"], t["variant"]): t for t in summary["traffic"]}
    assert set(traffic) == {(1, "stable"), (2, "candidate")}
    assert traffic[(1, "stable")]["rows"] == len(pairs["stable"])
    assert traffic[(2, "candidate")]["rows"] == len(pairs["candidate"])
    assert summary["total"]["requests"] == 60
    groups = {(g["version"], g["variant"]): g for g in summary["groups"]}
    for (version, variant), key in (((1, "stable"), "stable"), ((2, "candidate"), "candidate")):
        group = groups[(version, variant)]
        assert group["performance"]["metrics"]["accuracy"]["value"] == pytest.approx(accuracy(pairs[key]))
        assert group["outcomes"]["conversion"]["rate"] == pytest.approx(accuracy(pairs[key]))
        assert groups[(version, None)]["labelled"] == len(pairs[key])  # each version answered one variant only
    # The constant version predicts 1 for every row: its recall is 1.
    assert groups[(2, "candidate")]["performance"]["metrics"]["recall"]["value"] == 1.0
    assert {v["version"] for v in summary["versions"]} == {1, 2}
    assert all(v["drift"] is not None for v in summary["versions"])  # each against its own reference


def test_deployment_report_in_chromium(deployed: tuple[Path, dict[str, list[tuple[int, int]]]], tmp_path: Path) -> None:
    home, _ = deployed
    out = tmp_path / "live.html"
    result = CliRunner().invoke(
        cli, ["--home", str(home), "monitor", "report", DEPLOYMENT, "--window", "1h", "--out", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    opened = open_report(out)
    assert_clean(opened, out)
    assert_plots_have_data(opened, at_least=6)
    ids = {p["id"] for p in opened.plots}
    assert {"plot-dist-1-0", "plot-dist-2-0", "plot-drift-share", "plot-performance", "plot-outcomes"} <= ids
    assert "candidate" in opened.text and "stable" in opened.text
