"""``inference.GRPCInferenceService``: the Open Inference Protocol V2 over gRPC, on the HTTP data plane.

Only translation happens here, as in ``http/v2``: admit the caller (``grpcapi/gate``), resolve
the target and call the data plane through the steps HTTP uses (``http.state``), convert the
tensors (``grpcapi/tensors``). Implemented: ServerLive, ServerReady, ServerMetadata,
ModelReady, ModelMetadata, ModelInfer. Every other call of Triton's service (statistics,
repository, shared memory, streaming...) answers UNIMPLEMENTED.

Scopes are those of the matching HTTP routes: liveness and readiness are open; server
metadata needs ``models.read`` on some model; model metadata and readiness ``models.read``
on the model, inference ``infer`` on it, both open to anonymous callers on the models
``open_inference`` matches. What HTTP sends as headers travels as metadata: ``authorization``,
``x-request-id``, ``x-prediction-key`` and ``x-request-timeout-ms`` in; ``x-request-id``,
``x-shipyard-model-version`` (and a deployment's variant, guardrail flags, fallback, review
ticket, a deprecated version's notice) out. The call's deadline bounds the data plane's wait,
as ``x-request-timeout-ms`` does (the shorter wins, never beyond ``request_timeout_seconds``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from tritonclient.grpc import service_pb2 as pb

import shipyard
from shipyard.config import Settings
from shipyard.context import request_id_from
from shipyard.errors import ShipyardError
from shipyard.governance.scopes import INFER, MODELS_READ
from shipyard.grpcapi.gate import CallInfo, Gate
from shipyard.grpcapi.status import HTTP_BY_STATUS, grpc_status
from shipyard.grpcapi.tensors import decode_infer_request, encode_infer_response, set_parameters
from shipyard.http.state import (
    AppState,
    Target,
    answer_headers,
    prediction_key_from,
    timeout_from,
)
from shipyard.logs import REQUEST_ID, access_line
from shipyard.protocol.v2_metadata import encode_model_metadata
from shipyard.registry.refs import check_model_name, parse_version

logger = logging.getLogger(__name__)

SERVICE = "inference.GRPCInferenceService"
IMPLEMENTED = ("ServerLive", "ServerReady", "ServerMetadata", "ModelReady", "ModelMetadata", "ModelInfer")
REQUEST_ID_HEADER = "x-request-id"
PROTOCOL = "grpc"
"""The protocol label of gRPC inference in metrics and the prediction log."""

Handler = Callable[..., Awaitable[Any]]


def _edge(method: str) -> Callable[[Handler], Handler]:
    """Wrap a handler: the call's request id, errors as statuses, one access-log line, the
    ``route="grpc"`` request counter."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def run(self: InferenceService, request: Any, context: grpc.aio.ServicerContext) -> Any:
            call = self.begin(method, context)
            token = REQUEST_ID.set(call.request_id)
            code = grpc.StatusCode.OK
            try:
                return await handler(self, request, context, call)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED  # the client went away (or its deadline passed)
                raise
            except ShipyardError as exc:
                code, details, trailers = grpc_status(exc)
                if exc.http_status >= 500:
                    logger.warning("gRPC %s failed: %s (%s)", method, exc.code, exc.message)
                await context.abort(code, details, ((REQUEST_ID_HEADER, call.request_id), *trailers))
            except Exception as exc:
                if isinstance(exc, grpc.aio.AbortError):
                    raise
                code = grpc.StatusCode.INTERNAL
                logger.exception("unhandled error on gRPC %s", method)
                await context.abort(code, "internal server error", (("shipyard-code", "internal"),))
            finally:
                self.end(call, code)
                REQUEST_ID.reset(token)

        return run

    return wrap


