"""Which model deployments an application needs: one per model name its references can reach.

A reference ``NAME``, ``NAME/VERSION`` or ``NAME@ALIAS`` reaches ``NAME`` (an alias move stays
within it: the new version is one more multiplexed model of the same deployment). A bare name
that is a live deployment reaches the model names of its variants, as ``shipyard serve``
loads them. A deployment revised later to a variant of another model name needs a redeploy
(the ingress refuses to load it, naming the model).
"""

from __future__ import annotations

from collections.abc import Sequence

from shipyard.errors import NotFound
from shipyard.registry.refs import ModelRef
from shipyard.registry.sql.store import RegistryStore
from shipyard.rollout.spec import DeploymentSpec


def served_refs(store: RegistryStore, ref: ModelRef) -> list[ModelRef]:
    """The model references ``ref`` stands for: the variants of the live deployment a bare
    name names, else ``ref`` itself."""
    if not ref.is_latest:
        return [ref]
    try:
        deployment, revision = store.deployments.current(ref.name)
    except NotFound:
        return [ref]
    if deployment.state == "deleted":
        return [ref]
    spec = DeploymentSpec.from_dict(revision.spec, source=f"deployment {ref.name!r}")
    return [variant.ref for variant in spec.variants.values()]


def model_names(store: RegistryStore, refs: Sequence[ModelRef]) -> list[str]:
    """Every model name ``refs`` reach, in first-seen order."""
    found: dict[str, None] = {}
    for ref in refs:
        for served in served_refs(store, ref):
            found.setdefault(served.name, None)
    return list(found)
