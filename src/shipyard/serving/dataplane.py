"""The data plane: every protocol's inference goes through ``DataPlane.infer``.

resolve the name → validate against the signature → queue the rows on the version's
batcher (which merges concurrent requests into one model call off the event loop, bounded
in queue length) and wait, bounded in time → hand a record to the observers → return
outputs. The HTTP adapters only decode before and encode after. Validation comes before
the queue, so one request's bad input never reaches, let alone fails, another's batch.

Governance (``governance/controls``, per target: the deployment's name, else the model's):
input guardrails against the version's reference profile after validation (flag, reject
with 422, or hold for review), output sanity checks, failover to the fallback on a model
error or a timeout (``serving/failover``), and review rules that hold a prediction
(``serving/review_hold``). A target without controls whose version has no profile pays two
dict lookups for all of it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, replace

from shipyard.errors import ModelNotFound, ShipyardError, StorageError, Unavailable
from shipyard.governance.controls import NO_CONTROLS, Controls
from shipyard.schema.batch import Batch, Outputs, RawInputs
from shipyard.schema.validate import validate_inputs
from shipyard.serving import spans
from shipyard.serving.batching import Answer
from shipyard.serving.controls_cache import ControlsCache
from shipyard.serving.events import InferenceFailure, InferenceObserver, InferenceRecord, notify
from shipyard.serving.failover import Failover, failover_cause
from shipyard.serving.guardrails import (
    DEFAULT_GUARDRAILS,
    NO_FINDING,
    GuardrailIndex,
    ProfileChecks,
    check_inputs,
    check_outputs,
    rejection,
)
from shipyard.serving.manager import ModelManager, ServedVersion
from shipyard.serving.review_hold import DEFAULT_REVIEW, Held, ReviewHold, review_reasons

logger = logging.getLogger(__name__)
NO_FLAGS: tuple[str, ...] = ()


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
    timeout_seconds: float | None = None
    """The caller's shorter deadline (header ``X-Request-Timeout-Ms``); never longer than
    the server's ``request_timeout_seconds``."""


@dataclass(frozen=True)
class InferenceResult:
    served: ServedVersion
    batch: Batch
    outputs: Outputs
    variant: str | None = None
    """The deployment's variant that answered (None for a plain model)."""
    flags: tuple[str, ...] = ()
    """Guardrail flags (and ``fallback:CAUSE``, ``review:REASON``) raised on this request."""
    fallback: str | None = None
    """``model:NAME/V`` or ``answer`` when the outputs are not the model's own."""
    held: Held | None = None
    """Set when the prediction was held for review: the caller gets ``202 pending_review``
    when ``held.pending`` (else the fallback answer, marked by ``fallback``)."""

    @property
    def pending_review(self) -> Held | None:
        """The hold to answer ``202 pending_review`` with, if any."""
        return self.held if self.held is not None and self.held.pending else None


