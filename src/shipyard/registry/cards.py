"""Model cards, generated from what the registry knows, with the narrative fields on top.

``build_card`` is pure: it takes the model, the version, the card's latest narrative
revision (``registry/sql/cards.py``) and what governance says (the tier, the fields that
tier requires, the approvals), and returns the card as a JSON-able mapping::

    card_schema   1
    model, version, ref, tier, revision, revised_by, revised_at, generated_at
    status        {complete, required, missing}
    details       description, flavor, created_by, created_at, artifact, signature,
                  tags, lifecycle, serving_runtime, aliases
    owners        {owner, text}
    narrative     {field: text} for every narrative field that is set (card order)
    training_data {fingerprint, profile (summary per column), text}
    evaluation    {metrics (overall), slices {metric: {slice: value}}, text, slices_text}
    fairness      the figures ``shipyard card fairness`` stored, or null
    approvals     the version's approval requests with their votes
    lineage       parent_version, code_version, environment, params, drift_reference

``card_for`` gathers those inputs from a ``RegistryStore``; ``card_status`` answers the
short form (revision, complete, missing) for the one view of a version.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shipyard.registry.card_fields import FAIRNESS_FIELD, NARRATIVE_FIELDS, gaps, is_slice_metric
from shipyard.registry.sql.cards import CardRevision
from shipyard.registry.types import Model, ModelVersion

if TYPE_CHECKING:
    from shipyard.registry.sql.store import RegistryStore

CARD_SCHEMA = 1
_TOP_CATEGORIES = 5


@dataclass(frozen=True)
class Governance:
    """What governance says about a version, as far as its card is concerned."""

    tier: str = "minimal"
    required: tuple[str, ...] = ()
    """The card fields the tier requires (``tiers.<tier>.card_fields`` of the policy)."""
    approvals: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    missing: Sequence[str] | None = None
    """Everything the gate still misses (approvals, card, metrics...), when known."""


def build_card(
    model: Model,
    version: ModelVersion,
    revision: CardRevision,
    governance: Governance,
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The card of ``version`` as a JSON-able mapping (see the module's docstring)."""
    narrative = dict(revision.fields)
    lineage = version.lineage
    missing = gaps(
        governance.required, owner=model.owner, lineage=lineage, narrative=narrative, fairness=revision.fairness
    )
    overall, slices = split_metrics(lineage.metrics)
    return {
        "card_schema": CARD_SCHEMA,
        "model": model.name,
        "version": version.version,
        "ref": version.ref,
        "tier": governance.tier,
        "revision": revision.revision,
        "revised_by": revision.actor,
        "revised_at": _iso(revision.created_at),
        "generated_at": (now or datetime.now(UTC)).isoformat(),
        "status": {"complete": not missing, "required": list(governance.required), "missing": missing},
        "details": {
            "model_description": model.description,
            "description": version.description,
            "flavor": version.flavor,
            "created_by": version.created_by,
            "created_at": version.created_at.isoformat(),
            "artifact": version.artifact.to_dict(),
            "signature": _signature(version),
            "tags": dict(version.tags),
            "lifecycle": version.lifecycle,
            "serving_runtime": version.serving_runtime,
            "aliases": list(version.aliases),
        },
        "owners": {"owner": model.owner or None, "text": narrative.get("owners")},
        "narrative": {name: narrative[name] for name in _card_order(narrative) if narrative.get(name)},
        "training_data": {
            "fingerprint": lineage.training_data.to_dict() if lineage.training_data is not None else None,
            "profile": profile_summary(lineage.profile),
            "text": narrative.get("training_data"),
        },
        "evaluation": {
            "metrics": overall,
            "slices": slices,
            "text": narrative.get("evaluation"),
            "slices_text": narrative.get("slices"),
        },
        "fairness": dict(revision.fairness) if revision.fairness is not None else None,
        "approvals": [dict(a) for a in governance.approvals],
        "governance_missing": list(governance.missing) if governance.missing is not None else None,
        "lineage": {
            "parent_version": version.parent_version,
            "code_version": lineage.code_version,
            "environment": dict(lineage.environment),
            "params": {k: _plain(v) for k, v in lineage.params.items()},
            "drift_reference": lineage.drift_reference.to_dict() if lineage.drift_reference is not None else None,
        },
    }


