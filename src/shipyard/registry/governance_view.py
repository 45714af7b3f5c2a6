"""The lifecycle of one version in one view: its tier, approvals and what the gate still
misses, its card's status, the review rules and PII marks that apply to it, and where it
is aliased or deployed (``shipyard models show NAME/V``,
``GET /api/models/{name}/versions/{version}/governance``).

Read from the registry only: the gate's status (``store.approvals.status``), the card
(``registry/cards``), the serving controls (``store.controls``) of the model and of every
deployment that routes to the version, and the deployments' current specs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shipyard.errors import InvalidRequest
from shipyard.governance.controls import Controls
from shipyard.registry.cards import build_card, card_status, governance_of
from shipyard.registry.refs import parse_ref
from shipyard.registry.types import Model

if TYPE_CHECKING:
    from shipyard.registry.sql.store import RegistryStore


def version_governance(store: RegistryStore, name: str, version: int, *, purpose: str | None = None) -> dict[str, Any]:
    """The one view of ``name/version`` as a JSON-able mapping. ``purpose`` is what the gate
    is asked about (``alias:A`` or ``deployment:D``; default the policy's first protected
    alias)."""
    model = store.get_model(name)
    record = store.get_version(name, version)
    chosen = purpose or _default_purpose(store)
    status = store.approvals.status(name, record.version, purpose=chosen)
    governance = governance_of(store, name, record.version, purpose=chosen)
    card = build_card(model, record, store.cards.latest(name, record.version), governance)
    deployments = deployments_of(store, model, record.version)
    controls = _controls(store, [name, *(d["deployment"] for d in deployments)])
    own = controls.get(name)
    return {
        "model": name,
        "version": record.version,
        "ref": record.ref,
        "lifecycle": record.lifecycle,
        "owner": model.owner,
        "registered_by": record.created_by,
        "tier": status.tier,
        "tier_set": model.tier_set,
        "gate": status.to_dict(),
        "card": card_status(card),
        "review": {target: _review(c) for target, c in controls.items()},
        "pii": dict(own.pii) if own is not None else {},
        "retention_days": own.retention_days if own is not None else None,
        "aliases": list(record.aliases),
        "latest": model.latest_version == record.version,
        "deployments": deployments,
    }


def deployments_of(store: RegistryStore, model: Model, version: int) -> list[dict[str, Any]]:
    """Every variant of a live deployment's current revision that routes to ``model``'s
    ``version`` (by number, alias, or as the latest), with its role and traffic."""
    found: list[dict[str, Any]] = []
    for deployment in store.deployments.list():
        _, revision = store.deployments.current(deployment.name)
        spec = revision.spec
        variants = spec.get("variants")
        if not isinstance(variants, Mapping):
            continue
        for variant, body in variants.items():
            if not isinstance(body, Mapping) or _resolve(body.get("model"), model) != version:
                continue
            found.append(
                {
                    "deployment": deployment.name,
                    "state": deployment.state,
                    "revision": revision.revision,
                    "variant": str(variant),
                    "model_ref": str(body.get("model")),
                    "role": str(body.get("role")),
                    "traffic": _traffic(body, variants),
                }
            )
    return found


def _resolve(ref: Any, model: Model) -> int | None:
    if not isinstance(ref, str):
        return None
    try:
        parsed = parse_ref(ref)
    except InvalidRequest:
        return None
    if parsed.name != model.name:
        return None
    if parsed.version is not None:
        return int(parsed.version)
    if parsed.alias is not None:
        return model.aliases.get(parsed.alias)
    return model.latest_version


def _traffic(body: Mapping[str, Any], variants: Mapping[str, Any]) -> str:
    """What share of the deployment's traffic the variant answers, in words."""
    role = body.get("role")
    if role == "shadow":
        return f"shadow copy of {_percent(float(body.get('sample', 1.0)) * 100)} of requests"
    if role == "primary":
        canaries = sum(
            float(v.get("weight") or 0)
            for v in variants.values()
            if isinstance(v, Mapping) and v.get("role") == "canary"
        )
        return f"{_percent(100 - canaries)} of requests"
    if role == "arm":
        return f"{_percent(float(body.get('weight') or 0))} of sticky keys"
    return f"{_percent(float(body.get('weight') or 0))} of requests"


def _percent(value: float) -> str:
    return f"{round(value, 2):g}%"


def _controls(store: RegistryStore, targets: list[str]) -> dict[str, Controls]:
    found: dict[str, Controls] = {}
    for target in dict.fromkeys(targets):
        stored = store.controls.get(target)
        if stored is not None:
            found[target] = stored.controls
    return found


def _review(controls: Controls) -> dict[str, Any] | None:
    if controls.review is None:
        return None
    review = controls.review.model_dump(mode="json", exclude_none=True)
    return dict(review)


def _default_purpose(store: RegistryStore) -> str:
    aliases = store.policies.current().policy.protected_aliases
    return f"alias:{aliases[0]}" if aliases else "alias:production"
