"""MLflow's scoring protocol: ``POST /invocations`` (the first served model) and
``POST /models/{name}/invocations``; ``/ping``, ``/health`` and ``/version``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import shipyard
from shipyard.errors import Unavailable
from shipyard.http.decoding import decode_body
from shipyard.http.held import held_response
from shipyard.http.state import answer_headers, app_state, resolve_target, run_inference
from shipyard.protocol import mlflow
from shipyard.registry.refs import check_model_name


async def invocations(request: Request) -> Response:
    state = app_state(request)
    if "name" in request.path_params:
        name = check_model_name(request.path_params["name"])
    else:
        names = state.manager.names()
        if not names:
            raise Unavailable("no model is loaded yet")
        name = names[0]
    caller = state.authorize(request, "infer", name)
    target = resolve_target(request, name)
    inputs = await decode_body(
        request,
        mlflow.decode_mlflow_request,
        await request.body(),
        content_type=request.headers.get("content-type"),
        signature=target.served.signature,
    )
    result = await run_inference(request, target, inputs, caller=caller, protocol="mlflow")
    held = held_response(result)
    if held is not None:
        return held
    return Response(
        mlflow.encode_mlflow_response(result.outputs),
        media_type="application/json",
        headers=answer_headers(result),
    )


async def ping(request: Request) -> Response:
    ok = app_state(request).dataplane.ready
    return PlainTextResponse("\n", status_code=200 if ok else 503)


async def version(request: Request) -> Response:
    return PlainTextResponse(shipyard.__version__)


routes = [
    Route("/invocations", invocations, methods=["POST"]),
    Route("/models/{name}/invocations", invocations, methods=["POST"]),
    Route("/ping", ping, methods=["GET"]),
    Route("/health", ping, methods=["GET"]),
    Route("/version", version, methods=["GET"]),
]
