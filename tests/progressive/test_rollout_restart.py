"""A rollout's state lives in the registry: it sees every worker's traffic, and a restarted
server resumes the step in progress with its clock.

A canary at step 2 (50%) of [20, 50, 100] is served by two workers under load, then the
server stops before the step has baked. While it is down the bake time passes. A new
server, given no traffic at all, completes that step: the step, its clock and the requests
counted before the restart all came from the registry.
"""

from __future__ import annotations

import time
from pathlib import Path

from rollout_support import FAST, Load, apply, build_fraud, wait_for

from homes import open_home
from live_server import LiveServer
from shipyard.registry.sql.audit import AuditFilter

SPEC = """\
deployment: fraud
variants:
  stable: {model: fraud@production, role: primary}
  candidate: {model: fraud/2, role: canary, weight: 20}
analysis:
  steps: [20, 50, 100]
  bake_seconds: 4
  min_requests: 20
  gates: {max_error_rate: 0.05}
"""


def deployment_row(home: Path) -> tuple[int, float | None]:
    services = open_home(home)
    try:
        record = services.store.deployments.get("fraud")
        started = record.step_started_at.timestamp() if record.step_started_at else None
        return record.current_revision, started
    finally:
        services.close()


def workers_seen(home: Path) -> set[str]:
    services = open_home(home)
    try:
        return services.store.rollouts.workers("fraud", since=0)
    finally:
        services.close()


def test_two_workers_feed_one_analysis_and_a_restart_resumes_the_step(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_fraud(home)
    apply(home, SPEC)
    with (
        LiveServer(home, ["fraud"], settings={**FAST, "workers": "2"}) as server,
        Load(server, threads=6, fresh=True) as load,
    ):
        wait_for(lambda: deployment_row(home)[0] >= 2, timeout=60)  # step 1 passed: the canary is at 50%
        time.sleep(1.0)  # some traffic at 50%, well short of the 4 s bake
    assert load.statuses[200] == load.total, load.failures
    revision, started = deployment_row(home)
    assert revision == 2 and started is not None
    assert len(workers_seen(home)) >= 2  # both workers wrote telemetry for the one analysis
    # The server is down while the step's bake time passes.
    time.sleep(max(0.0, started + 4.5 - time.time()))
    with LiveServer(home, ["fraud"], settings=FAST):
        wait_for(lambda: deployment_row(home)[0] >= 3, timeout=30)  # no traffic needed
    services = open_home(home)
    try:
        steps = [e for e in services.store.audit.list(AuditFilter(resource="deployment:fraud"))
                 if e.action == "deployment.step"]  # fmt: skip
        revisions = services.store.deployments.history("fraud")
    finally:
        services.close()
    assert [r.spec["variants"]["candidate"]["weight"] for r in revisions[:3]] == [20, 50, 100]
    verdict = steps[1].details["verdict"]
    # The step after the restart was judged on the requests served before it.
    assert verdict["outcome"] == "pass" and verdict["figures"]["canary"]["requests"] >= 20
    assert revisions[2].created_at.timestamp() - started >= 4
