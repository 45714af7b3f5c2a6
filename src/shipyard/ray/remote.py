"""The ingress's side of the model call: a ``LoadedModel`` whose ``predict`` runs in a replica.

The ingress runs the serving graph unchanged (``bootstrap.build_serving``): its model manager
loads versions through ``RemoteRegistry.load_version``, which asks the model's deployment to
load the version in a replica and returns a ``RemoteModel``. Everything the manager does
around a load (warm-up, alias following, deployments' variants, swaps, retirement) and the
data plane around a call (validation, controls, batching, deadlines, the prediction log)
happens in the ingress as on one machine; only ``predict`` crosses to the replica.

``predict`` runs on the data plane's inference threads (a remote call is never cheap enough
for the batcher to run it on the event loop) and blocks on Ray's answer. A replica lost
mid-call (killed, its node gone) is retried on another replica: a model call is a pure
function of its rows, so a retry cannot answer twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ray.exceptions import RayActorError, WorkerCrashedError
from ray.serve.exceptions import ReplicaUnavailableError

from shipyard.errors import ModelLoadError, Unavailable
from shipyard.flavors.base import LoadedModel
from shipyard.ray.transport import Described, Failure, model_id
from shipyard.registry.service import RegistryService, check_loadable
from shipyard.registry.types import ModelVersion
from shipyard.schema.batch import Batch, Outputs
from shipyard.schema.signature import FieldSpec

LOST = (RayActorError, WorkerCrashedError, ReplicaUnavailableError)
"""What a call raises when its replica went away: retried on another."""
RETRIES = 5
BACKOFF_SECONDS = 0.05
LOAD_TIMEOUT_SECONDS = 600.0


class RemoteModel(LoadedModel):
    """A version loaded in the replicas of its model's deployment."""

    flavor = "ray"

    def __init__(self, handle: Any, described: Described, *, timeout_seconds: float) -> None:
        self._handle = handle
        self._described = described
        self._timeout = timeout_seconds

    @property
    def outputs(self) -> tuple[FieldSpec, ...]:
        return self._described.outputs

    @property
    def described(self) -> Described:
        return self._described

    def predict(self, batch: Batch) -> Outputs:
        answer = call(self._handle, "predict", batch, timeout_seconds=self._timeout)
        if isinstance(answer, Failure):
            raise answer.error()
        outputs: Outputs = answer
        return outputs


class RemoteModelUnmerged(RemoteModel):
    """A remote version whose rows depend on each other (a Python class): never merged."""

    row_independent = False


def call(handle: Any, method: str, *args: Any, timeout_seconds: float) -> Any:
    """``handle.method.remote(*args).result()``, retried while the replica answering is lost.

    Ray refuses a blocking ``result()`` on a running event loop. The data plane calls models
    on its threads, but its batcher may try a call that looked cheap on the loop: that one
    call then waits on a thread of its own (and its wall time sends the next ones to threads)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _call(handle, method, *args, timeout_seconds=timeout_seconds)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="shipyard-ray-call") as one:
        return one.submit(_call, handle, method, *args, timeout_seconds=timeout_seconds).result()


def _call(handle: Any, method: str, *args: Any, timeout_seconds: float) -> Any:
    for attempt in range(RETRIES):
        try:
            return getattr(handle, method).remote(*args).result(timeout_s=timeout_seconds)
        except LOST as exc:
            if attempt == RETRIES - 1:
                raise Unavailable("the model's replicas are restarting", hint="retry in a few seconds") from exc
            time.sleep(BACKOFF_SECONDS * 2**attempt)
    raise AssertionError("unreachable")


class RemoteRegistry(RegistryService):
    """The registry as the ingress uses it: loads happen in the model deployments' replicas."""

    def __init__(self, base: RegistryService, handles: Mapping[str, Any], *, timeout_seconds: float) -> None:
        super().__init__(base.store, base.artifacts, scratch=base.scratch, provenance=base.provenance)
        self._handles = dict(handles)
        self._timeout = timeout_seconds

    def load_version(self, version: ModelVersion, *, runtime: str = "auto", allow_retired: bool = False) -> LoadedModel:
        """``version`` loaded (and warmed) in a replica of its model's deployment; the replicas
        load with the settings' ``runtime``, as every replica of one application must."""
        check_loadable(version, allow_retired=allow_retired)
        handle = self._handles.get(version.model)
        if handle is None:
            raise ModelLoadError(
                f"the Ray application has no deployment for model {version.model!r}",
                hint=f"redeploy with {version.model!r} among the references (shipyard serve --engine ray)",
            )
        bound = handle.options(multiplexed_model_id=model_id(version.model, version.version))
        described = call(bound, "describe", timeout_seconds=LOAD_TIMEOUT_SECONDS)
        if isinstance(described, Failure):
            raise described.error()
        kind = RemoteModel if described.row_independent else RemoteModelUnmerged
        return kind(bound, described, timeout_seconds=self._timeout)
