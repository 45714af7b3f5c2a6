"""``/openapi.json``: built from the route table (``http/routes``), never written by hand.

Every operation names its scope (``x-shipyard-scope``), its request body's schema per media
type and its responses' schemas; the schemas are in ``http/schemas``. Every route but
health needs ``Authorization: Bearer <key>``.
"""

from __future__ import annotations

from typing import Any

import shipyard
from shipyard.http.route_spec import OPEN, RouteSpec
from shipyard.http.routes import PATH_PARAMS, ROUTES
from shipyard.http.schemas import COMPONENTS, ref

_ERROR = {"application/json": {"schema": ref("Error")}}
_STANDARD_ERRORS = {
    "400": "Malformed or invalid request",
    "404": "No such model, version or alias",
    "413": "Body too large (or too many rows)",
    "415": "Unsupported media type",
    "421": "Host not allowed",
    "422": "Refused for what it contains",
    "429": "Rate limited (see Retry-After)",
}


def _operation(spec: RouteSpec) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": spec.operation_id,
        "summary": spec.summary,
        "tags": [spec.tag],
        "x-shipyard-scope": spec.scope,
    }
    if spec.scope == OPEN:
        op["security"] = []
    if spec.open_inference:
        op["description"] = "Anonymous callers may use it on models matching the open_inference setting."
    params = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMS.get(name, {"type": "string"})}
        for name in spec.params
    ]
    params += [
        {"name": name, "in": "query", "required": False, "schema": schema} for name, schema in spec.query.items()
    ]
    if params:
        op["parameters"] = params
    if spec.request:
        op["requestBody"] = {
            "required": True,
            "content": {media: {"schema": schema} for media, schema in spec.request.items()},
        }
    responses: dict[str, Any] = {}
    for reply in spec.replies:
        entry: dict[str, Any] = {"description": reply.description}
        if reply.content:
            entry["content"] = {media: {"schema": schema} for media, schema in reply.content.items()}
        responses[reply.status] = entry
    if spec.scope != OPEN:
        responses["401"] = {
            "description": "No key, or a bad, revoked or expired one",
            "content": _ERROR,
            "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
        }
        responses["403"] = {
            "description": "The key lacks the scope on this model, or a cross-site request",
            "content": _ERROR,
        }
    for status, description in _STANDARD_ERRORS.items():
        responses.setdefault(status, {"description": description, "content": _ERROR})
    responses.setdefault("503", {"description": "Unavailable (loading, draining or overloaded)", "content": _ERROR})
    op["responses"] = responses
    return op


def openapi_document(routes: tuple[RouteSpec, ...] = ROUTES) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for spec in routes:
        paths.setdefault(spec.path, {})[spec.method.lower()] = _operation(spec)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shipyard", "version": shipyard.__version__, "license": {"name": "Apache-2.0"}},
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API key, shp_<id>_<secret> (shipyard init, shipyard keys create)",
                }
            },
        },
    }
