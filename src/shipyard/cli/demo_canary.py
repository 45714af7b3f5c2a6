"""The demo's canary step: a careless third version is put in front of 25% of the traffic
under the served model's own name, and the analysis rolls it back by itself.

The candidate always answers the majority class. Its error rate and latency are fine; it
is its answers that give it away: on the mirrored requests it agrees with production on
far fewer rows than the 95% the spec asks for, so the first analysis with enough requests
fails and the canary's traffic goes back to 0%, with the reason in the deployment's
history and the audit trail.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

from shipyard.cli.demo_traffic import LoadResult, run_load
from shipyard.cli.output import table

MODEL = "demo-model"
LOAD_SECONDS = 6.0
"""Load after the canary arrived; the rollback comes within a few seconds of it."""
BUCKET_SECONDS = 0.5
ROWS_PER_REQUEST = 20

SPEC = f"""\
deployment: {MODEL}
variants:
  stable: {{model: {MODEL}@production, role: primary}}
  candidate: {{model: {MODEL}/3, role: canary, weight: 25}}
analysis:
  steps: [25, 50, 100]
  bake_seconds: 2
  min_requests: 40
  gates: {{max_error_rate: 0.01, max_p99_ratio: 3, min_agreement: 0.95}}
"""


def run(
    out: Console, home: Path, url: str, api_key: str, *, x_train: Any, y_train: Any, x_test: Any
) -> tuple[LoadResult, bool]:
    """Register the careless version, apply the canary under load, show what happened;
    ``(the load, whether the canary was rolled back)``."""
    from sklearn.dummy import DummyClassifier

    from shipyard.bootstrap import open_services
    from shipyard.config import Settings
    from shipyard.rollout.service import apply_spec
    from shipyard.sdk.local import register_with
    from shipyard.sdk.payloads import v2_request

    services = open_services(Settings.load(overrides={"home": home}))
    try:
        careless = DummyClassifier(strategy="most_frequent").fit(x_train, y_train)
        third = register_with(
            services.registry, MODEL, careless, sample=x_train.iloc[:5], description="always the majority class"
        )
        out.print(f"Registered [bold]{third.ref}[/bold] — a careless candidate: always the majority class")
        out.print(Text(SPEC.rstrip(), style="dim"))

        apply_spec(services.store, SPEC, actor="user:demo", source="demo", reason="try v3 on 25%")
        body = v2_request(x_test.iloc[:ROWS_PER_REQUEST])
        headers = {"Authorization": f"Bearer {api_key}"}
        took = _wait_for_variants(url, body, headers)
        out.print(f"the server loaded the canary and answers {MODEL!r} through the deployment ({took:.1f} s)")
        load = run_load(
            url,
            f"/v2/models/{MODEL}/infer",
            body,
            headers=headers,
            workers=4,
            seconds=LOAD_SECONDS,
            switch_after=LOAD_SECONDS,
            switch=lambda: None,
        )
        record = services.store.deployments.get(MODEL)
        history = services.store.deployments.history(MODEL)
    finally:
        services.close()
    _show(out, load, history, record.rollout_status)
    return load, record.rollout_status == "rolled_back"


def _wait_for_variants(url: str, body: dict[str, Any], headers: dict[str, str], timeout: float = 60.0) -> float:
    """Seconds until the served name answers through the deployment (a variant header)."""
    import httpx

    started = time.monotonic()
    with httpx.Client(base_url=url, timeout=10.0, headers=headers) as http:
        while time.monotonic() - started < timeout:
            if http.post(f"/v2/models/{MODEL}/infer", json=body).headers.get("x-shipyard-variant"):
                break
            time.sleep(0.1)
    return time.monotonic() - started


def _show(out: Console, load: LoadResult, history: list[Any], status: str | None) -> None:
    buckets = int(LOAD_SECONDS / BUCKET_SECONDS)
    counts = [[0, 0] for _ in range(buckets + 1)]
    for answer in load.answers:
        if answer.error is None:
            counts[min(buckets, int(answer.at / BUCKET_SECONDS))][1 if answer.variant == "candidate" else 0] += 1
    peak = max((a + b for a, b in counts), default=1) or 1
    rows = []
    for i, (stable, candidate) in enumerate(counts):
        if stable + candidate == 0:
            continue
        bar = Text("█" * round(24 * stable / peak), style="cyan") + Text(
            "░" * round(24 * candidate / peak), style="red"
        )
        rows.append([f"{i * BUCKET_SECONDS:.1f}-{(i + 1) * BUCKET_SECONDS:.1f} s", str(stable), str(candidate), bar])
    out.print(table("answers by x-shipyard-variant", ["time", "stable", "candidate", ""], rows))
    revisions = [[str(r.revision), r.created_by, r.reason or ""] for r in history]
    out.print(table(f"deployment {MODEL}: history (status {status})", ["rev", "by", "why"], revisions))
    if history and history[-1].created_by != "user:demo":
        out.print(Text(f"{history[-1].reason}", style="bold"))
    out.print(f"{len(load.answers)} requests, {len(load.failed)} failed (a rollback drops no request)")
