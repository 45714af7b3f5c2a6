"""MLflow's scoring protocol: ``POST /invocations`` (the first served model) and
``POST /models/{name}/invocations``; ``/ping``, ``/health`` and ``/version``.

Errors on the scoring routes take MLflow's form (``http/errors``). A Content-Type parameter
other than ``charset`` is refused with 415, as MLflow's scoring server refuses it: MLflow 1's
``format=pandas-split`` and the like mean a request written for another protocol.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

import shipyard
from shipyard.errors import Unavailable, UnsupportedMediaType
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
    content_type = request.headers.get("content-type")
    check_parameters(content_type)
    inputs = await decode_body(
        request,
        mlflow.decode_mlflow_request,
        await request.body(),
        content_type=content_type,
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


def check_parameters(content_type: str | None) -> None:
    """415 for a Content-Type parameter MLflow's scoring server does not know (all but
    ``charset``), named as MLflow names them."""
    if content_type is None or ";" not in content_type:
        return
    unknown = []
    for part in content_type.split(";")[1:]:
        key = part.partition("=")[0].strip()
        if key and key.lower() != "charset":
            unknown.append(key[:40])
    if unknown:
        raise UnsupportedMediaType(
            f"Unrecognized content type parameters: {', '.join(unknown[:5])}",
            hint="send 'application/json' or 'text/csv' (a charset is the only parameter); the body says its own "
            "format (dataframe_split, dataframe_records, instances or inputs) since MLflow 2",
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
