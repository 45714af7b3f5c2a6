"""Applying a deployment spec: parse it, check it against the registry, store it.

The one place the three meet (the CLI and the management API both call :func:`apply_spec`).
Every check runs before the store is written, and the store writes the revision and its
audit entry in one transaction, so a refused spec leaves nothing behind.
"""

from __future__ import annotations

import json

import yaml

from shipyard.errors import InvalidSpec, ModelNotFound, NotFound
from shipyard.registry.deployment_types import Applied
from shipyard.registry.refs import ModelRef
from shipyard.registry.sql.store import RegistryStore
from shipyard.registry.types import ModelVersion
from shipyard.rollout.compat import check_variants
from shipyard.rollout.gate import require_traffic
from shipyard.rollout.spec import DeploymentSpec
from shipyard.rollout.spec_yaml import parse_spec


def check_spec(store: RegistryStore, text: str | bytes, *, source_name: str = "spec") -> DeploymentSpec:
    """``text`` parsed and checked against ``store`` (variants resolve, signatures agree)."""
    spec = parse_spec(text, source=source_name)

    def resolve(ref: ModelRef) -> ModelVersion:
        return store.resolve(ref)

    try:
        check_variants(spec, resolve, model_exists=lambda name: model_exists(store, name))
    except NotFound as exc:
        # An unknown model, version or alias is a fault of the spec (400 over HTTP, not the
        # 404 that would say the deployment itself is missing).
        raise InvalidSpec(f"{source_name}: {exc.message}", hint=exc.hint, **exc.details) from exc
    return spec


def apply_spec(
    store: RegistryStore,
    text: str | bytes,
    *,
    actor: str | None = None,
    source: str = "local",
    reason: str | None = None,
    source_name: str = "spec",
    expect_name: str | None = None,
) -> Applied:
    """Parse, check and store ``text`` as the deployment's next revision (none when the
    spec is unchanged: ``Applied.changed`` is False). ``expect_name``: the spec's
    ``deployment`` must be this name (the management API's path). Every variant with
    traffic beyond shadow passes the governance gate (``rollout/gate.py``)."""
    spec = check_spec(store, text, source_name=source_name)
    if expect_name is not None and spec.name != expect_name:
        raise InvalidSpec(
            f"{source_name}: deployment: the spec names {spec.name!r}, not {expect_name!r}",
            hint="the spec's `deployment` must be the name in the URL",
            field="deployment",
        )
    require_traffic(store, spec)
    written = text.decode("utf-8") if isinstance(text, bytes) else text
    return store.deployments.apply(
        spec.name,
        spec.canonical_json(),
        written,
        actor=actor,
        source=source,
        reason=reason,
        rollout_status=initial_rollout_status(spec),
    )


def initial_rollout_status(spec: DeploymentSpec) -> str | None:
    """``progressing`` for a canary with an analysis and traffic to analyse, else None."""
    if spec.analysis is None:
        return None
    canary = next(iter(spec.canaries.values()), None)
    return "progressing" if canary is not None and float(canary.weight or 0) > 0 else None


def model_exists(store: RegistryStore, name: str) -> bool:
    try:
        store.get_model(name)
    except ModelNotFound:
        return False
    return True


def spec_yaml(spec_json: str) -> str:
    """The canonical YAML of a stored revision's canonical JSON (what ``deploy diff`` compares).

    Dumped as stored, not re-validated: a revision stays readable whatever later rules say."""
    return str(yaml.safe_dump(json.loads(spec_json), sort_keys=False, default_flow_style=False, allow_unicode=True))
