"""Open Inference Protocol V2 (REST), with the binary tensor data extension.

Only translation happens here: decode the body into raw inputs, call the data plane,
encode its outputs. Paths: ``/v2``, ``/v2/health/{live,ready}``,
``/v2/models/{name}[/versions/{version}]``, ``.../ready``, ``.../infer``; Triton's
statistics extension, ``/v2/models[/{name}[/versions/{version}]]/stats``
(``monitoring/inference_stats``), and its read-only repository index,
``POST /v2/repository/index``: the names this server serves, each version's state.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

import shipyard
from shipyard.errors import InvalidRequest, MalformedRequest, redact_paths
from shipyard.http.bodies import json_object
from shipyard.http.decoding import decode_body
from shipyard.http.held import held_response
from shipyard.http.responses import JSONResponse
from shipyard.http.state import (
    VERSION_HEADER,
    AppState,
    Target,
    answer_headers,
    app_state,
    resolve_target,
    run_inference,
)
from shipyard.monitoring.inference_stats import model_stats
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


async def statistics(request: Request) -> Response:
    """Triton's ``$stats_model_response`` for one model (every version it serves, and any
    other version that answered since the start), or one version of it."""
    name, version = _target(request)
    state = app_state(request)
    state.authorize(request, "models.read", name)
    if version is not None:
        served = state.dataplane.resolve(name, version)
        pairs, others = [(served.name, served.version)], False
    else:
        state.dataplane.resolve(name)  # 404 (or 410) for a name not served here
        pairs, others = _served_pairs(state, [name]), True
    return JSONResponse({"model_stats": model_stats(state.metrics.registry, pairs, other_versions=others)})


async def all_statistics(request: Request) -> Response:
    """Triton's ``$stats_model_response`` for every served model the caller may read."""
    state = app_state(request)
    caller = state.authorize(request, "models.read", "*")
    names = [n for n in state.manager.names() if caller.allows("models.read", n)]
    return JSONResponse({"model_stats": model_stats(state.metrics.registry, _served_pairs(state, names))})


async def repository_index(request: Request) -> Response:
    """Triton's ``$repository_index_response``: every version this server serves under a
    name the caller may read, ``READY`` or ``UNAVAILABLE`` (with the reason); with
    ``{"ready": true}``, only the ready ones. Read-only: ``shipyard serve`` decides what is
    served, aliases which version."""
    state = app_state(request)
    caller = state.authorize(request, "models.read", "*")
    body = json_object(await request.body(), empty_ok=True)
    unknown = set(body) - {"ready"}
    if unknown:
        raise MalformedRequest(f"unexpected fields: {', '.join(sorted(unknown))[:200]}", hint='send {"ready": true}')
    only_ready = body.get("ready", False)
    if not isinstance(only_ready, bool):
        raise MalformedRequest("'ready' must be true or false")
    ready = state.dataplane.ready
    serving = {"state": "READY", "reason": ""} if ready else {"state": "UNAVAILABLE", "reason": "starting or draining"}
    entries = []
    for name in state.manager.names():
        if not caller.allows("models.read", name):
            continue
        for slot in state.manager.slots_for(name):
            if slot.current is not None:
                entries.append({"name": name, "version": str(slot.current.version), **serving})
            for failed, (_, reason) in sorted(slot.failures.items()):
                if slot.current is None or failed != slot.current.version:
                    failure = {"state": "UNAVAILABLE", "reason": redact_paths(reason)[:500]}
                    entries.append({"name": name, "version": str(failed), **failure})
    if only_ready:
        entries = [e for e in entries if e["state"] == "READY"]
    return JSONResponse(entries)


async def repository_change(request: Request) -> Response:
    """Triton's load and unload: refused (400, as Triton answers a failed load), naming what
    does change what is served here."""
    name = check_model_name(request.path_params["name"])
    app_state(request).authorize(request, "aliases.write", name)
    raise InvalidRequest(
        "this server's model repository is read-only: it cannot load or unload models",
        hint=f"`shipyard serve` names the models it serves; to change the version of {name!r} it serves, "
        f"point its alias at another version (PUT /api/models/{name}/aliases/ALIAS)",
    )


def _served_pairs(state: AppState, names: list[str]) -> list[tuple[str, int]]:
    """The (model, version) pairs serving ``names`` (a deployment's are its variants')."""
    return [
        (slot.current.name, slot.current.version)
        for name in names
        for slot in state.manager.slots_for(name)
        if slot.current is not None
    ]


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
