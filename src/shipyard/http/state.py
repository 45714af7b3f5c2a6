"""What every route needs, built once per process and reached through ``request.app.state``.

The inference steps every front end shares (the HTTP routes here, the gRPC service in
``grpcapi``) take plain values, not a Starlette request: the target a name resolves to
(``AppState.target``), the data-plane call (``AppState.infer``), and the caller's headers
or gRPC metadata read the same way
(``prediction_key_from``, ``timeout_from``); the scope rule itself is ``http/scope_check``.
The ``Request`` forms below only unpack a request and note the access-log fields.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from shipyard.bootstrap import Services
from shipyard.context import ANONYMOUS, Caller
from shipyard.errors import Forbidden, InvalidRequest, ShipyardError
from shipyard.monitoring.metrics import ServingMetrics
from shipyard.schema.batch import Batch, RawInputs
from shipyard.schema.validate import validate_inputs
from shipyard.serving.dataplane import DataPlane, InferenceCall, InferenceResult
from shipyard.serving.deployments import ServedDeployment
from shipyard.serving.manager import ModelManager, ServedVersion

VERSION_HEADER = "x-shipyard-model-version"
VARIANT_HEADER = "x-shipyard-variant"
PREDICTION_KEY_HEADER = "x-prediction-key"
TIMEOUT_HEADER = "x-request-timeout-ms"
FLAGS_HEADER = "x-shipyard-flags"
FALLBACK_HEADER = "x-shipyard-fallback"
TICKET_HEADER = "x-shipyard-review-ticket"
_TIMEOUT_MS = re.compile(r"[0-9]{1,9}")
_HEADER_UNSAFE = re.compile(r"[^A-Za-z0-9._:/@-]")
MAX_PREDICTION_KEY = 128
_PREDICTION_KEY = re.compile(r"[A-Za-z0-9._:-]{1,128}")


@dataclass
class AppState:
    services: Services
    manager: ModelManager
    dataplane: DataPlane
    metrics: ServingMetrics
    openapi: dict[str, Any] = field(default_factory=dict)

    def authorize(self, request: Request, action: str, resource: str) -> Caller:
        """The caller of ``request``. The edge (``http/middleware``) has checked it against the
        route table's scope for this route before the endpoint runs; this only makes sure it
        did (an endpoint reached some other way is refused)."""
        return caller_of(request)

    def target(self, name: str, version: int | None, *, headers: Mapping[str, str], request_id: str) -> Target:
        """The version answering ``name`` (exactly ``version`` when given). A deployment's
        unversioned call chooses its variant here (by the sticky header or the request id);
        when the sticky key is an input field the choice waits for the inputs (``infer``)."""
        deployment = self.manager.deployment(name) if version is None else None
        if deployment is None:
            return Target(self.dataplane.resolve(name, version))
        if deployment.sticky_field is not None:
            return Target(deployment.default(), deployment)
        variant, served = deployment.choose(headers, request_id)
        return Target(served, deployment, variant)

    async def infer(
        self,
        target: Target,
        inputs: RawInputs,
        *,
        caller: Caller,
        protocol: str,
        request_id: str,
        headers: Mapping[str, str],
        version: int | None = None,
        key: str | None = None,
        timeout_seconds: float | None = None,
    ) -> InferenceResult:
        """The shared step of every protocol adapter: call the data plane for the already
        resolved (and authorized) target. ``headers`` choose a deployment's sticky variant;
        ``timeout_seconds`` is the caller's shorter deadline (never longer than the server's)."""
        served, deployment, variant = target.served, target.deployment, target.variant
        if deployment is not None and variant is None:
            # The sticky key is an input field: read it from the rows (validated as the default
            # variant takes them; all variants' input signatures agree).
            # Inputs that fail validation keep the default variant: the data plane refuses the
            # same inputs below and records the failure there, once.
            batch = _valid_batch(served, inputs, max_rows=self.dataplane.max_rows)
            if batch is not None:
                variant, served = deployment.choose_by_batch(headers, request_id, batch)
        return await self.dataplane.infer(
            InferenceCall(
                model=served.name,
                version=version,
                served=served,
                inputs=inputs,
                protocol=protocol,
                request_id=request_id,
                caller=caller.subject,
                deployment=deployment.name if deployment is not None else None,
                variant=variant,
                revision=deployment.revision if deployment is not None else None,
                key=key,
                timeout_seconds=timeout_seconds,
            )
        )


def caller_of(request: Request) -> Caller:
    """Who is calling, as the edge identified and authorized them; ``Forbidden`` if the edge
    did not check this request."""
    state = request.scope.get("state", {})
    if not state.get("authorized"):
        raise Forbidden("this request was not checked at the edge")
    caller: Caller = state.get("caller", ANONYMOUS)
    return caller


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.shipyard
    return state


def request_id(request: Request) -> str:
    rid: str = request.scope["state"]["request_id"]
    return rid


def log_fields(request: Request, **fields: object) -> None:
    """Add fields to this request's access-log line (model, version, rows)."""
    request.scope["state"].setdefault("log_fields", {}).update(fields)


