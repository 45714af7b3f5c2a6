"""Operating a deployment: promote, roll back, pause, resume, status and reports.

The CLI (``shipyard deploy ...``) and the management API (``/api/deployments/{name}/...``)
both call these, so both do exactly the same thing. Everything reads and writes the
registry, never a server: telemetry is in ``rollout_windows``, written by every worker,
so ``status`` and the reports see all workers' traffic from any process.

Moves (promote, rollback) are new revisions written compare-and-set against the revision
they were decided on (``DeploymentStore.transition``); a server applies them at its next
poll (``alias_poll_seconds``), one that received the call over HTTP at once.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from shipyard.errors import Conflict, InvalidRequest
from shipyard.registry.deployment_types import Applied, Deployment
from shipyard.registry.sql.audit import local_actor
from shipyard.registry.sql.governed import TransactionStep, emergency_hook
from shipyard.registry.sql.rollouts import OutcomeResult, merged_by_variant
from shipyard.registry.sql.store import RegistryStore
from shipyard.rollout.analysis import Verdict, analyse
from shipyard.rollout.experiment import ArmData, experiment_report
from shipyard.rollout.gate import require_traffic
from shipyard.rollout.progress import PROGRESSING, PROMOTED, ROLLED_BACK, canary_of, promoted
from shipyard.rollout.service import spec_yaml
from shipyard.rollout.spec import DeploymentSpec, is_metric_name
from shipyard.rollout.split import Splitter
from shipyard.rollout.window import VariantWindow

STATUS_WINDOW_SECONDS = 60.0
MAX_REPORT_SECONDS = 90 * 24 * 3600.0


def current_spec(store: RegistryStore, name: str) -> tuple[int, DeploymentSpec]:
    _, revision = store.deployments.current(name)
    return revision.revision, DeploymentSpec.from_dict(
        revision.spec, source=f"deployment {name!r} revision {revision.revision}"
    )


def _write(
    store: RegistryStore,
    name: str,
    expected: int,
    spec: DeploymentSpec,
    *,
    status: str | None,
    action: str,
    actor: str | None,
    source: str,
    reason: str,
    within: TransactionStep | None = None,
) -> Applied:
    applied = store.deployments.transition(
        name,
        expected_revision=expected,
        rollout_status=status,
        verdict=None,
        spec_json=spec.canonical_json(),
        spec_yaml=spec_yaml(spec.canonical_json()),
        action=action,
        actor=actor,
        source=source,
        reason=reason,
        require_active=False,
        within=within,
    )
    if applied is None:
        raise Conflict(
            f"deployment {name!r} changed while this was decided (it is no longer at revision {expected})",
            hint="look at `shipyard deploy status` and try again",
        )
    return applied


def promote(
    store: RegistryStore,
    name: str,
    *,
    variant: str | None = None,
    actor: str | None = None,
    source: str = "local",
    reason: str | None = None,
    min_agreement: float | None = None,
    gate_seconds: float = 3600.0,
) -> Applied:
    """Make ``variant`` (default: the canary) the primary now: the canary's model takes all
    the traffic (blue/green: the flip, the old primary kept loaded at 0%).

    ``min_agreement``: promote only if the variant's answers agreed with those returned at
    least this often over the last ``gate_seconds`` (a shadow's report, or a canary's mirrored
    requests): the shadow report as a promotion gate. Refused (``Conflict``) otherwise."""
    number, spec = current_spec(store, name)
    chosen = variant or canary_of(spec)
    new = promoted(spec, chosen)
    if min_agreement is not None and chosen is not None:
        _check_agreement(store, name, chosen, min_agreement, gate_seconds)
    require_traffic(store, new)
    why = reason or f"promoted {chosen} by hand"
    return _write(store, name, number, new, status=PROMOTED, action="deployment.promote", actor=actor,
                  source=source, reason=why)  # fmt: skip


def _check_agreement(store: RegistryStore, name: str, variant: str, minimum: float, seconds: float) -> None:
    if not 0 <= minimum <= 1:
        raise InvalidRequest(f"a minimum agreement is between 0 and 1, got {minimum}")
    windows = store.rollouts.windows(name, since=time.time() - seconds)
    window = VariantWindow()
    for kind in ("shadow", "mirror"):
        found = merged_by_variant(windows, kind).get(variant)
        if found is not None:
            window.merge(found)
    agreement = window.agreement
    if agreement is None:
        raise Conflict(
            f"{variant} of {name!r} has no compared answers in the last {seconds:g}s: nothing shows it agrees",
            hint="let it run as a shadow (or a mirrored canary) first; `shipyard deploy shadow-report` shows it",
        )
    if agreement < minimum:
        raise Conflict(
            f"{variant} of {name!r} agreed with the answers returned on {agreement:.2%} of "
            f"{window.compared_rows} rows, below the {minimum:.2%} asked for: not promoted",
            hint="`shipyard deploy shadow-report` shows where they differ",
            agreement=agreement,
            compared_rows=window.compared_rows,
        )


def rollback(
    store: RegistryStore,
    name: str,
    *,
    to_revision: int | None = None,
    actor: str | None = None,
    source: str = "local",
    reason: str | None = None,
) -> Applied:
    """Make revision ``to_revision`` (default: the one before the current) the spec again,
    as a new revision; a rollout in progress stops (``rolled_back``).

    An emergency rollback: never gated, audited with ``emergency: true`` and an
    ``emergency_rollback`` governance flag raised in the same transaction."""
    number, _ = current_spec(store, name)
    target = number - 1 if to_revision is None else to_revision
    if target < 1:
        raise InvalidRequest(
            f"deployment {name!r} has no revision before {number} to roll back to",
            hint="to take a canary out, apply the spec with its weight at 0 (or `shipyard deploy delete`)",
        )
    if target == number:
        raise InvalidRequest(f"revision {target} is the current revision of {name!r}")
    old = store.deployments.revision(name, target)
    spec = DeploymentSpec.from_dict(old.spec, source=f"deployment {name!r} revision {target}")
    why = reason or f"rolled back to revision {target} by hand"
    who = actor or local_actor()
    details = {"from_revision": number, "to_revision": target, "reason": why, "emergency": True}
    flag = emergency_hook(name, details, actor=who)
    return _write(store, name, number, spec, status=ROLLED_BACK, action="deployment.rollback", actor=who,
                  source=source, reason=why, within=flag)  # fmt: skip


def pause(store: RegistryStore, name: str, *, actor: str | None = None, source: str = "local",
          reason: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Hold the rollout where it is (traffic keeps its current split; no step is taken)."""
    return store.deployments.set_state(name, "paused", actor=actor, source=source, reason=reason).to_dict()


