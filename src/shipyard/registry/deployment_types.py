"""Deployment records: a named endpoint and its immutable numbered revisions.

Frozen dataclasses handed out by ``registry/sql/deployments.py``. A revision keeps the spec
twice: ``spec_json``, the canonical form (``rollout.spec.DeploymentSpec.canonical_json``:
what "unchanged" is decided on), and ``spec_yaml``, the text as its author wrote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

DeploymentState = Literal["active", "paused", "deleted"]
DEPLOYMENT_STATES: tuple[str, ...] = ("active", "paused", "deleted")


@dataclass(frozen=True)
class DeploymentRevision:
    """One applied spec of a deployment; never changed once written."""

    deployment: str
    revision: int
    spec_json: str
    spec_yaml: str
    created_by: str
    created_at: datetime
    source: str
    reason: str | None = None

    @property
    def spec(self) -> dict[str, Any]:
        """The canonical spec as a plain mapping."""
        value: dict[str, Any] = json.loads(self.spec_json)
        return value

    def to_dict(self, *, with_spec: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "deployment": self.deployment,
            "revision": self.revision,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "source": self.source,
            "reason": self.reason,
        }
        if with_spec:
            out["spec"] = self.spec
            out["spec_yaml"] = self.spec_yaml
        return out


@dataclass(frozen=True)
class Deployment:
    """A deployment's current state: which revision is current, and whether it is live."""

    name: str
    state: str
    current_revision: int
    created_at: datetime
    updated_at: datetime
    rollout_status: str | None = None
    """Progressive delivery: ``progressing``, ``promoted``, ``rolled_back`` (None: no rollout)."""
    step_started_at: datetime | None = None
    """When the current step began (its bake clock; restarted on resume)."""
    rollout_verdict: dict[str, Any] | None = None
    """The last analysis verdict (``rollout.analysis.Verdict.to_dict``)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "current_revision": self.current_revision,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "rollout_status": self.rollout_status,
            "step_started_at": self.step_started_at.isoformat() if self.step_started_at else None,
            "rollout_verdict": self.rollout_verdict,
        }


@dataclass(frozen=True)
class Applied:
    """What ``apply`` did: the deployment, its current revision, and whether it changed."""

    deployment: Deployment
    revision: DeploymentRevision
    changed: bool

    def to_dict(self) -> dict[str, Any]:
        return {"deployment": self.deployment.to_dict(), "revision": self.revision.to_dict(), "changed": self.changed}