class InferenceService:
    """The servicer ``service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server`` takes."""

    def __init__(self, state: AppState, gate: Gate, settings: Settings) -> None:
        self.state = state
        self.gate = gate
        self.access_log = settings.access_log
        self.offload_bytes = settings.offload_body_bytes

    # -- health: open to anyone ---------------------------------------------------------------

    @_edge("ServerLive")
    async def ServerLive(self, request: pb.ServerLiveRequest, context: Any, call: CallInfo) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    @_edge("ServerReady")
    async def ServerReady(self, request: pb.ServerReadyRequest, context: Any, call: CallInfo) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.state.dataplane.ready)

    # -- metadata and readiness -------------------------------------------------------------------

    @_edge("ServerMetadata")
    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: Any, call: CallInfo
    ) -> pb.ServerMetadataResponse:
        await self.gate.admit(call, MODELS_READ, target="some")
        # None of Triton's gRPC extensions (statistics, repository, shared memory) is served.
        return pb.ServerMetadataResponse(name="shipyard", version=shipyard.__version__, extensions=[])

    @_edge("ModelReady")
    async def ModelReady(self, request: pb.ModelReadyRequest, context: Any, call: CallInfo) -> pb.ModelReadyResponse:
        name, version = _model(request.name, request.version)
        await self.gate.admit(call, MODELS_READ, model=name, opens=True)
        served = self.state.dataplane.resolve(name, version)
        call.log_fields.update(model=name, version=served.version)
        await context.send_initial_metadata(_ascii_metadata(call, {"x-shipyard-model-version": str(served.version)}))
        return pb.ModelReadyResponse(ready=self.state.dataplane.ready)

    @_edge("ModelMetadata")
    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: Any, call: CallInfo
    ) -> pb.ModelMetadataResponse:
        name, version = _model(request.name, request.version)
        await self.gate.admit(call, MODELS_READ, model=name, opens=True)
        state = self.state
        served = state.dataplane.resolve(name, version)
        versions = [str(s.current.version) for s in state.manager.slots_for(name) if s.current is not None]
        document = encode_model_metadata(
            name=name, versions=versions, platform=served.record.flavor, signature=served.signature
        )
        call.log_fields.update(model=name, version=served.version)
        headers = {"x-shipyard-model-version": str(served.version), **served.notice.headers}
        await context.send_initial_metadata(_ascii_metadata(call, headers))
        return pb.ModelMetadataResponse(
            name=document["name"],
            versions=document["versions"],
            platform=document["platform"],
            inputs=[_tensor_metadata(t) for t in document["inputs"]],
            outputs=[_tensor_metadata(t) for t in document["outputs"]],
        )

    # -- inference ----------------------------------------------------------------------------------

    @_edge("ModelInfer")
    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext, call: CallInfo
    ) -> pb.ModelInferResponse:
        name, version = _model(request.model_name, request.model_version)
        caller = await self.gate.admit(call, INFER, model=name, opens=True)
        state = self.state
        target = state.target(name, version, headers=call.headers, request_id=call.request_id)
        signature = target.served.signature
        if request.ByteSize() > self.offload_bytes:
            # As HTTP does for a large body: convert on a thread, the event loop keeps answering.
            decoded = await asyncio.to_thread(decode_infer_request, request, signature)
        else:
            decoded = decode_infer_request(request, signature)
        timeout = timeout_from(call.headers)
        remaining = context.time_remaining()
        if remaining is not None:
            timeout = remaining if timeout is None else min(timeout, remaining)
        result = await state.infer(
            target,
            decoded.inputs,
            caller=caller,
            protocol=PROTOCOL,
            request_id=decoded.id or call.request_id,
            headers=call.headers,
            version=version,
            key=prediction_key_from(call.headers),
            timeout_seconds=max(timeout, 0.001) if timeout is not None else None,
        )
        call.log_fields.update(model=result.served.name, version=result.served.version, rows=result.batch.n_rows)
        parameters = _deployment_parameters(target, result.variant)
        held = result.pending_review
        if held is not None:
            # No outputs yet: the parameters say where the answer will be (HTTP answers 202).
            body = held.body()
            parameters.update(pending_review=True, ticket=body["ticket"], poll=body["poll"])
            response = pb.ModelInferResponse(model_name=name, model_version=str(result.served.version), id=decoded.id)
            set_parameters(response.parameters, parameters)
        else:
            response = encode_infer_response(
                model_name=name,
                model_version=str(result.served.version),
                request_id=decoded.id,
                outputs=result.outputs,
                requested=decoded.outputs,
                raw=decoded.raw,
                parameters=parameters,
            )
        await context.send_initial_metadata(_ascii_metadata(call, answer_headers(result)))
        return response

    # -- the edge around every call -----------------------------------------------------------------

    def begin(self, method: str, context: grpc.aio.ServicerContext) -> CallInfo:
        headers = {m.key: m.value for m in context.invocation_metadata() or () if isinstance(m.value, str)}
        return CallInfo(
            method=method,
            headers=headers,
            request_id=request_id_from(headers.get(REQUEST_ID_HEADER)),
            source=_peer_host(context.peer()),
            started=time.perf_counter(),
        )

    def end(self, call: CallInfo, code: grpc.StatusCode) -> None:
        status = HTTP_BY_STATUS.get(code, 500)
        self.state.metrics.observe_http(PROTOCOL, status)
        if not self.access_log:
            return
        path = f"/{SERVICE}/{call.method}"
        access_line(
            f"GRPC {path} {code.name}",
            {
                "request_id": call.request_id,
                "method": "GRPC",
                "path": path,
                "status": status,
                "grpc_status": code.name,
                "duration_ms": round((time.perf_counter() - call.started) * 1000, 3),
                "client": call.source,
                "caller": call.caller.subject,
                **call.log_fields,
            },
        )


def _unimplemented(method: str) -> Callable[[Any, Any, grpc.aio.ServicerContext], Awaitable[None]]:
    async def refuse(self: Any, request: Any, context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented by this server")

    refuse.__name__ = method
    return refuse


for _method in pb.DESCRIPTOR.services_by_name["GRPCInferenceService"].methods_by_name:
    if _method not in IMPLEMENTED:
        setattr(InferenceService, _method, _unimplemented(_method))


def _model(raw_name: str, raw_version: str) -> tuple[str, int | None]:
    return check_model_name(raw_name), parse_version(raw_version) if raw_version else None


def _tensor_metadata(tensor: dict[str, Any]) -> pb.ModelMetadataResponse.TensorMetadata:
    return pb.ModelMetadataResponse.TensorMetadata(
        name=tensor["name"], datatype=tensor["datatype"], shape=tensor["shape"]
    )


def _deployment_parameters(target: Target, variant: str | None) -> dict[str, Any]:
    if target.deployment is None:
        return {}
    return {"variant": variant, "deployment": target.deployment.name, "revision": target.deployment.revision}


def _ascii_metadata(call: CallInfo, headers: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Response headers as initial metadata: lower-case names, the request id first."""
    return ((REQUEST_ID_HEADER, call.request_id), *((k.lower(), v) for k, v in headers.items() if v.isascii()))


def _peer_host(peer: str | None) -> str:
    """The client address of a gRPC peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``)."""
    if not peer:
        return ""
    kind, _, rest = peer.partition(":")
    if kind == "ipv6" and rest.startswith("["):
        host = rest[1 : rest.find("]")]
        return host.removeprefix("::ffff:")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    return kind
