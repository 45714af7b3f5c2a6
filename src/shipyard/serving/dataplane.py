"""The data plane: every protocol's inference goes through ``DataPlane.infer``.

resolve the name → validate against the signature → run the model off the event loop,
bounded in concurrency and time → hand a record to the observers → return outputs. The
HTTP adapters only decode before and encode after.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from shipyard.errors import ModelError, ModelNotFound, Overloaded, ShipyardError, Unavailable
from shipyard.schema.batch import Batch, Outputs, RawInputs
from shipyard.schema.validate import validate_inputs
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


@dataclass(frozen=True)
class InferenceResult:
    served: ServedVersion
    batch: Batch
    outputs: Outputs


class DataPlane:
    """Runs inference calls against the served models."""

    def __init__(
        self,
        manager: ModelManager,
        *,
        max_rows: int,
        timeout_seconds: float,
        threads: int,
        max_inflight: int = 512,
        observers: Sequence[InferenceObserver] = (),
    ) -> None:
        self.manager = manager
        self._max_rows = max_rows
        self._timeout = timeout_seconds
        self._max_inflight = max_inflight
        self._inflight = 0
        self._observers = tuple(observers)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="shipyard-infer")
        self.draining = False

    @property
    def ready(self) -> bool:
        return self.manager.ready and not self.draining

    def close(self) -> None:
        # A model stuck in a call must not hold the process past its graceful timeout.
        self._pool.shutdown(wait=False, cancel_futures=True)

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
            outputs, compute = await self._run(served, batch)
        except ShipyardError as exc:
            known = served is not None or not isinstance(exc, ModelNotFound)
            notify(
                self._observers,
                InferenceFailure(
                    request_id=call.request_id,
                    model=call.model if known and call.model in self.manager.names() else "_unknown",
                    version=served.version if served else None,
                    protocol=call.protocol,
                    code=exc.code,
                    duration_seconds=time.perf_counter() - t0,
                ),
            )
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
            compute_seconds=compute,
            batch=batch,
            outputs=outputs,
        )
        notify(self._observers, record)
        return InferenceResult(served=served, batch=batch, outputs=outputs)

    async def _run(self, served: ServedVersion, batch: Batch) -> tuple[Outputs, float]:
        if self._inflight >= self._max_inflight:
            raise Overloaded(
                f"too many requests in flight ({self._max_inflight})", hint="retry after a short wait", retry_after=1
            )
        self._inflight += 1
        try:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(self._pool, _timed_predict, served, batch)
            try:
                return await asyncio.wait_for(future, timeout=self._timeout)
            except TimeoutError as exc:
                raise Unavailable(
                    f"the model did not answer within {self._timeout:g}s", hint="send fewer rows or retry later"
                ) from exc
        finally:
            self._inflight -= 1


def _timed_predict(served: ServedVersion, batch: Batch) -> tuple[Outputs, float]:
    t0 = time.perf_counter()
    try:
        outputs = served.model.predict(batch)
    except ShipyardError:
        raise
    except Exception as exc:
        logger.exception("model %s failed on a validated batch of %d rows", served.record.ref, batch.n_rows)
        raise ModelError(f"model {served.record.ref} failed: {type(exc).__name__}") from exc
    return outputs, time.perf_counter() - t0
