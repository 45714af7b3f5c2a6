"""KServe V1: ``GET /v1/models``, ``GET /v1/models/{name}``, ``POST /v1/models/{name}:predict``;
``GET /``, the liveness answer of KServe's model server (its V1 client's ``is_server_live``)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.http.decoding import decode_body
from shipyard.http.held import held_response
from shipyard.http.responses import JSONResponse
from shipyard.http.state import VERSION_HEADER, answer_headers, app_state, resolve_target, run_inference
from shipyard.protocol import v1
from shipyard.registry.refs import check_model_name


async def root_live(request: Request) -> Response:
    """``{"status": "alive"}``, as KServe's model server answers ``GET /``."""
    return JSONResponse({"status": "alive"})


async def list_models(request: Request) -> Response:
    state = app_state(request)
    caller = state.authorize(request, "models.read", "*")
    return JSONResponse({"models": [n for n in state.manager.names() if caller.allows("models.read", n)]})


async def model_status(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    state = app_state(request)
    state.authorize(request, "models.read", name)
    served = state.dataplane.resolve(name)
    return JSONResponse(
        {"name": name, "ready": state.dataplane.ready, "version": str(served.version)},
        headers={VERSION_HEADER: str(served.version), **served.notice.headers},
    )


async def predict(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    state = app_state(request)
    caller = state.authorize(request, "infer", name)
    target = resolve_target(request, name)
    inputs = await decode_body(
        request,
        v1.decode_v1_request,
        await request.body(),
        content_type=request.headers.get("content-type"),
        signature=target.served.signature,
    )
    result = await run_inference(request, target, inputs, caller=caller, protocol="v1")
    held = held_response(result)
    if held is not None:
        return held
    return Response(
        v1.encode_v1_response(result.outputs), media_type="application/json", headers=answer_headers(result)
    )


routes = [
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/v1/models/{name}:predict", predict, methods=["POST"]),
    Route("/v1/models/{name}", model_status, methods=["GET"]),
]