def resume(store: RegistryStore, name: str, *, actor: str | None = None, source: str = "local",
           reason: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Go on with the rollout; the current step bakes again from now."""
    return store.deployments.set_state(name, "active", actor=actor, source=source, reason=reason).to_dict()


# -- reading ------------------------------------------------------------------------------
def status(store: RegistryStore, name: str, *, window_seconds: float = STATUS_WINDOW_SECONDS) -> dict[str, Any]:
    """The live split, per-variant req/s, errors, p50/p99 over the last ``window_seconds``,
    the rollout's step, its clock and its last verdict."""
    deployment, revision = store.deployments.current(name)
    spec = DeploymentSpec.from_dict(revision.spec, source=f"deployment {name!r} revision {revision.revision}")
    now = time.time()
    windows = store.rollouts.windows(name, since=now - window_seconds)
    served = merged_by_variant(windows, "served")
    shadows = merged_by_variant(windows, "shadow")
    weights = Splitter(spec).weights
    variants = []
    for variant_name, variant in spec.variants.items():
        window = (shadows if variant.role == "shadow" else served).get(variant_name, VariantWindow())
        variants.append(
            {
                "variant": variant_name,
                "model": variant.model,
                "role": variant.role,
                "weight": weights.get(variant_name, 0.0) if variant.role != "shadow" else None,
                "sample": variant.sample_rate if variant.role == "shadow" else None,
                **_figures(window, window_seconds),
            }
        )
    out: dict[str, Any] = {
        "deployment": name,
        "state": deployment.state,
        "revision": revision.revision,
        "strategy": spec.resolved_strategy,
        "window_seconds": window_seconds,
        "workers_reporting": len(store.rollouts.workers(name, since=now - window_seconds)),
        "variants": variants,
        "rollout": _rollout(spec, deployment.rollout_status, deployment.step_started_at, deployment.rollout_verdict),
    }
    return out


def _figures(window: VariantWindow, seconds: float) -> dict[str, Any]:
    p50, p99 = window.quantile(0.5), window.quantile(0.99)
    return {
        "requests": window.requests,
        "req_per_s": round(window.requests / seconds, 3) if seconds > 0 else None,
        "errors": window.errors,
        "error_rate": window.error_rate,
        "p50_ms": None if p50 is None else round(p50 * 1000, 3),
        "p99_ms": None if p99 is None else round(p99 * 1000, 3),
    }


def _rollout(
    spec: DeploymentSpec, status_: str | None, started: datetime | None, verdict: dict[str, Any] | None
) -> dict[str, Any] | None:
    analysis = spec.analysis
    canary = canary_of(spec)
    if analysis is None and status_ is None:
        return None
    out: dict[str, Any] = {"status": status_, "verdict": verdict}
    if analysis is not None and canary is not None:
        weight = float(spec.variants[canary].weight or 0)
        steps = [float(s) for s in analysis.steps]
        out["canary"] = canary
        out["steps"] = list(analysis.steps)
        out["step"] = (steps.index(weight) + 1) if weight in steps else None
        out["canary_weight"] = weight
        out["bake_seconds"] = analysis.bake_seconds
    if started is not None:
        out["step_started_at"] = started.isoformat()
        out["step_age_seconds"] = round(time.time() - started.timestamp(), 3)
    return out


def shadow_report(
    store: RegistryStore, name: str, *, since: float | None = None, until: float | None = None
) -> dict[str, Any]:
    """Per shadow (and per canary's mirror): copies computed, agreement with the answer
    returned, score deltas, latency deltas, errors and dropped copies, over ``[since, until)``
    (Unix seconds; default: the last hour)."""
    _, spec = current_spec(store, name)
    now = time.time()
    start, end = _period(since, until, now)
    windows = store.rollouts.windows(name, since=start, until=end)
    rows = []
    for kind in ("shadow", "mirror"):
        for variant, window in sorted(merged_by_variant(windows, kind).items()):
            rows.append({"variant": variant, "kind": kind, **_comparison(window)})
    served = merged_by_variant(windows, "served")
    return {
        "deployment": name,
        "since": start,
        "until": end,
        "answered": {v: w.requests for v, w in sorted(served.items())},
        "shadows": rows,
        "configured": list(spec.shadows),
    }


def _comparison(window: VariantWindow) -> dict[str, Any]:
    p50, p99 = window.quantile(0.5), window.quantile(0.99)
    return {
        "copies": window.compared_requests + window.errors,
        "compared_rows": window.compared_rows,
        "agreement": window.agreement,
        "mean_score_delta": window.mean_delta,
        "mean_abs_score_delta": window.mean_abs_delta,
        "mean_latency_delta_ms": None if window.mean_latency_delta is None else window.mean_latency_delta * 1000,
        "p50_ms": None if p50 is None else p50 * 1000,
        "p99_ms": None if p99 is None else p99 * 1000,
        "errors": window.errors,
        "dropped": window.dropped,
    }


def _period(since: float | None, until: float | None, now: float) -> tuple[float, float]:
    end = now + 1 if until is None else until
    start = end - 3600 if since is None else since
    if start >= end:
        raise InvalidRequest("the report's period is empty: --since must be before --until")
    if end - start > MAX_REPORT_SECONDS:
        raise InvalidRequest("a report covers at most 90 days")
    return start, end


def experiment_report_of(store: RegistryStore, name: str, *, metric: str | None = None) -> dict[str, Any]:
    """The A/B report of an experiment deployment (its configured metric unless ``metric``)."""
    _, spec = current_spec(store, name)
    experiment = spec.experiment
    if experiment is None:
        raise InvalidRequest(f"deployment {name!r} is not an experiment (it has no arms)")
    if metric is not None and metric != experiment.metric:
        experiment = experiment.model_copy(update={"metric": metric})
    found = store.rollouts.arm_outcomes(name, experiment.metric)
    arms = [ArmData(arm, *found.get(arm, (0, _empty()))) for arm in spec.arms]
    report = experiment_report(arms, experiment)
    return {"deployment": name, **report.to_dict()}


def record_outcome(
    store: RegistryStore, name: str, request_id: str, metric: str, value: Any, *, recorded_by: str
) -> OutcomeResult:
    """Record an outcome (``metric = value``) for a request the deployment answered."""
    if not isinstance(metric, str) or not is_metric_name(metric):
        raise InvalidRequest("an outcome's metric is a name (letters, digits, '_', '.', ':', '-')")
    if isinstance(value, bool):
        value = float(value)
    if not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidRequest(f"an outcome's value is a finite number, got {json.dumps(value)[:40]}")
    store.deployments.get(name)
    return store.rollouts.record_outcome(name, request_id, metric, float(value), recorded_by=recorded_by)


def _empty() -> np.ndarray:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class Evaluation:
    """A canary's analysis now: the verdict, and what it was decided on."""

    deployment: Deployment
    revision: int
    spec: DeploymentSpec
    verdict: Verdict


def evaluate(store: RegistryStore, name: str, *, now: float | None = None) -> Evaluation | None:
    """The verdict of the current step of ``name``'s rollout over the traffic of every
    worker since the step began; None when no rollout is progressing."""
    deployment, revision = store.deployments.current(name)
    if deployment.rollout_status != PROGRESSING or deployment.step_started_at is None:
        return None
    spec = DeploymentSpec.from_dict(revision.spec, source=f"deployment {name!r} revision {revision.revision}")
    canary, primary, analysis = canary_of(spec), spec.primary, spec.analysis
    if canary is None or primary is None or analysis is None:
        return None
    started = deployment.step_started_at.timestamp()
    moment = time.time() if now is None else now
    windows = store.rollouts.windows(name, since=started, revision=revision.revision)
    served = merged_by_variant(windows, "served")
    baseline = served.get(primary, VariantWindow())
    if baseline.requests < analysis.min_requests:
        # At the 100% step the primary answers nothing: its latency and predictions come
        # from the time before the step (the previous step's traffic).
        lookback = max(analysis.bake_seconds, 60.0)
        before = merged_by_variant(store.rollouts.windows(name, since=started - lookback, until=started), "served")
        baseline.merge(before.get(primary, VariantWindow()))
    outcomes: dict[str, tuple[float | None, float | None]] = {}
    wanted = analysis.gates.min_outcome_ratio or {}
    if wanted:
        means = store.rollouts.outcome_means(name, wanted, since=deployment.step_started_at)
        outcomes = {m: (means[m].get(canary), means[m].get(primary)) for m in wanted}
    verdict = analyse(
        primary=baseline,
        canary=served.get(canary, VariantWindow()),
        mirror=merged_by_variant(windows, "mirror").get(canary),
        analysis=analysis,
        baked=moment - started >= analysis.bake_seconds,
        outcomes=outcomes,
    )
    return Evaluation(deployment, revision.revision, spec, verdict)
