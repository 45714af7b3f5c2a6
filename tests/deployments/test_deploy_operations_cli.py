"""``shipyard deploy status|promote|rollback|pause|resume|shadow-report|experiment-report|outcome``:
the happy paths in human and JSON form, the moves' revisions and audit entries (on SQLite
and PostgreSQL), reports without data, and every bad input as one line with a non-zero exit."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from deployment_support import build_examples

from deployment_specs import FRAUD_SPEC, RANKER_SPEC
from homes import open_home
from shipyard.cli.deploy import parse_moment
from shipyard.cli.main import cli
from shipyard.registry.sql.rollouts import Assignment

Runner = Callable[..., Result]

BLUEGREEN_SPEC = """\
deployment: checkout
strategy: bluegreen
variants:
  blue: {model: fraud/1, role: primary}
  green: {model: fraud/2, role: canary, weight: 0}
"""


@pytest.fixture(scope="module")
def example_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("ops-cli-examples")
    build_examples(home)
    return home


@pytest.fixture
def run(example_home: Path, home: Path, tmp_path: Path) -> Runner:
    """The CLI on a copy of the example home, with fraud, ranker and checkout applied."""
    shutil.copytree(example_home, home)
    runner = CliRunner()

    def invoke(*args: str | Path) -> Result:
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    for name, text in (("fraud", FRAUD_SPEC), ("ranker", RANKER_SPEC), ("checkout", BLUEGREEN_SPEC)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        assert invoke("deploy", "apply", path).exit_code == 0
    return invoke


def as_json(result: Result) -> Any:
    assert result.exit_code == 0, (result.output, result.stderr)
    return json.loads(result.output)


def variants_of(applied: dict[str, Any]) -> dict[str, dict[str, Any]]:
    variants: dict[str, dict[str, Any]] = applied["revision"]["spec"]["variants"]
    return variants


# -- moves --------------------------------------------------------------------------------
@pytest.fixture
def backend_home(backend: str, db_url: str, home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A home whose registry is the backend's database, holding fraud v1..v4."""
    monkeypatch.setenv("SHIPYARD_REGISTRY_URL", db_url)
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    services = open_home(home, registry_url=db_url)
    try:
        for c in (1.0, 0.5, 0.2, 0.1):
            services.registry.register("fraud", LogisticRegression(C=c).fit(X, y), sample=X[:3], compile=False)
        services.store.set_alias("fraud", "production", 3)
    finally:
        services.close()
    yield home


def test_moves_are_revisions_with_audit_entries(backend_home: Path, tmp_path: Path) -> None:
    runner = CliRunner()

    def run(*args: str | Path) -> Result:
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    spec = tmp_path / "fraud.yaml"
    spec.write_text(FRAUD_SPEC.replace("  shadowed: {model: fraud/5, role: shadow, sample: 1.0}\n", ""))
    assert run("deploy", "apply", spec).exit_code == 0

    promoted = run("deploy", "promote", "fraud", "--reason", "looks good")
    assert promoted.exit_code == 0, promoted.output
    assert "Promoted deployment fraud: revision 2" in promoted.output and "rollout promoted" in promoted.output
    assert "stable=fraud/4 (primary)" in promoted.output and "candidate" not in promoted.output

    back = as_json(run("deploy", "rollback", "fraud", "--json"))
    assert back["revision"]["revision"] == 3 and back["deployment"]["rollout_status"] == "rolled_back"
    assert variants_of(back)["candidate"] == {"model": "fraud/4", "role": "canary", "weight": 10}

    again = run("deploy", "rollback", "fraud", "--to", "2", "--reason", "v4 after all")
    assert again.exit_code == 0 and "Rolled back deployment fraud: revision 4" in again.output

    paused = run("deploy", "pause", "fraud", "--reason", "incident")
    assert paused.exit_code == 0 and "active -> paused" in paused.output
    assert as_json(run("deploy", "status", "fraud", "--json"))["state"] == "paused"
    assert "paused already" in run("deploy", "pause", "fraud").output
    resumed = as_json(run("deploy", "resume", "fraud", "--json"))
    assert resumed["state"] == "active" and resumed["previous_state"] == "paused"

    entries = as_json(run("audit", "list", "--json"))
    moves = [
        (e["action"], e["actor"], e["source"], e["reason"]) for e in entries if e["resource"] == "deployment:fraud"
    ]
    assert [m[0] for m in moves] == [
        "deployment.apply",
        "deployment.promote",
        "deployment.rollback",
        "deployment.rollback",
        "deployment.pause",
        "deployment.resume",
    ]
    assert {m[2] for m in moves} == {"local"} and all(m[1].startswith("user:") for m in moves)
    assert moves[1][3] == "looks good" and moves[3][3] == "v4 after all" and moves[4][3] == "incident"
    history = as_json(run("deploy", "history", "fraud", "--json"))["revisions"]
    assert [r["revision"] for r in history] == [1, 2, 3, 4]
    assert history[2]["spec"] == history[0]["spec"] and history[3]["spec"] == history[1]["spec"]
    assert run("audit", "verify").exit_code == 0


