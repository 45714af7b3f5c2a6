"""Open Inference Protocol V2 (REST), with the binary tensor data extension.

Only translation happens here: decode the body into raw inputs, call the data plane,
encode its outputs. Paths: ``/v2``, ``/v2/health/{live,ready}``,
``/v2/models/{name}[/versions/{version}]``, ``.../ready``, ``.../infer``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import shipyard
from shipyard.errors import MalformedRequest
from shipyard.http.decoding import decode_body
from shipyard.http.held import held_response
from shipyard.http.responses import JSONResponse
from shipyard.http.state import (
    VERSION_HEADER,
    Target,
    answer_headers,
    app_state,
    resolve_target,
    run_inference,
)
from shipyard.protocol import v2
from shipyard.protocol.v2_metadata import encode_model_metadata, encode_server_metadata
from shipyard.registry.refs import check_model_name, parse_version

HEADER_LENGTH = "inference-header-content-length"


async def server_metadata(request: Request) -> Response:
    return JSONResponse(encode_server_metadata(name="shipyard", version=shipyard.__version__))


async def live(request: Request) -> Response:
    return JSONResponse({"live": True})


async def ready(request: Request) -> Response:
    is_ready = app_state(request).dataplane.ready
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


def _target(request: Request) -> tuple[str, int | None]:
    name = check_model_name(request.path_params["name"])
    raw_version = request.path_params.get("version")
    return name, parse_version(raw_version) if raw_version is not None else None


async def model_metadata(request: Request) -> Response:
    name, version = _target(request)
    state = app_state(request)
    state.authorize(request, "models.read", name)
    served = state.dataplane.resolve(name, version)
    versions = [str(s.current.version) for s in state.manager.slots_for(name) if s.current is not None]
    body = encode_model_metadata(
        name=name, versions=versions, platform=served.record.flavor, signature=served.signature
    )
    return JSONResponse(body, headers={VERSION_HEADER: str(served.version), **served.notice.headers})


async def model_ready(request: Request) -> Response:
    name, version = _target(request)
    state = app_state(request)
    served = state.dataplane.resolve(name, version)
    is_ready = state.dataplane.ready
    return JSONResponse(
        {"name": name, "version": str(served.version), "ready": is_ready},
        status_code=200 if is_ready else 503,
        headers={VERSION_HEADER: str(served.version)},
    )


async def infer(request: Request) -> Response:
    name, version = _target(request)
    state = app_state(request)
    caller = state.authorize(request, "infer", name)
    target = resolve_target(request, name, version)
    header_length = request.headers.get(HEADER_LENGTH)
    if header_length is not None and not header_length.isdigit():
        raise MalformedRequest(f"{HEADER_LENGTH} must be a non-negative integer")
    decoded = await decode_body(
        request,
        v2.decode_infer_request,
        await request.body(),
        content_type=request.headers.get("content-type"),
        header_length=int(header_length) if header_length is not None else None,
        signature=target.served.signature,
    )
    result = await run_inference(
        request, target, decoded.inputs, caller=caller, protocol="v2", version=version, request_id_override=decoded.id
    )
    held = held_response(result)
    if held is not None:
        return held
    payload, headers = v2.encode_infer_response(
        model_name=name,
        model_version=str(result.served.version),
        request_id=decoded.id,
        outputs=result.outputs,
        requested=decoded.outputs,
        binary_default=decoded.binary_data_output,
        parameters=None if target.deployment is None else _deployment_parameters(target, result.variant),
    )
    headers.update(answer_headers(result))
    media_type = headers.pop("Content-Type", "application/json")
    return Response(payload, media_type=media_type, headers=headers)


def _deployment_parameters(target: Target, variant: str | None) -> dict[str, object]:
    assert target.deployment is not None
    return {"variant": variant, "deployment": target.deployment.name, "revision": target.deployment.revision}


routes = [
    Route("/v2", server_metadata, methods=["GET"]),
    Route("/v2/health/live", live, methods=["GET"]),
    Route("/v2/health/ready", ready, methods=["GET"]),
    Route("/v2/models/{name}", model_metadata, methods=["GET"]),
    Route("/v2/models/{name}/ready", model_ready, methods=["GET"]),
    Route("/v2/models/{name}/infer", infer, methods=["POST"]),
    Route("/v2/models/{name}/versions/{version}", model_metadata, methods=["GET"]),
    Route("/v2/models/{name}/versions/{version}/ready", model_ready, methods=["GET"]),
    Route("/v2/models/{name}/versions/{version}/infer", infer, methods=["POST"]),
]
