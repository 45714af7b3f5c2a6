"""The management API (JSON, described at ``/openapi.json``): models, versions, aliases,
registration by upload, artifact download.

Blocking registry calls run in a thread so the event loop keeps serving inference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route

from shipyard.context import Caller
from shipyard.errors import Forbidden, InvalidRequest, MalformedRequest, UnsupportedMediaType
from shipyard.fs.paths import upload_name
from shipyard.governance.policy import check_tier
from shipyard.governance.scopes import TRUST_ADMIN
from shipyard.http.bodies import json_object
from shipyard.http.responses import JSONResponse
from shipyard.http.state import app_state
from shipyard.protocol.samples import check_sample_size, parse_sample
from shipyard.registry.refs import check_alias, check_model_name, parse_version

UPLOAD_FIELDS = frozenset(
    {
        "flavor",
        "description",
        "metrics",
        "params",
        "tags",
        "trust_pickle",
        "trusted_types",
        "trust_code",
        "parent_version",
        "tier",
        "pii",
        "output_names",
    }
)


async def list_models(request: Request) -> Response:
    state = app_state(request)
    caller = state.authorize(request, "models.read", "*")
    models = await run_in_threadpool(state.services.store.list_models)
    return JSONResponse({"models": [m.to_dict() for m in models if caller.allows("models.read", m.name)]})


async def show_model(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    state = app_state(request)
    state.authorize(request, "models.read", name)
    store = state.services.store
    model = await run_in_threadpool(store.get_model, name)
    versions = await run_in_threadpool(store.list_versions, name)
    return JSONResponse({**model.to_dict(), "versions": [_version_summary(v.to_dict()) for v in versions]})


async def show_version(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    version = parse_version(request.path_params["version"])
    state = app_state(request)
    state.authorize(request, "models.read", name)
    record = await run_in_threadpool(state.services.store.get_version, name, version)
    return JSONResponse(record.to_dict())


async def set_alias(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    alias = check_alias(request.path_params["alias"])
    state = app_state(request)
    caller = state.authorize(request, "aliases.write", name)
    body = json_object(await request.body(), empty_ok=True)
    if set(body) != {"version"}:
        raise MalformedRequest('the body must be {"version": N}')
    version = parse_version(body["version"])
    await run_in_threadpool(
        state.services.store.set_alias, name, alias, version, actor=caller.subject, source=caller.source or "unknown"
    )
    # Every worker serving name@alias serves the new version before this answers.
    await state.manager.follow(f"{name}@{alias} points at version {version}", name, alias)
    return JSONResponse({"model": name, "alias": alias, "version": version})


async def delete_alias(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    alias = check_alias(request.path_params["alias"])
    state = app_state(request)
    caller = state.authorize(request, "aliases.write", name)
    await run_in_threadpool(
        state.services.store.delete_alias, name, alias, actor=caller.subject, source=caller.source or "unknown"
    )
    return Response(status_code=204)


async def register(request: Request) -> Response:
    """``multipart/form-data`` with an ``artifact`` file, an optional ``sample`` file (CSV or
    JSON ``{"columns": [...], "data": [...]}``) and optional ``metadata`` (a JSON object)."""
    name = check_model_name(request.path_params["name"])
    state = app_state(request)
    caller = state.authorize(request, "versions.write", name)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise UnsupportedMediaType("upload the model as multipart/form-data with an 'artifact' file part")
    async with request.form(max_files=3, max_fields=10) as form:
        artifact = form.get("artifact")
        if not isinstance(artifact, UploadFile):
            raise MalformedRequest("the form needs a file part named 'artifact'")
        unknown = set(form.keys()) - {"artifact", "sample", "metadata"}
        if unknown:
            raise MalformedRequest(f"unexpected form parts: {', '.join(sorted(unknown))[:200]}")
        raw_meta = form.get("metadata")
        metadata = json_object(raw_meta.encode() if isinstance(raw_meta, str) else await _read(raw_meta), empty_ok=True)
        extra = set(metadata) - UPLOAD_FIELDS
        if extra:
            raise MalformedRequest(f"unexpected metadata fields: {', '.join(sorted(extra))[:200]}")
        options = _register_options(metadata)
        try:
            _check_trust(options, caller, http_trust_uploads=state.services.settings.http_trust_uploads)
        except Forbidden as exc:
            state.services.audit.denied(
                actor=caller.subject,
                source=caller.source or "unknown",
                action="trust.denied",
                resource=name,
                reason=exc.code,
                details={"message": exc.message},
            )
            raise
        sample_part = form.get("sample")
        sample = await _sample(sample_part) if sample_part is not None else None
        filename = upload_name(artifact.filename)
        with state.services.registry.scratch_directory("upload") as tmp:
            path = Path(tmp) / filename
            with path.open("wb") as out:
                while chunk := await artifact.read(1 << 20):
                    out.write(chunk)
            version = await run_in_threadpool(
                state.services.registry.register,
                name,
                path,
                sample=sample,
                created_by=caller.subject,
                actor=caller.subject,
                source_address=caller.source or "unknown",
                **options,
            )
    return JSONResponse(version.to_dict(), status_code=201)


async def download_artifact(request: Request) -> Response:
    name = check_model_name(request.path_params["name"])
    version = parse_version(request.path_params["version"])
    state = app_state(request)
    state.authorize(request, "models.read", name)
    record, path = await run_in_threadpool(state.services.registry.artifact_path, name, version)
    return FileResponse(
        path,
        filename=record.artifact.filename,
        media_type="application/octet-stream",
        headers={"x-shipyard-sha256": record.artifact.sha256},
    )


def _version_summary(version: dict[str, Any]) -> dict[str, Any]:
    keep = ("version", "flavor", "artifact", "created_by", "created_at", "aliases", "unsafe_format", "description")
    return {k: version[k] for k in keep}


async def _read(part: Any) -> bytes:
    if part is None:
        return b""
    if isinstance(part, str):
        return part.encode()
    data: bytes = await part.read()
    return data


async def _sample(part: Any) -> Any:
    """The ``sample`` part as a DataFrame, its size checked before it is read, parsed on a thread."""
    size = getattr(part, "size", None)
    if isinstance(size, int):
        check_sample_size(size)
    return await run_in_threadpool(parse_sample, await _read(part))


TRUST_FIELDS = ("trust_pickle", "trust_code", "trusted_types")


def _check_trust(options: dict[str, Any], caller: Caller, *, http_trust_uploads: bool) -> None:
    """Trust is the server's decision: asking for it over HTTP needs the trust.admin scope
    (the admin role, over every model) and the server setting http_trust_uploads."""
    asked = [key for key in TRUST_FIELDS if options.get(key)]
    if not asked:
        return
    missing = []
    if not caller.allows(TRUST_ADMIN):
        missing.append("the trust.admin scope (an admin key)")
    if not http_trust_uploads:
        missing.append("the server setting http_trust_uploads")
    if missing:
        raise Forbidden(
            f"{', '.join(asked)} over HTTP needs {' and '.join(missing)}",
            hint="register such models locally (shipyard models register --trust-...), or ask an admin",
        )


def _register_options(meta: dict[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key in ("flavor", "description"):
        if key in meta:
            if not isinstance(meta[key], str):
                raise InvalidRequest(f"metadata {key!r} must be a string")
            options[key] = meta[key]
    for key in ("metrics", "params", "tags"):
        if key in meta:
            if not isinstance(meta[key], dict):
                raise InvalidRequest(f"metadata {key!r} must be an object")
            options[key] = meta[key]
    for key in ("trust_pickle", "trust_code"):
        if key in meta:
            if not isinstance(meta[key], bool):
                raise InvalidRequest(f"metadata {key!r} must be true or false")
            options[key] = meta[key]
    if "trusted_types" in meta:
        types = meta["trusted_types"]
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise InvalidRequest("metadata 'trusted_types' must be a list of type names")
        options["trusted_types"] = types
    if "parent_version" in meta:
        options["parent_version"] = parse_version(meta["parent_version"])
    if "tier" in meta:
        options["tier"] = check_tier(meta["tier"])
    if "pii" in meta:
        marks = meta["pii"]
        if not isinstance(marks, dict):
            raise InvalidRequest("metadata 'pii' must be an object of field name to drop, hash or keep")
        options["pii"] = marks
    if "output_names" in meta:
        names = meta["output_names"]
        if not isinstance(names, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items()):
            raise InvalidRequest(
                "metadata 'output_names' must be an object of graph output name to output name",
                hint='e.g. {"output_label": "predict", "output_probability": "predict_proba"}',
            )
        options["output_names"] = names
    return options


routes = [
    Route("/api/models", list_models, methods=["GET"]),
    Route("/api/models/{name}", show_model, methods=["GET"]),
    Route("/api/models/{name}/versions", register, methods=["POST"]),
    Route("/api/models/{name}/versions/{version}", show_version, methods=["GET"]),
    Route("/api/models/{name}/versions/{version}/artifact", download_artifact, methods=["GET"]),
    Route("/api/models/{name}/aliases/{alias}", set_alias, methods=["PUT"]),
    Route("/api/models/{name}/aliases/{alias}", delete_alias, methods=["DELETE"]),
]
