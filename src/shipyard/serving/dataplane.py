"""The data plane: every protocol's inference goes through ``DataPlane.infer``.

resolve the name → validate against the signature → queue the rows on the version's
batcher (which merges concurrent requests into one model call off the event loop, bounded
in queue length) and wait, bounded in time → hand a record to the observers → return
outputs. The HTTP adapters only decode before and encode after. Validation comes before
the queue, so one request's bad input never reaches, let alone fails, another's batch.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass

from shipyard.errors import ModelNotFound, ShipyardError, StorageError, Unavailable
from shipyard.schema.batch import Batch, Outputs, RawInputs
from shipyard.schema.validate import validate_inputs
from shipyard.serving import spans
from shipyard.serving.batching import Answer
from shipyard.serving.events import InferenceFailure, InferenceObserver, InferenceRecord, notify
from shipyard.serving.manager import ModelManager, ServedVersion

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferenceCall:
    model: str
    version: int | None
    inputs: RawInputs
    protocol: str
    request_id: str
    caller: str = "anonymous"
    served: ServedVersion | None = None
    """Already resolved by the adapter (when decoding needed the signature)."""
    deployment: str | None = None
    variant: str | None = None
    """When ``model`` is a deployment: the variant chosen to answer (``served`` is its version)."""
    revision: int | None = None
    """The deployment's revision that chose the variant."""
    key: str | None = None
    """The caller's own correlation key for this prediction (header ``X-Prediction-Key``)."""


@dataclass(frozen=True)
class InferenceResult:
    served: ServedVersion
    batch: Batch
    outputs: Outputs
    variant: str | None = None
    """The deployment's variant that answered (None for a plain model)."""


class DataPlane:
    """Runs inference calls against the served models."""

    def __init__(
        self,
        manager: ModelManager,
        *,
        max_rows: int,
        timeout_seconds: float,
        observers: Sequence[InferenceObserver] = (),
    ) -> None:
        """Model calls run on the manager's pool (``Settings.inference_threads``), queued
        per version by its batcher."""
        self.manager = manager
        self._max_rows = max_rows
        self._timeout = timeout_seconds
        self._observers = tuple(observers)
        # Observers the response waits for (the prediction log in ``sync`` mode) hear of a
        # record first; the others only once it is durable, so that a request failed for want
        # of durability is counted (metrics, telemetry) as the failure it is.
        self._durable = tuple(o for o in self._observers if getattr(o, "waits_for_durability", False))
        self._others = tuple(o for o in self._observers if o not in self._durable)
        self.draining = False

    @property
    def ready(self) -> bool:
        return self.manager.ready and not self.draining

    def close(self) -> None:
        """Nothing left to release: the manager owns the model threads and the batchers."""

    @property
    def max_rows(self) -> int:
        return self._max_rows

    def resolve(self, name: str, version: int | None = None) -> ServedVersion:
        return self.manager.resolve(name, version)

    async def infer(self, call: InferenceCall) -> InferenceResult:
        started = time.time()
        t0 = time.perf_counter()
        served: ServedVersion | None = None
        try:
            if not self.manager.ready:
                raise Unavailable("the server is still loading its models", hint="retry when /v2/health/ready is 200")
            served = call.served or self.manager.resolve(call.model, call.version)
            batch = validate_inputs(served.signature, call.inputs, max_rows=self._max_rows)
            validated = time.perf_counter()
            answer = await self._run(served, batch)
            answered = time.perf_counter()
        except ShipyardError as exc:
            notify(self._observers, self._failure(call, served, exc, started, t0))
            raise
        record = InferenceRecord(
            request_id=call.request_id,
            model=served.name,
            version=served.version,
            protocol=call.protocol,
            caller=call.caller,
            rows=batch.n_rows,
            started_at=started,
            duration_seconds=time.perf_counter() - t0,
            compute_seconds=answer.compute_seconds,
            batch=batch,
            outputs=answer.outputs,
            queue_seconds=answer.queue_seconds,
            deployment=call.deployment,
            variant=call.variant,
            revision=call.revision,
            key=call.key,
        )
        pending = notify(self._durable, record) if self._durable else []
        if pending:
            try:
                await self._wait_durable(pending, t0)
            except ShipyardError as exc:
                notify(self._others, self._failure(call, served, exc, started, t0))
                raise
        notify(self._others, record)
        if spans.tracer is not None:
            spans.inference(
                call,
                served.name,
                served.version,
                batch.n_rows,
                started=t0,
                validated=validated,
                answered=answered,
                compute_seconds=answer.compute_seconds,
            )
        return InferenceResult(served=served, batch=batch, outputs=answer.outputs, variant=call.variant)

    def _failure(
        self, call: InferenceCall, served: ServedVersion | None, exc: ShipyardError, started: float, t0: float
    ) -> InferenceFailure:
        known = served is not None or not isinstance(exc, ModelNotFound)
        return InferenceFailure(
            request_id=call.request_id,
            model=call.model if known and call.model in self.manager.names() else "_unknown",
            version=served.version if served else None,
            protocol=call.protocol,
            code=exc.code,
            duration_seconds=time.perf_counter() - t0,
            status=exc.http_status,
            deployment=call.deployment,
            variant=call.variant,
            revision=call.revision,
            caller=call.caller,
            started_at=started,
            key=call.key,
        )

    async def _wait_durable(self, pending: list[Awaitable[None]], t0: float) -> None:
        """Wait for what observers asked the response to wait for (the prediction log's
        ``sync`` mode: the record on disk), within what is left of the request's deadline.
        A record that cannot be made durable fails the request: it is never acknowledged."""
        left = max(self._timeout - (time.perf_counter() - t0), 0.001)
        try:
            async with asyncio.timeout(left):
                for waiting in pending:
                    await waiting
        except TimeoutError as exc:
            raise StorageError("the prediction could not be logged durably in time", hint="retry later") from exc
        except ShipyardError:
            raise
        except Exception as exc:
            raise StorageError(f"the prediction could not be logged durably: {exc}", hint="retry later") from exc

    async def _run(self, served: ServedVersion, batch: Batch) -> Answer:
        # The deadline covers the queue and the call: on expiry the request leaves its
        # batch (skipped if still queued, its answer dropped if running); others go on.
        try:
            # asyncio.timeout, not wait_for: wait_for wraps the call in a task of its own.
            async with asyncio.timeout(self._timeout):
                return await served.batcher.submit(batch)
        except TimeoutError as exc:
            raise Unavailable(
                f"the model did not answer within {self._timeout:g}s", hint="send fewer rows or retry later"
            ) from exc