def test_promote_bluegreen_keeps_the_old_primary_at_zero(run: Runner) -> None:
    flipped = as_json(run("deploy", "promote", "checkout", "--json"))
    assert flipped["revision"]["revision"] == 2
    assert variants_of(flipped) == {
        "green": {"model": "fraud/2", "role": "primary"},
        "blue": {"model": "fraud/1", "role": "canary", "weight": 0},
    }
    status = as_json(run("deploy", "status", "checkout", "--json"))
    assert [(v["variant"], v["weight"]) for v in status["variants"]] == [("green", 100.0), ("blue", 0.0)]
    # The flip back is the same command, naming the old primary.
    back = run("deploy", "promote", "checkout", "--variant", "blue")
    assert (
        back.exit_code == 0 and "blue=fraud/1 (primary)" in back.output and "green=fraud/2 (canary 0%)" in back.output
    )


# -- status and reports --------------------------------------------------------------------
def test_status_with_no_traffic(run: Runner) -> None:
    shown = run("deploy", "status", "fraud", "--window", "30")
    assert shown.exit_code == 0, shown.output
    out = shown.output
    assert "deployment fraud: active, revision 1, strategy canary" in out
    for words in ("stable", "fraud@production", "90%", "candidate", "10%", "shadowed", "copy 100%", "p99 ms"):
        assert words in out
    assert "No traffic in the last 30s." in out
    assert "rollout: progressing, step 1 of 4 (candidate at 10%)" in out
    assert "bake clock:" in out and "of 300s" in out and "last verdict: none yet" in out

    found = as_json(run("deploy", "status", "fraud", "--json"))
    assert found["window_seconds"] == 60 and found["strategy"] == "canary" and found["state"] == "active"
    assert [(v["variant"], v["requests"], v["p99_ms"]) for v in found["variants"]] == [
        ("stable", 0, None),
        ("candidate", 0, None),
        ("shadowed", 0, None),
    ]
    assert found["rollout"]["step"] == 1 and found["rollout"]["steps"] == [10, 25, 50, 100]


def test_status_shows_the_last_verdict_and_its_gates(run: Runner, home: Path) -> None:
    verdict = {
        "outcome": "wait",
        "reason": "too few requests: 12 of 200",
        "gates": [
            {"name": "max_error_rate", "threshold": 0.01, "value": 0.0, "passed": True, "detail": "0 of 12 failed"},
            {"name": "max_p99_ratio", "threshold": 1.5, "value": None, "passed": None, "detail": "no primary p99"},
        ],
        "figures": {},
    }
    services = open_home(home)
    try:
        moved = services.store.deployments.transition(
            "fraud", expected_revision=1, rollout_status="progressing", verdict=verdict
        )
        assert moved is not None
    finally:
        services.close()
    out = run("deploy", "status", "fraud").output
    assert "last verdict: wait: too few requests: 12 of 200" in out
    assert "max_error_rate" in out and "0 of 12 failed" in out and "no primary p99" in out


def test_status_of_an_experiment_shows_its_arms(run: Runner) -> None:
    found = as_json(run("deploy", "status", "ranker", "--json"))
    assert found["strategy"] == "experiment" and found["rollout"] is None
    assert [(v["variant"], v["weight"]) for v in found["variants"]] == [("a", 50.0), ("b", 50.0)]
    assert "rollout: none" in run("deploy", "status", "ranker").output


def test_reports_without_data(run: Runner) -> None:
    shadow = run("deploy", "shadow-report", "fraud", "--since", "-10m")
    assert shadow.exit_code == 0, shadow.output
    assert "No data: no shadow or mirror copies in this period (shadows: shadowed)" in shadow.output
    report = as_json(run("deploy", "shadow-report", "fraud", "--since", "-2h", "--until", "-1h", "--json"))
    assert report["shadows"] == [] and report["configured"] == ["shadowed"]
    assert report["until"] - report["since"] == pytest.approx(3600, abs=1)

    experiment = run("deploy", "experiment-report", "ranker")
    assert experiment.exit_code == 0, experiment.output
    out = experiment.output
    assert "No data: no outcome has been recorded for this metric yet." in out
    assert "Recommendation: keep running." in out and "Method: Fixed horizon" in out
    assert "b vs a" in out
    data = as_json(run("deploy", "experiment-report", "ranker", "--metric", "revenue", "--json"))
    assert data["metric"] == "revenue" and data["decision"] == "keep_running"
    assert [(a["name"], a["units"]) for a in data["arms"]] == [("a", 0), ("b", 0)]


def assign(home: Path, deployment: str, pairs: list[tuple[str, str]]) -> None:
    """Write request → arm assignments as a server's telemetry would."""
    services = open_home(home)
    try:
        at = datetime.now(UTC)
        services.store.rollouts.record_assignments(Assignment(deployment, rid, 1, arm, at) for rid, arm in pairs)
    finally:
        services.close()