def split_metrics(metrics: Mapping[str, float]) -> tuple[dict[str, float | None], dict[str, dict[str, float | None]]]:
    """Overall metrics, and sliced ones (``accuracy[sex=F]``) as ``{metric: {slice: value}}``."""
    overall: dict[str, float | None] = {}
    slices: dict[str, dict[str, float | None]] = {}
    for name in sorted(metrics):
        value = _number(metrics[name])
        if is_slice_metric(name):
            metric, _, rest = name.partition("[")
            slices.setdefault(metric, {})[rest[:-1]] = value
        else:
            overall[name] = value
    return overall, slices


def profile_summary(profile: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The reference profile in a card's words: rows, target, and a line of facts per column."""
    if not profile:
        return None
    columns: list[dict[str, Any]] = []
    raw_columns = profile.get("columns")
    for name, col in raw_columns.items() if isinstance(raw_columns, Mapping) else ():
        if not isinstance(col, Mapping):
            continue
        kind = str(col.get("type", "unknown"))
        entry: dict[str, Any] = {
            "name": str(name),
            "type": kind,
            "dtype": str(col.get("dtype", "")),
            "missing_rate": _number(col.get("missing_rate")),
        }
        if kind == "numeric":
            entry.update({k: _number(col.get(k)) for k in ("min", "max", "mean", "std")})
        elif kind == "boolean":
            entry["true_rate"] = _number(col.get("true_rate"))
        elif kind == "categorical":
            top = col.get("top")
            items = sorted(top.items(), key=lambda kv: (-_count(kv[1]), str(kv[0]))) if isinstance(top, Mapping) else []
            entry["top"] = [[str(k), _count(v)] for k, v in items[:_TOP_CATEGORIES]]
        columns.append(entry)
    rows = profile.get("rows")
    target = profile.get("target")
    return {
        "rows": int(rows) if isinstance(rows, int) else None,
        "target": str(target) if target is not None else None,
        "columns": columns,
    }


def card_status(card: Mapping[str, Any]) -> dict[str, Any]:
    """The short form of a card for the one view: revision, complete, required, missing."""
    status = card["status"]
    return {
        "revision": card["revision"],
        "revised_by": card["revised_by"],
        "revised_at": card["revised_at"],
        "complete": status["complete"],
        "required": status["required"],
        "missing": status["missing"],
        "fairness": card["fairness"] is not None,
    }


def card_for(store: RegistryStore, name: str, version: int, *, revision: int | None = None) -> dict[str, Any]:
    """The card of ``name/version`` from the store: its latest narrative (or ``revision``),
    and governance as the policy and approvals say."""
    model = store.get_model(name)
    record = store.get_version(name, version)
    narrative = store.cards.latest(name, version) if revision is None else store.cards.get(name, version, revision)
    return build_card(model, record, narrative, governance_of(store, name, record.version))


def governance_of(store: RegistryStore, name: str, version: int, *, purpose: str = "alias:production") -> Governance:
    """The tier, required card fields (the fairness report counting as the field
    ``fairness``), approvals and everything still missing, from the gate's status."""
    status = store.approvals.status(name, version, purpose=purpose)
    required = [str(f) for f in status.required.get("card_fields") or ()]
    if status.required.get("fairness_report"):
        required.append(FAIRNESS_FIELD)
    return Governance(
        tier=status.tier,
        required=tuple(dict.fromkeys(required)),
        approvals=[dict(a) for a in status.approvals],
        missing=list(status.missing),
    )


def _card_order(narrative: Mapping[str, str]) -> list[str]:
    """The narrative fields in card order, then the policy's own fields by name."""
    return [*NARRATIVE_FIELDS, *sorted(k for k in narrative if k not in NARRATIVE_FIELDS)]


def _signature(version: ModelVersion) -> dict[str, Any]:
    doc = version.signature.to_dict()
    return {"inputs": doc.get("inputs", []), "outputs": doc.get("outputs", [])}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else 0


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
