"""The deployment gate: every variant that answers traffic (a primary with traffic left to
it, a canary or an arm with a weight above 0) must pass the governance policy for
``deployment:NAME`` (``registry/sql/gate.py``). Shadows, and a canary's mirrored copies,
never answer anyone: they are free.

A variant that names a bare model (its latest version) would put every later registration
in front of callers without the gate, so for a tier with requirements it must name a fixed
version or an alias (alias moves are gated in ``RegistryStore.set_alias``, for protected
aliases and for any alias a live deployment sends traffic through).
"""

from __future__ import annotations

from shipyard.errors import PolicyRefused
from shipyard.registry.sql.store import RegistryStore
from shipyard.rollout.spec import DeploymentSpec, Variant


def traffic_variants(spec: DeploymentSpec) -> dict[str, Variant]:
    """The variants that answer requests (by name)."""
    out: dict[str, Variant] = {}
    for name, variant in spec.variants.items():
        primary = variant.role == "primary" and float(spec.primary_weight) > 0
        if primary or (variant.role in ("canary", "arm") and float(variant.weight or 0) > 0):
            out[name] = variant
    return out


def require_traffic(store: RegistryStore, spec: DeploymentSpec) -> None:
    """``PolicyRefused`` (naming the variant and what it lacks) unless every variant with
    traffic may have it."""
    purpose = f"deployment:{spec.name}"
    policy = store.policies.current().policy
    for name, variant in traffic_variants(spec).items():
        ref = variant.ref
        if ref.is_latest:
            tier = store.get_model(ref.name).risk_tier
            if not policy.requirements(tier).empty:
                raise PolicyRefused(
                    f"variant {name} names {ref.name} (its latest version): a tier-{tier} model's traffic goes "
                    "to a fixed version or an alias, so that each version passes the gate",
                    hint=f"name a version ({ref.name}/N) or an alias ({ref.name}@production)",
                    missing=["a fixed version or an alias"],
                    tier=tier,
                )
            continue
        version = store.resolve(ref)
        status = store.approvals.status(version.model, version.version, purpose=purpose)
        if not status.allowed:
            refusal = status.refusal()
            raise PolicyRefused(
                f"variant {name}: {refusal.message}", hint=refusal.hint, missing=status.missing, tier=status.tier
            )
