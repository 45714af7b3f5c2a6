"""Progressive delivery's moves, as pure functions from one spec to the next.

A move is a new revision of the deployment, so every step, promotion and rollback is in
its history with who (``shipyard-rollout`` for automatic ones), when and why:

- :func:`decide`: after an analysis verdict, the canary's next step (pass), its traffic
  back to 0% (fail), or nothing (wait);
- :func:`promoted`: a variant becomes the primary; the canary is dropped, a blue/green
  spec keeps the old primary loaded at weight 0 (an instant switch back);
- :func:`with_weight`: one variant's weight changed.

The specs written here keep every other field as the author wrote it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shipyard.errors import InvalidRequest
from shipyard.rollout.analysis import Verdict
from shipyard.rollout.spec import DeploymentSpec

ROLLOUT_ACTOR = "shipyard-rollout"
PROGRESSING = "progressing"
PROMOTED = "promoted"
ROLLED_BACK = "rolled_back"


@dataclass(frozen=True)
class Move:
    """What to write: the next spec (None: the spec stays), the rollout's status, the
    audit action and the reason recorded with it."""

    spec: DeploymentSpec | None
    status: str | None
    action: str | None
    reason: str


def canary_of(spec: DeploymentSpec) -> str | None:
    return next(iter(spec.canaries), None)


def decide(spec: DeploymentSpec, verdict: Verdict) -> Move:
    """The move after ``verdict`` for a canary under analysis."""
    analysis = spec.analysis
    canary = canary_of(spec)
    if analysis is None or canary is None:
        return Move(None, None, None, "no canary under analysis")
    weight = float(spec.variants[canary].weight or 0)
    if verdict.outcome == "fail":
        reason = f"rolled back from {_pct(weight)}: {verdict.reason}"
        return Move(with_weight(spec, canary, 0), ROLLED_BACK, "deployment.rollback", reason)
    if verdict.outcome == "wait":
        return Move(None, PROGRESSING, None, verdict.reason)
    following = [step for step in analysis.steps if float(step) > weight + 1e-9]
    if not following:
        reason = f"promoted {canary} after the {_pct(weight)} step passed: {verdict.reason}"
        return Move(promoted(spec, canary), PROMOTED, "deployment.promote", reason)
    step = following[0]
    index = list(analysis.steps).index(step) + 1
    reason = f"step {index} of {len(analysis.steps)}: {canary} {_pct(weight)} -> {_pct(float(step))} ({verdict.reason})"
    return Move(with_weight(spec, canary, step), PROGRESSING, "deployment.step", reason)


def with_weight(spec: DeploymentSpec, variant: str, weight: float | int) -> DeploymentSpec:
    data = spec.to_dict()
    data["variants"][variant]["weight"] = weight
    return DeploymentSpec.from_dict(data, source=f"deployment {spec.name!r}")


def promoted(spec: DeploymentSpec, variant: str | None = None) -> DeploymentSpec:
    """``variant`` (default: the only canary) becomes the primary.

    Canary strategy: the primary takes the variant's model under the primary's name, and
    the variant is dropped. Blue/green: the two swap roles, and the old primary stays as a
    weight-0 canary, loaded, so that a rollback is instant."""
    name = variant or canary_of(spec)
    if name is None and spec.arms:
        raise InvalidRequest(
            f"{spec.name!r} is an experiment: apply a spec without arms to end it",
            hint="`shipyard deploy experiment-report` says which arm to keep",
        )
    if name is None:
        raise InvalidRequest(
            f"deployment {spec.name!r} has no canary to promote", hint="name the variant: --variant NAME"
        )
    if name not in spec.variants:
        raise InvalidRequest(f"deployment {spec.name!r} has no variant {name!r} (it has {', '.join(spec.variants)})")
    role = spec.variants[name].role
    if role == "primary":
        raise InvalidRequest(f"{name!r} is already the primary of {spec.name!r}")
    if role == "arm":
        raise InvalidRequest(
            f"{spec.name!r} is an experiment: apply a spec without arms to end it",
            hint="`shipyard deploy experiment-report` says which arm to keep",
        )
    data: dict[str, Any] = spec.to_dict()
    variants: dict[str, Any] = data["variants"]
    primary = spec.primary
    assert primary is not None  # a spec with canaries or shadows has one
    if spec.resolved_strategy == "bluegreen":
        old = variants[primary]
        variants[primary] = {"model": old["model"], "role": "canary", "weight": 0}
        variants[name] = {"model": variants[name]["model"], "role": "primary"}
        data["variants"] = {name: variants[name], **{k: v for k, v in variants.items() if k != name}}
    else:
        variants[primary] = {"model": variants[name]["model"], "role": "primary"}
        del variants[name]
        if not any(v["role"] == "canary" for v in variants.values()):
            data.pop("analysis", None)
            if data.get("strategy") in ("canary", "bluegreen"):
                data.pop("strategy")
    return DeploymentSpec.from_dict(data, source=f"deployment {spec.name!r}")


def _pct(weight: float) -> str:
    return f"{weight:g}%"
