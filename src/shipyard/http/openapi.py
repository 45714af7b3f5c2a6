"""``/openapi.json``: the management and inference API, described for tools and people."""

from __future__ import annotations

from typing import Any

import shipyard

_ERROR = {
    "description": "An error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error", "code"],
                "properties": {"error": {"type": "string"}, "code": {"type": "string"}, "hint": {"type": "string"}},
            }
        }
    },
}
_OBJECT = {"content": {"application/json": {"schema": {"type": "object"}}}}
_NAME = {
    "name": "name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"},
}
_VERSION = {"name": "version", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 1}}
_ALIAS = {
    "name": "alias",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]{0,63}$"},
}


def _op(
    summary: str,
    *,
    params: tuple[dict[str, Any], ...] = (),
    body: dict[str, Any] | None = None,
    ok: str = "200",
    tag: str = "management",
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary,
        "tags": [tag],
        "parameters": list(params),
        "responses": {ok: {"description": "OK", **_OBJECT}, "4XX": _ERROR, "5XX": _ERROR},
    }
    if body is not None:
        op["requestBody"] = {"required": True, "content": body}
    return op


_JSON_BODY = {"application/json": {"schema": {"type": "object"}}}
_UPLOAD = {
    "multipart/form-data": {
        "schema": {
            "type": "object",
            "required": ["artifact"],
            "properties": {
                "artifact": {"type": "string", "format": "binary"},
                "sample": {"type": "string", "format": "binary", "description": "CSV, or JSON {columns, data}"},
                "metadata": {
                    "type": "string",
                    "description": "JSON: flavor, description, metrics, params, tags, "
                    "trust_pickle, trusted_types, trust_code, parent_version",
                },
            },
        }
    }
}


def openapi_document() -> dict[str, Any]:
    v2 = "inference: open inference protocol v2"
    paths: dict[str, Any] = {
        "/api/models": {"get": _op("List registered models")},
        "/api/models/{name}": {"get": _op("Show a model and its versions", params=(_NAME,))},
        "/api/models/{name}/versions": {
            "post": _op("Register a new version by upload", params=(_NAME,), body=_UPLOAD, ok="201")
        },
        "/api/models/{name}/versions/{version}": {"get": _op("Show a version", params=(_NAME, _VERSION))},
        "/api/models/{name}/versions/{version}/artifact": {
            "get": _op("Download a version's artifact", params=(_NAME, _VERSION))
        },
        "/api/models/{name}/aliases/{alias}": {
            "put": _op("Point an alias at a version", params=(_NAME, _ALIAS), body=_JSON_BODY),
            "delete": _op("Delete an alias", params=(_NAME, _ALIAS), ok="204"),
        },
        "/v2": {"get": _op("Server metadata", tag=v2)},
        "/v2/health/live": {"get": _op("Liveness", tag=v2)},
        "/v2/health/ready": {"get": _op("Readiness (503 while loading or draining)", tag=v2)},
        "/v2/models/{name}": {"get": _op("Model metadata", params=(_NAME,), tag=v2)},
        "/v2/models/{name}/ready": {"get": _op("Model readiness", params=(_NAME,), tag=v2)},
        "/v2/models/{name}/infer": {"post": _op("Inference", params=(_NAME,), body=_JSON_BODY, tag=v2)},
        "/v2/models/{name}/versions/{version}": {
            "get": _op("Model version metadata", params=(_NAME, _VERSION), tag=v2)
        },
        "/v2/models/{name}/versions/{version}/ready": {
            "get": _op("Model version readiness", params=(_NAME, _VERSION), tag=v2)
        },
        "/v2/models/{name}/versions/{version}/infer": {
            "post": _op("Inference on a version", params=(_NAME, _VERSION), body=_JSON_BODY, tag=v2)
        },
        "/v1/models": {"get": _op("List served models", tag="inference: kserve v1")},
        "/v1/models/{name}": {"get": _op("Model status", params=(_NAME,), tag="inference: kserve v1")},
        "/v1/models/{name}:predict": {
            "post": _op("Predict", params=(_NAME,), body=_JSON_BODY, tag="inference: kserve v1")
        },
        "/invocations": {"post": _op("MLflow scoring (first served model)", body=_JSON_BODY, tag="inference: mlflow")},
        "/models/{name}/invocations": {
            "post": _op("MLflow scoring", params=(_NAME,), body=_JSON_BODY, tag="inference: mlflow")
        },
        "/ping": {"get": _op("MLflow health", tag="inference: mlflow")},
        "/health": {"get": _op("MLflow health", tag="inference: mlflow")},
        "/metrics": {"get": _op("Prometheus metrics", tag="operations")},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shipyard", "version": shipyard.__version__, "license": {"name": "Apache-2.0"}},
        "paths": paths,
    }