def test_outcomes_and_the_experiment_report(run: Runner, home: Path) -> None:
    assign(home, "ranker", [(f"r{i}", "a" if i % 2 else "b") for i in range(20)])
    first = run("deploy", "outcome", "ranker", "r1", "conversion", "1")
    assert first.exit_code == 0, first.output
    assert "Recorded: conversion = 1 for request r1 (ranker, variant a)." in first.output
    same = run("deploy", "outcome", "ranker", "r1", "conversion", "1.0")
    assert same.exit_code == 0 and "Already recorded" in same.output
    for i in range(2, 12):
        recorded = as_json(run("deploy", "outcome", "ranker", f"r{i}", "conversion", str(int(i % 3 == 0)), "--json"))
        assert recorded["created"] is True and recorded["variant"] == ("a" if i % 2 else "b")
    report = as_json(run("deploy", "experiment-report", "ranker", "--json"))
    arms = {a["name"]: a for a in report["arms"]}
    assert arms["a"]["units"] == 10 and arms["b"]["units"] == 10
    assert arms["a"]["outcomes"] + arms["b"]["outcomes"] == 11
    assert report["kind"] == "rate" and report["decision"] == "keep_running"
    shown = run("deploy", "experiment-report", "ranker").output
    assert "comparisons" in shown and "valid for decision" in shown and "Recommendation: keep running." in shown


# -- bad inputs ----------------------------------------------------------------------------
BAD = {
    "status of an unknown deployment": (["deploy", "status", "nope"], 3, "deployment 'nope' not found"),
    "bad window": (["deploy", "status", "fraud", "--window", "0"], 2, "--window"),
    "promote an unknown deployment": (["deploy", "promote", "nope"], 3, "deployment 'nope' not found"),
    "promote an unknown variant": (["deploy", "promote", "fraud", "--variant", "zz"], 2, "no variant 'zz'"),
    "promote the primary": (["deploy", "promote", "fraud", "--variant", "stable"], 2, "already the primary"),
    "promote an experiment arm": (["deploy", "promote", "ranker", "--variant", "b"], 2, "is an experiment"),
    "promote an experiment": (["deploy", "promote", "ranker"], 2, "is an experiment"),
    "rollback with no previous revision": (["deploy", "rollback", "fraud"], 2, "no revision before 1"),
    "rollback to an unknown revision": (["deploy", "rollback", "fraud", "--to", "7"], 3, "no revision 7"),
    "rollback to the current revision": (["deploy", "rollback", "fraud", "--to", "1"], 2, "is the current revision"),
    "pause an unknown deployment": (["deploy", "pause", "nope"], 3, "deployment 'nope' not found"),
    "resume an unknown deployment": (["deploy", "resume", "nope"], 3, "deployment 'nope' not found"),
    "bad --since": (["deploy", "shadow-report", "fraud", "--since", "yesterday"], 2, "--since 'yesterday'"),
    "bad --until": (["deploy", "shadow-report", "fraud", "--until", "-5x"], 2, "--until '-5x'"),
    "empty period": (["deploy", "shadow-report", "fraud", "--since", "-1h", "--until", "-2h"], 2, "empty"),
    "shadow report of an unknown deployment": (["deploy", "shadow-report", "nope"], 3, "not found"),
    "experiment report of a canary": (["deploy", "experiment-report", "fraud"], 2, "not an experiment"),
    "experiment report of an unknown deployment": (["deploy", "experiment-report", "nope"], 3, "not found"),
    "outcome for an unknown request": (["deploy", "outcome", "ranker", "r-x", "conversion", "1"], 3, "no request"),
    "non-numeric outcome": (["deploy", "outcome", "ranker", "r1", "conversion", "yes"], 2, "is a number"),
    "infinite outcome": (["deploy", "outcome", "ranker", "r1", "conversion", "inf"], 2, "finite number"),
    "bad metric name": (["deploy", "outcome", "ranker", "r1", "con version", "1"], 2, "metric is a name"),
    "outcome of an unknown deployment": (["deploy", "outcome", "nope", "r1", "conversion", "1"], 3, "not found"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_inputs_are_one_line_errors(run: Runner, home: Path, case: str) -> None:
    assign(home, "ranker", [("r1", "a")])
    args, code, words = BAD[case]
    result = run(*args)
    assert result.exit_code == code, (result.output, result.stderr)
    assert result.stderr.startswith("error: ") and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1
    history = as_json(run("deploy", "history", "fraud", "--json"))
    assert len(history["revisions"]) == 1 and history["deployment"]["state"] == "active"


def test_moments() -> None:
    now = 1_800_000_000.0
    assert parse_moment("-10m", "--since", now) == now - 600
    assert parse_moment("2h", "--since", now) == now - 7200
    assert parse_moment("-1.5d", "--since", now) == now - 1.5 * 86400
    assert parse_moment("2027-01-15T12:00:00Z", "--since", now) == datetime(2027, 1, 15, 12, tzinfo=UTC).timestamp()
    assert parse_moment("2027-01-15T12:00:00", "--since", now) == datetime(2027, 1, 15, 12, tzinfo=UTC).timestamp()
    assert parse_moment("2027-01-15T14:00:00+02:00", "--x", now) == datetime(2027, 1, 15, 12, tzinfo=UTC).timestamp()
    assert parse_moment("1700000000", "--since", now) == 1_700_000_000
