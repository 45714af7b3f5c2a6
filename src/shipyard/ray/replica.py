"""The model deployment: one per served model name, its replicas running the versions asked for.

A version is a Ray Serve multiplexed model (id ``NAME/VERSION``): the ingress names it on each
call, Ray Serve routes the call to a replica that has it loaded when there is one, and a
replica loads it on first use exactly as ``shipyard serve`` does (``load_version``: digest
check, signature check, the trust it was registered with, the compiled form when it was
verified; then one warm-up call). The least recently used version leaves a replica when it
holds more than ``MAX_MODELS_PER_REPLICA``.

The ingress has already validated the rows (``Batch``), applied the controls and merged
concurrent requests; a replica only runs ``predict``. ``ShipyardError`` travels back as a
``Failure`` value (``transport``).
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from ray import serve

from shipyard.bootstrap import Services, open_services
from shipyard.compile.runtime import CompiledModel
from shipyard.config import Settings
from shipyard.errors import ModelLoadError, ShipyardError
from shipyard.flavors.base import LoadedModel
from shipyard.logs import configure_logging
from shipyard.ray.options import MAX_MODELS_PER_REPLICA
from shipyard.ray.transport import Described, Failure, parse_model_id
from shipyard.registry.service import warm_up
from shipyard.schema.batch import Batch, Outputs

logger = logging.getLogger(__name__)


class ModelReplica:
    """One replica of a model's deployment (constructed by Ray Serve in its own process)."""

    def __init__(self, model: str, settings: dict[str, Any]) -> None:
        self._settings = Settings.load(overrides=settings)
        configure_logging(self._settings.log_level)
        self._model = model
        self._services: Services = open_services(self._settings)

    @serve.multiplexed(max_num_models_per_replica=MAX_MODELS_PER_REPLICA)  # type: ignore[untyped-decorator]
    async def _loaded(self, model_id: str) -> LoadedModel:
        return await asyncio.to_thread(self._load, model_id)

    def _load(self, model_id: str) -> LoadedModel:
        name, version = parse_model_id(model_id)
        if name != self._model:
            raise ModelLoadError(f"the deployment of {self._model!r} does not serve {name!r}")
        record = self._services.store.get_version(name, version)
        # The ingress decided whether a retired version may serve (``check_loadable``).
        model = self._services.registry.load_version(record, runtime=self._settings.runtime, allow_retired=True)
        warm_up(model, record)
        logger.info("replica %d loaded %s (%s)", os.getpid(), record.ref, _runtime(model))
        return model

    async def describe(self) -> Described | Failure:
        """Load the version the call names (if this replica has not) and say what it answers."""
        try:
            model = await self._loaded(serve.get_multiplexed_model_id())
        except ShipyardError as exc:
            return Failure.of(exc)
        return Described(
            outputs=model.outputs, row_independent=model.row_independent, flavor=model.flavor, runtime=_runtime(model)
        )

    async def predict(self, batch: Batch) -> Outputs | Failure:
        """``predict`` of the version the call names, on validated rows."""
        try:
            model: LoadedModel = await self._loaded(serve.get_multiplexed_model_id())
            # On this replica's own loop: a replica runs one model call at a time anyway (the
            # GIL), and a thread hop costs more than a compiled one-row call.
            return model.predict(batch)
        except ShipyardError as exc:
            return Failure.of(exc)

    def pid(self) -> int:
        """This replica's process id (``shipyard status --engine ray``, the replica-loss test)."""
        return os.getpid()

    def __del__(self) -> None:
        services = getattr(self, "_services", None)
        if services is not None:
            services.close()


def _runtime(model: LoadedModel) -> str:
    return "compiled" if isinstance(model, CompiledModel) else "native"
