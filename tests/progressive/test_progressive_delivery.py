"""Progressive delivery on a real server: a canary steps up or is rolled back by itself.

Each test applies a canary spec with short steps, starts ``shipyard serve fraud`` (one
worker, the analysis ticking every 0.2 s), sends traffic from several client threads and
waits for the rollout to end. What it checks is what an operator would: the deployment's
history and audit trail say what happened and why, and traffic moved accordingly.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from rollout_support import FAST, Load, apply, body, build_fraud, wait_for

from homes import open_home
from live_server import LiveServer
from shipyard.registry.sql.audit import AuditFilter


@pytest.fixture
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    build_fraud(home)
    return home


def spec(canary_version: int, *, steps: str = "[50, 100]", gates: str, min_requests: int = 40) -> str:
    return f"""\
deployment: fraud
variants:
  stable: {{model: fraud@production, role: primary}}
  candidate: {{model: fraud/{canary_version}, role: canary, weight: {steps.strip("[]").split(",")[0]}}}
analysis:
  steps: {steps}
  bake_seconds: 1.5
  min_requests: {min_requests}
  gates: {gates}
"""


def rollout_state(home: Path) -> tuple[str | None, int]:
    services = open_home(home)
    try:
        deployment = services.store.deployments.get("fraud")
        return deployment.rollout_status, deployment.current_revision
    finally:
        services.close()


def history(home: Path) -> list[dict[str, object]]:
    services = open_home(home)
    try:
        return [r.to_dict() for r in services.store.deployments.history("fraud")]
    finally:
        services.close()


def audit_actions(home: Path) -> list[tuple[str, str | None, dict[str, object]]]:
    services = open_home(home)
    try:
        return [
            (e.action, e.reason, dict(e.details))
            for e in services.store.audit.list(AuditFilter(resource="deployment:fraud"))
        ]
    finally:
        services.close()


def run_until_done(home: Path, timeout: float = 60.0) -> tuple[str, Load, Counter[tuple[int, str]]]:
    """Traffic until the rollout ends; then 40 more requests once the server has applied the
    final revision (what answered them, by status and variant)."""
    with LiveServer(home, ["fraud"], settings=FAST) as server:
        with Load(server, threads=4) as load:
            status = wait_for(
                lambda: (s := rollout_state(home)[0]) in ("promoted", "rolled_back") and s, timeout=timeout
            )
        final = rollout_state(home)[1]
        after: Counter[tuple[int, str]] = Counter()
        with server.client(timeout=30) as client:
            wait_for(
                lambda: client.post("/v2/models/fraud/infer", json=body(0)).json()["parameters"]["revision"] == final
            )
            for i in range(40):
                response = client.post("/v2/models/fraud/infer", json=body(i))
                after[(response.status_code, response.headers.get("x-shipyard-variant", "?"))] += 1
    return str(status), load, after


def test_a_healthy_canary_is_promoted_step_by_step_to_100_percent(home: Path) -> None:
    apply(home, spec(2, steps="[25, 50, 100]", gates="{max_error_rate: 0.01, max_p99_ratio: 5, min_agreement: 0.9}"))
    status, load, after = run_until_done(home)
    assert status == "promoted", history(home)[-1]
    assert after == Counter({(200, "stable"): 40})
    revisions = history(home)
    weights = [r["spec"]["variants"].get("candidate", {}).get("weight") for r in revisions]  # type: ignore[index, union-attr]
    assert weights == [25, 50, 100, None]
    final = revisions[-1]["spec"]["variants"]  # type: ignore[index]
    assert final == {"stable": {"model": "fraud/2", "role": "primary"}}
    assert [r["created_by"] for r in revisions[1:]] == ["shipyard-rollout"] * 3
    assert "step 2 of 3" in str(revisions[1]["reason"]) and "promoted candidate" in str(revisions[-1]["reason"])
    actions = [a for a, _, _ in audit_actions(home)]
    assert actions.count("deployment.step") == 2 and actions.count("deployment.promote") == 1
    assert load.statuses[200] == load.total, load.failures
    assert load.variants["candidate"] > 0 and load.variants["stable"] > 0


@pytest.mark.parametrize(
    ("version", "gates", "gate"),
    [
        (3, "{max_error_rate: 0.01}", "max_error_rate"),
        (4, "{max_p99_ratio: 1.5}", "max_p99_ratio"),
        (5, "{min_agreement: 0.95}", "min_agreement"),
    ],
    ids=["errors", "slow", "disagrees"],
)
def test_a_faulty_canary_is_rolled_back_with_the_reason(home: Path, version: int, gates: str, gate: str) -> None:
    apply(home, spec(version, gates=gates, min_requests=30))
    status, load, after = run_until_done(home)
    assert status == "rolled_back"
    # Once rolled back, the primary answers everything.
    assert after == Counter({(200, "stable"): 40})
    revisions = history(home)
    last = revisions[-1]
    assert last["created_by"] == "shipyard-rollout"
    assert last["spec"]["variants"]["candidate"]["weight"] == 0  # type: ignore[index]
    assert gate in str(last["reason"]), last["reason"]
    rollbacks = [(r, d) for a, r, d in audit_actions(home) if a == "deployment.rollback"]
    assert len(rollbacks) == 1
    reason, details = rollbacks[0]
    assert gate in str(reason)
    verdict = details["verdict"]
    assert isinstance(verdict, dict) and verdict["outcome"] == "fail"
    failed = [g for g in verdict["gates"] if g["passed"] is False]
    assert [g["name"] for g in failed] == [gate], json.dumps(verdict)[:2000]
    if version == 3:  # the broken canary's own answers failed (500), nothing else did
        assert set(load.statuses) == {200, 500}, load.failures
    else:
        assert set(load.statuses) == {200}, load.failures
