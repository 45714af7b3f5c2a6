"""``build(args)``: the Ray Serve application of ``shipyard serve --engine ray``.

The import path ``shipyard.ray.app:build`` is what a KubeRay RayService names
(``deploy/kubernetes/ray/rayservice.yaml``) and what the CLI deploys. ``args``:

- ``refs`` (required): the references, as ``shipyard serve`` takes them;
- ``settings``: overrides of ``Settings`` (the CLI's flags), applied in every replica over
  the replica's own environment and shipyard.toml;
- ``ingress_replicas`` (1) and ``ingress_num_cpus`` (0): the ingress deployment's size.

The application: one ingress deployment (``ingress``) and one deployment per model name the
references reach (``model-NAME``, ``plan``), sized by ``[models.NAME]`` (``options``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ray import serve
from ray.serve import Application

from shipyard.bootstrap import open_services
from shipyard.config import Settings
from shipyard.errors import ConfigError
from shipyard.ray.ingress import Ingress
from shipyard.ray.options import ingress_options, model_options
from shipyard.ray.plan import model_names
from shipyard.ray.replica import ModelReplica
from shipyard.registry.refs import parse_ref


@dataclass(frozen=True)
class BuildArgs:
    refs: tuple[str, ...]
    settings: dict[str, Any]
    ingress_replicas: int = 1
    ingress_num_cpus: float = 0.0

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> BuildArgs:
        unknown = sorted(set(args) - {"refs", "settings", "ingress_replicas", "ingress_num_cpus"})
        if unknown:
            raise ConfigError(f"unknown application argument {unknown[0]!r}", hint="see shipyard.ray.app")
        refs = args.get("refs")
        if not isinstance(refs, list | tuple) or not refs or not all(isinstance(r, str) for r in refs):
            raise ConfigError(
                "the application needs 'refs': a list of model references", hint='refs: ["iris@production"]'
            )
        for ref in refs:
            parse_ref(ref)
        settings = args.get("settings") or {}
        if not isinstance(settings, dict):
            raise ConfigError("'settings' must be a mapping of setting names to values")
        return cls(
            refs=tuple(refs),
            settings=dict(settings),
            ingress_replicas=int(args.get("ingress_replicas", 1)),
            ingress_num_cpus=float(args.get("ingress_num_cpus", 0.0)),
        )


def build(args: dict[str, Any]) -> Application:
    """The application serving ``args["refs"]`` (see the module docstring)."""
    parsed = BuildArgs.from_args(args)
    settings = Settings.load(overrides=parsed.settings)
    services = open_services(settings)
    try:
        names = model_names(services.store, [parse_ref(ref) for ref in parsed.refs])
    finally:
        services.close()
    model_deployment = serve.deployment(ModelReplica)
    handles = {
        name: model_deployment.options(**model_options(settings, name).as_kwargs()).bind(name, parsed.settings)
        for name in names
    }
    ingress = serve.deployment(serve.ingress()(Ingress)).options(
        **ingress_options(parsed.ingress_replicas, parsed.ingress_num_cpus)
    )
    app: Application = ingress.bind(list(parsed.refs), parsed.settings, handles)
    return app
