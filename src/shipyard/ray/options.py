"""Settings → Ray Serve deployment options, as plain dicts (no Ray import: checked without a cluster).

A ``[models.NAME]`` table's ``min_replicas``, ``max_replicas`` and ``target_ongoing_requests``
become the model deployment's ``autoscaling_config``; ``num_cpus`` its ``ray_actor_options``.
A table with none of the three replica settings gets a fixed single replica.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from shipyard.config import Settings
from shipyard.errors import ConfigError

DEFAULT_NUM_CPUS = 1.0
"""CPUs a model replica reserves when its table does not say (Ray's own default for an actor task)."""
DEFAULT_TARGET_ONGOING = 2.0
"""Ray Serve's default ``target_ongoing_requests``."""
MAX_MODELS_PER_REPLICA = 4
"""Versions one replica keeps loaded (least recently used first out): an alias move or a
canary needs two, a rollback a third."""
INGRESS_MAX_ONGOING = 1024
"""Requests one ingress replica takes at once (Ray Serve's default, 5, would queue a c16 load
at the proxy): the ingress bounds its own work (connection limits, each version's queue)."""
MODEL_MAX_ONGOING = 64
"""Calls one model replica takes at once: the ingress sends one merged call per version at a
time (batching) or up to ``inference_threads`` (not batching), per ingress replica."""
APP_NAME = "shipyard"
INGRESS = "ingress"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def deployment_name(model: str) -> str:
    """The Ray Serve deployment serving ``model``'s versions."""
    return "model-" + _UNSAFE.sub("_", model)


@dataclass(frozen=True)
class DeploymentOptions:
    """What ``serve.deployment(...).options(**as_kwargs())`` gets for one model."""

    name: str
    num_replicas: int | None
    autoscaling_config: dict[str, Any] | None
    ray_actor_options: dict[str, Any]

    def as_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "name": self.name,
            "ray_actor_options": dict(self.ray_actor_options),
            "max_ongoing_requests": MODEL_MAX_ONGOING,
        }
        if self.autoscaling_config is not None:
            kwargs["autoscaling_config"] = dict(self.autoscaling_config)
        else:
            kwargs["num_replicas"] = self.num_replicas
        return kwargs


def model_options(settings: Settings, model: str) -> DeploymentOptions:
    """The deployment options of ``model`` from its ``[models.NAME]`` table (``ConfigError`` when
    ``min_replicas`` exceeds ``max_replicas``)."""
    own = settings.models.get(model)
    cpus = DEFAULT_NUM_CPUS if own is None or own.num_cpus is None else own.num_cpus
    actor = {"num_cpus": cpus}
    name = deployment_name(model)
    if own is None or (own.min_replicas is None and own.max_replicas is None and own.target_ongoing_requests is None):
        return DeploymentOptions(name=name, num_replicas=1, autoscaling_config=None, ray_actor_options=actor)
    low = 1 if own.min_replicas is None else own.min_replicas
    high = max(low, 1) if own.max_replicas is None else own.max_replicas
    if low > high:
        raise ConfigError(
            f"[models.{model}] min_replicas ({low}) is above max_replicas ({high})",
            hint="make min_replicas at most max_replicas",
        )
    target = DEFAULT_TARGET_ONGOING if own.target_ongoing_requests is None else own.target_ongoing_requests
    autoscaling = {
        "min_replicas": low,
        "initial_replicas": max(low, 1),
        "max_replicas": high,
        "target_ongoing_requests": target,
    }
    return DeploymentOptions(name=name, num_replicas=None, autoscaling_config=autoscaling, ray_actor_options=actor)


def ingress_options(replicas: int = 1, num_cpus: float = 0.0) -> dict[str, Any]:
    """The ingress deployment's options: it parses and validates, it does not run models."""
    if replicas < 1:
        raise ConfigError("the ingress needs at least one replica")
    return {
        "name": INGRESS,
        "num_replicas": replicas,
        "ray_actor_options": {"num_cpus": num_cpus},
        "max_ongoing_requests": INGRESS_MAX_ONGOING,
    }