@dataclass(slots=True)
class Target:
    """What a call to a name resolved to: the version to decode with (and, unless the
    deployment's sticky key is an input field, to answer with), and the deployment's
    chosen variant when the name is a deployment."""

    served: ServedVersion
    deployment: ServedDeployment | None = None
    variant: str | None = None


def resolve_target(request: Request, name: str, version: int | None = None) -> Target:
    """``AppState.target`` for this request (its headers and request id)."""
    return app_state(request).target(name, version, headers=request.headers, request_id=request_id(request))


async def run_inference(
    request: Request,
    target: Target,
    inputs: RawInputs,
    *,
    caller: Caller,
    protocol: str,
    version: int | None = None,
    request_id_override: str | None = None,
) -> InferenceResult:
    """``AppState.infer`` for this request (its headers: sticky key, ``X-Prediction-Key``,
    ``X-Request-Timeout-Ms``); notes model, version and rows in the access log."""
    headers = request.headers
    result = await app_state(request).infer(
        target,
        inputs,
        caller=caller,
        protocol=protocol,
        request_id=request_id_override or request_id(request),
        headers=headers,
        version=version,
        key=prediction_key_from(headers),
        timeout_seconds=timeout_from(headers),
    )
    if target.deployment is None:
        log_fields(request, model=result.served.name, version=result.served.version, rows=result.batch.n_rows)
    else:
        log_fields(
            request,
            model=result.served.name,
            version=result.served.version,
            rows=result.batch.n_rows,
            deployment=target.deployment.name,
            variant=result.variant,
        )
    return result


def prediction_key(request: Request) -> str | None:
    """``prediction_key_from`` this request's headers."""
    return prediction_key_from(request.headers)


def prediction_key_from(headers: Mapping[str, str]) -> str | None:
    """The caller's own correlation key for this prediction (header ``X-Prediction-Key``, or
    gRPC metadata ``x-prediction-key``): 1 to 128 of the characters a request id may hold
    (letters, digits, ``. _ : -``); it is logged with the prediction so that feedback can
    name it. ``InvalidRequest`` otherwise."""
    raw = headers.get(PREDICTION_KEY_HEADER)
    if raw is None:
        return None
    if not _PREDICTION_KEY.fullmatch(raw):
        raise InvalidRequest(
            f"the {PREDICTION_KEY_HEADER.title()} header must be 1 to {MAX_PREDICTION_KEY} characters "
            "of letters, digits, '.', '_', ':' and '-'",
            hint="send a shorter key of those characters, or none",
        )
    return raw


def request_timeout(request: Request) -> float | None:
    """``timeout_from`` this request's headers."""
    return timeout_from(request.headers)


def timeout_from(headers: Mapping[str, str]) -> float | None:
    """The caller's shorter deadline in seconds (header ``X-Request-Timeout-Ms`` or gRPC
    metadata ``x-request-timeout-ms``: a whole number of milliseconds, 1 to 999999999); the
    data plane never lets it exceed the server's own. ``InvalidRequest`` for anything else."""
    raw = headers.get(TIMEOUT_HEADER)
    if raw is None:
        return None
    if not _TIMEOUT_MS.fullmatch(raw) or int(raw) == 0:
        raise InvalidRequest(
            f"the {TIMEOUT_HEADER.title()} header must be a whole number of milliseconds from 1 to 999999999",
            hint="send a shorter deadline in milliseconds, or none (a longer one than the server's is cut to it)",
        )
    return int(raw) / 1000.0


def answer_headers(result: InferenceResult) -> dict[str, str]:
    """The headers saying what answered: the model version, the variant for a deployment, and
    a deprecated version's ``Deprecation``/``Sunset``/``Link`` (``serving/notices``); the
    guardrail flags, the fallback that answered and the review ticket, when there are."""
    headers = {VERSION_HEADER: str(result.served.version)}
    if result.variant is not None:
        headers[VARIANT_HEADER] = result.variant
    if result.flags:
        headers[FLAGS_HEADER] = ",".join(_HEADER_UNSAFE.sub("_", flag) for flag in result.flags)
    if result.fallback is not None:
        headers[FALLBACK_HEADER] = _HEADER_UNSAFE.sub("_", result.fallback)
    if result.held is not None:
        headers[TICKET_HEADER] = result.held.ticket
    notice = result.served.notice.headers
    if notice:
        headers.update(notice)
    return headers


def _valid_batch(served: ServedVersion, inputs: RawInputs, *, max_rows: int) -> Batch | None:
    """``inputs`` validated against ``served``'s signature, or None when they do not pass."""
    try:
        return validate_inputs(served.signature, inputs, max_rows=max_rows)
    except ShipyardError:
        return None