class DataPlane:
    """Runs inference calls against the served models."""

    def __init__(
        self,
        manager: ModelManager,
        *,
        max_rows: int,
        timeout_seconds: float,
        observers: Sequence[InferenceObserver] = (),
        controls: ControlsCache | None = None,
        reviews: ReviewHold | None = None,
    ) -> None:
        """Model calls run on the manager's pool (``Settings.inference_threads``), queued
        per version by its batcher. ``controls``: the targets' serving controls (none: no
        target has any); ``reviews``: where held predictions go (none: they cannot be held,
        and a request a rule would hold gets 503)."""
        self.manager = manager
        self._max_rows = max_rows
        self._timeout = timeout_seconds
        self.controls = controls
        self.failover = Failover(manager, max_rows=max_rows)
        self._reviews = reviews or ReviewHold(None)
        self._guards = GuardrailIndex()
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

    async def refresh_controls(self, *, read: bool = True) -> None:
        """Re-read the targets' controls (on a thread) and load the fallback models they
        name; the server calls this on the alias watcher's cadence."""
        if self.controls is None:
            return
        if read:
            await asyncio.to_thread(self.controls.refresh)
        fallbacks = {t: c.fallback for t in self.controls.targets() if (c := self.controls.get(t)).fallback}
        await self.failover.prepare(fallbacks)

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
            timeout = self._timeout if call.timeout_seconds is None else min(self._timeout, call.timeout_seconds)
            target = call.deployment or served.name
            controls = NO_CONTROLS if self.controls is None else self.controls.get(target)
            checks = self._checks(served)
            if controls is NO_CONTROLS and checks is None:
                # No controls, no profile: nothing to govern (the hot path's usual case).
                answer = await self._run(served, batch, timeout)
                outputs, flags, fallback, held = answer.outputs, NO_FLAGS, None, None
            else:
                answer, outputs, flags, fallback, held = await self._governed(
                    call=call,
                    served=served,
                    batch=batch,
                    seconds=timeout,
                    target=target,
                    controls=controls,
                    checks=checks,
                )
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
            outputs=outputs if held is None else answer.outputs,
            queue_seconds=answer.queue_seconds,
            deployment=call.deployment,
            variant=call.variant,
            revision=call.revision,
            key=call.key,
            flags=flags,
            fallback=fallback,
            ticket=held.ticket if held is not None else None,
        )
        pending = notify(self._durable, record) if self._durable else []
        if pending:
            try:
                # A failed-over or held answer spent the deadline on its way: the log gets
                # the deadline again from here.
                since = t0 if fallback is None and held is None else time.perf_counter()
                await self._wait_durable(pending, since, timeout)
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
        return InferenceResult(
            served=served, batch=batch, outputs=outputs, variant=call.variant, flags=flags, fallback=fallback, held=held
        )

    def _checks(self, served: ServedVersion) -> ProfileChecks | None:
        return self._guards.checks(served.name, served.version, served.record)

    async def _governed(
        self,
        *,
        call: InferenceCall,
        served: ServedVersion,
        batch: Batch,
        seconds: float,
        target: str,
        controls: Controls,
        checks: ProfileChecks | None,
    ) -> tuple[Answer, Outputs, tuple[str, ...], str | None, Held | None]:
        """Guardrails, failover and review around one model call: (the model's answer,
        the outputs to answer with, flags, the fallback mark, the hold)."""
        guard = controls.guardrails or (DEFAULT_GUARDRAILS if checks is not None else None)
        finding = NO_FINDING
        if guard is not None and checks is not None and guard.inputs != "off":
            finding = check_inputs(checks, batch, guard.ood_threshold)
            if finding.flags and guard.inputs == "reject":
                raise rejection(finding, served.record.ref)
        flags = list(finding.flags)
        fallback: str | None = None
        try:
            answer = await self._run(served, batch, seconds)
            outputs = answer.outputs
        except ShipyardError as exc:
            cause = failover_cause(exc) if controls.fallback is not None else None
            if cause is None or controls.fallback is None:
                raise
            rescued = await self.failover.answer(controls.fallback, call.inputs, batch.n_rows, seconds)
            if rescued is None:
                raise
            logger.warning("%s failed over to %s (%s)", served.record.ref, rescued.mark, cause)
            outputs, fallback = rescued.outputs, rescued.mark
            answer = Answer(outputs, rescued.compute_seconds, 0.0, 1)
            flags.append(f"fallback:{cause}")
        if guard is not None and guard.outputs and fallback is None:
            flags.extend(check_outputs(outputs, checks.labels if checks is not None else None))
        held: Held | None = None
        guard_review = guard is not None and guard.inputs == "review"
        if fallback is None and (controls.review is not None or guard_review):
            flagged = any(not f.startswith("fallback:") for f in flags)
            reasons = review_reasons(controls.review, outputs, flagged, guard_review)
            if reasons:
                review = controls.review or DEFAULT_REVIEW
                flags.extend(f"review:{r}" for r in reasons)
                held = await self._reviews.hold(
                    controls=controls,
                    review=review,
                    target=target,
                    model=served.name,
                    version=served.version,
                    deployment=call.deployment,
                    variant=call.variant,
                    request_id=call.request_id,
                    caller=call.caller,
                    key=call.key,
                    reasons=reasons,
                    batch=batch,
                    outputs=outputs,
                )
                if review.respond == "fallback" and controls.fallback is not None:
                    left = max(seconds, 0.001)
                    rescued = await self.failover.answer(controls.fallback, call.inputs, batch.n_rows, left)
                    if rescued is not None:
                        outputs, fallback = rescued.outputs, rescued.mark
                        flags.append("fallback:review")
                        return answer, outputs, tuple(flags), fallback, replace(held, pending=False)
        return answer, outputs, tuple(flags), fallback, held

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

    async def _wait_durable(self, pending: list[Awaitable[None]], t0: float, seconds: float) -> None:
        """Wait for what observers asked the response to wait for (the prediction log's
        ``sync`` mode: the record on disk), within what is left of the request's deadline.
        A record that cannot be made durable fails the request: it is never acknowledged."""
        left = max(seconds - (time.perf_counter() - t0), 0.001)
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

    async def _run(self, served: ServedVersion, batch: Batch, seconds: float) -> Answer:
        # The deadline covers the queue and the call: on expiry the request leaves its
        # batch (skipped if still queued, its answer dropped if running); others go on.
        try:
            # asyncio.timeout, not wait_for: wait_for wraps the call in a task of its own.
            async with asyncio.timeout(seconds):
                return await served.batcher.submit(batch)
        except TimeoutError as exc:
            raise Unavailable(
                f"the model did not answer within {seconds:g}s", hint="send fewer rows or retry later"
            ) from exc
