"""The route table: every HTTP route, declared once.

Each entry says its path and method, its endpoint, the scope it needs (``OPEN`` for health
only), what the scope is checked against (the model named in the path, some model, or the
whole server), which body it takes (and so its size limit and media types) and its
OpenAPI entry. Everything else derives from this table:

- the Starlette router (``RouteTable.starlette_routes``);
- the edge (``http/middleware``): route matching, body limits, media types, scope checks,
  open inference, CORS preflights;
- the inference fast lane (``http/fastlane``): the entries marked ``fast``;
- ``/openapi.json`` (``http/openapi``).

The machinery (``RouteSpec``, ``RouteTable``) is in ``http/route_spec``.
"""

from __future__ import annotations

from shipyard.governance import scopes as sc
from shipyard.http import admin, lifecycle, management, mlflow, ops, v1, v2
from shipyard.http.alert_routes import ALERT_ROUTES
from shipyard.http.card_routes import CARD_ROUTES
from shipyard.http.compat_routes import COMPAT_ROUTES
from shipyard.http.controls_routes import CONTROLS_ROUTES
from shipyard.http.deployment_routes import DEPLOYMENT_ROUTES
from shipyard.http.feedback_routes import FEEDBACK_ROUTES
from shipyard.http.governance_routes import GOVERNANCE_ROUTES
from shipyard.http.privacy_routes import PRIVACY_ROUTES
from shipyard.http.review_routes import REVIEW_ROUTES
from shipyard.http.route_spec import JSON, MULTIPART, OCTETS, OPEN, Endpoint, Reply, RouteSpec, RouteTable, ok
from shipyard.http.schemas import ALIAS_PATTERN, KEY_ID_PATTERN, MODEL_NAME_PATTERN, Schema, ref

# -- the OpenAPI building blocks --------------------------------------------------------------

PATH_PARAMS: dict[str, Schema] = {
    "name": {"type": "string", "pattern": MODEL_NAME_PATTERN},
    "version": {"type": "integer", "minimum": 1},
    "alias": {"type": "string", "pattern": ALIAS_PATTERN},
    "id": {"type": "string", "pattern": KEY_ID_PATTERN},
    "revision": {"type": "integer", "minimum": 1},
    "approval": {"type": "integer", "minimum": 1},
    "flag": {"type": "integer", "minimum": 1},
    "target": {"type": "string", "pattern": MODEL_NAME_PATTERN},
}

_V2 = "inference: open inference protocol v2"
_V1 = "inference: kserve v1"
_MLFLOW = "inference: mlflow"
_MGMT = "management"
_OPS = "operations"
_HEALTH = "health"
_ADMIN = "keys and audit"


_INFER_V2_REQUEST = {JSON: ref("V2InferenceRequest"), OCTETS: {"type": "string", "format": "binary"}}
_INFER_V2_REPLY = Reply(
    "200", "The outputs", {JSON: ref("V2InferenceResponse"), OCTETS: {"type": "string", "format": "binary"}}
)
_RETIRED = Reply("410", "The version is retired; the body names its successor", {JSON: ref("Retired")})
_READY_503 = Reply("503", "Not ready (loading or draining)", {JSON: ref("V2Ready")})
_HELD = Reply("202", "Held for human review: poll the ticket for the answer", {JSON: ref("PendingReview")})
_GUARDRAIL = Reply("422", "Refused by an input guardrail (outside the reference profile)", {JSON: ref("Error")})


def _v2_infer(path: str, op: str, summary: str) -> RouteSpec:
    return RouteSpec(
        "POST",
        path,
        v2.infer,
        sc.INFER,
        "model",
        op,
        summary,
        _V2,
        model_param="name",
        body="inference",
        request=_INFER_V2_REQUEST,
        replies=(_INFER_V2_REPLY, _HELD, _GUARDRAIL, _RETIRED),
        open_inference=True,
        fast=True,
    )


def _mlflow_invocations(path: str, op: str, summary: str) -> RouteSpec:
    return RouteSpec(
        "POST",
        path,
        mlflow.invocations,
        sc.INFER,
        "model",
        op,
        summary,
        _MLFLOW,
        model_param="name" if "{name}" in path else None,
        body="inference",
        request={JSON: ref("MlflowRequest"), "text/csv": {"type": "string"}},
        replies=(ok("Predictions"), _HELD, _GUARDRAIL, _RETIRED),
        open_inference=True,
        fast=True,
    )


def _lifecycle_route(action: str, endpoint: Endpoint, schema: str, summary: str) -> RouteSpec:
    return RouteSpec(
        "POST",
        f"/api/models/{{name}}/versions/{{version}}/{action}",
        endpoint,
        sc.ALIASES_WRITE,
        "model",
        f"{action}_version",
        summary,
        _MGMT,
        model_param="name",
        body="json",
        request={JSON: ref(schema)},
        replies=(
            ok("Version"),
            Reply("409", "Not allowed in the version's state (aliased, retired, archived...)", {JSON: ref("Error")}),
        ),
        enforce_media_type=True,
    )


ROUTES: tuple[RouteSpec, ...] = (
    # -- inference (first: the hot path matches them first) ---------------------------------
    _v2_infer("/v2/models/{name}/infer", "v2_infer", "Inference"),
    _v2_infer("/v2/models/{name}/versions/{version}/infer", "v2_infer_version", "Inference on a version"),
    RouteSpec(
        "POST",
        "/v1/models/{name}:predict",
        v1.predict,
        sc.INFER,
        "model",
        "v1_predict",
        "Predict",
        _V1,
        model_param="name",
        body="inference",
        request={JSON: ref("V1PredictRequest")},
        replies=(ok("Predictions"), _HELD, _GUARDRAIL, _RETIRED),
        open_inference=True,
        fast=True,
    ),
    _mlflow_invocations("/models/{name}/invocations", "mlflow_invocations", "MLflow scoring"),
    _mlflow_invocations("/invocations", "mlflow_invocations_default", "MLflow scoring (the first served model)"),
    # -- health: open to anyone ---------------------------------------------------------------
    RouteSpec("GET", "/v2/health/live", v2.live, OPEN, "none", "v2_live", "Liveness", _HEALTH, replies=(ok("V2Live"),)),
    RouteSpec(
        "GET",
        "/v2/health/ready",
        v2.ready,
        OPEN,
        "none",
        "v2_ready",
        "Readiness (503 while loading or draining)",
        _HEALTH,
        replies=(ok("V2Ready"), _READY_503),
    ),
    RouteSpec(
        "GET",
        "/ping",
        mlflow.ping,
        OPEN,
        "none",
        "mlflow_ping",
        "MLflow health",
        _HEALTH,
        replies=(Reply("200", "Ready", {"text/plain": {"type": "string"}}),),
    ),
    RouteSpec(
        "GET",
        "/health",
        mlflow.ping,
        OPEN,
        "none",
        "mlflow_health",
        "MLflow health",
        _HEALTH,
        replies=(Reply("200", "Ready", {"text/plain": {"type": "string"}}),),
    ),
    # -- KServe's root liveness, Triton's statistics and repository index (before /v2/models/{name})
    *COMPAT_ROUTES,
    # -- V2 metadata and readiness --------------------------------------------------------------
    RouteSpec(
        "GET",
        "/v2",
        v2.server_metadata,
        sc.MODELS_READ,
        "some",
        "v2_server_metadata",
        "Server metadata",
        _V2,
        replies=(ok("V2ServerMetadata"),),
    ),
    RouteSpec(
        "GET",
        "/v2/models/{name}",
        v2.model_metadata,
        sc.MODELS_READ,
        "model",
        "v2_model_metadata",
        "Model metadata",
        _V2,
        model_param="name",
        replies=(ok("V2ModelMetadata"),),
        open_inference=True,
    ),
    RouteSpec(
        "GET",
        "/v2/models/{name}/ready",
        v2.model_ready,
        sc.MODELS_READ,
        "model",
        "v2_model_ready",
        "Model readiness",
        _V2,
        model_param="name",
        replies=(ok("V2ModelReady"), Reply("503", "Not ready", {JSON: ref("V2ModelReady")})),
        open_inference=True,
    ),
    RouteSpec(
        "GET",
        "/v2/models/{name}/versions/{version}",
        v2.model_metadata,
        sc.MODELS_READ,
        "model",
        "v2_model_version_metadata",
        "Model version metadata",
        _V2,
        model_param="name",
        replies=(ok("V2ModelMetadata"),),
        open_inference=True,
    ),
    RouteSpec(
        "GET",
        "/v2/models/{name}/versions/{version}/ready",
        v2.model_ready,
        sc.MODELS_READ,
        "model",
        "v2_model_version_ready",
        "Model version readiness",
        _V2,
        model_param="name",
        replies=(ok("V2ModelReady"), Reply("503", "Not ready", {JSON: ref("V2ModelReady")})),
        open_inference=True,
    ),
    # -- KServe V1 and MLflow metadata ------------------------------------------------------------
    RouteSpec(
        "GET",
        "/v1/models",
        v1.list_models,
        sc.MODELS_READ,
        "some",
        "v1_list_models",
        "List served models (those the caller may read)",
        _V1,
        replies=(ok("V1ModelList"),),
    ),
    RouteSpec(
        "GET",
        "/v1/models/{name}",
        v1.model_status,
        sc.MODELS_READ,
        "model",
        "v1_model_status",
        "Model status",
        _V1,
        model_param="name",
        replies=(ok("V1ModelStatus"),),
        open_inference=True,
    ),
    RouteSpec(
        "GET",
        "/version",
        mlflow.version,
        sc.MODELS_READ,
        "some",
        "mlflow_version",
        "Server version",
        _MLFLOW,
        replies=(Reply("200", "The version", {"text/plain": {"type": "string"}}),),
    ),
    # -- management ---------------------------------------------------------------------------------
    RouteSpec(
        "GET",
        "/api/models",
        management.list_models,
        sc.MODELS_READ,
        "some",
        "list_models",
        "List registered models (those the caller may read)",
        _MGMT,
        replies=(ok("ModelList"),),
    ),
    RouteSpec(
        "GET",
        "/api/models/{name}",
        management.show_model,
        sc.MODELS_READ,
        "model",
        "show_model",
        "Show a model and its versions",
        _MGMT,
        model_param="name",
        replies=(ok("ModelDetail"),),
    ),
    RouteSpec(
        "POST",
        "/api/models/{name}/versions",
        management.register,
        sc.VERSIONS_WRITE,
        "model",
        "register_version",
        "Register a new version by upload",
        _MGMT,
        model_param="name",
        body="upload",
        request={MULTIPART: ref("UploadForm")},
        replies=(ok("Version", "201", "Registered"),),
        enforce_media_type=True,
    ),
    RouteSpec(
        "GET",
        "/api/models/{name}/versions/{version}",
        management.show_version,
        sc.MODELS_READ,
        "model",
        "show_version",
        "Show a version",
        _MGMT,
        model_param="name",
        replies=(ok("Version"),),
    ),
    RouteSpec(
        "GET",
        "/api/models/{name}/versions/{version}/artifact",
        management.download_artifact,
        sc.ARTIFACTS_READ,
        "model",
        "download_artifact",
        "Download a version's artifact",
        _MGMT,
        model_param="name",
        replies=(Reply("200", "The artifact's bytes", {OCTETS: {"type": "string", "format": "binary"}}),),
    ),
    RouteSpec(
        "PUT",
        "/api/models/{name}/aliases/{alias}",
        management.set_alias,
        sc.ALIASES_WRITE,
        "model",
        "set_alias",
        "Point an alias at a version",
        _MGMT,
        model_param="name",
        body="json",
        request={JSON: ref("AliasTarget")},
        replies=(ok("Alias"),),
        enforce_media_type=True,
    ),
    RouteSpec(
        "DELETE",
        "/api/models/{name}/aliases/{alias}",
        management.delete_alias,
        sc.ALIASES_WRITE,
        "model",
        "delete_alias",
        "Delete an alias",
        _MGMT,
        model_param="name",
        replies=(Reply("204", "Deleted"),),
    ),
    # -- version lifecycle (docs/lifecycle.md): the scope of alias moves -------------------------
    *(
        _lifecycle_route(action, endpoint, schema, summary)
        for action, endpoint, schema, summary in (
            ("deprecate", lifecycle.deprecate, "Deprecate", "Deprecate a version (Deprecation/Sunset headers)"),
            ("retire", lifecycle.retire, "Retire", "Retire a version (it answers 410, naming its successor)"),
            ("reinstate", lifecycle.reinstate, "LifecycleNote", "Make a deprecated or retired version active"),
            ("archive", lifecycle.archive, "LifecycleNote", "Move a retired version's artifacts to archive storage"),
            ("restore", lifecycle.restore, "LifecycleNote", "Bring an archived version's artifacts back"),
        )
    ),
    *DEPLOYMENT_ROUTES,
    *ALERT_ROUTES,
    *FEEDBACK_ROUTES,
    *GOVERNANCE_ROUTES,
    *CARD_ROUTES,
    *REVIEW_ROUTES,
    *CONTROLS_ROUTES,
    *PRIVACY_ROUTES,
    # -- keys and audit -----------------------------------------------------------------------------
    RouteSpec(
        "GET",
        "/api/keys",
        admin.list_keys,
        sc.KEYS_ADMIN,
        "server",
        "list_keys",
        "List API keys (never their secrets)",
        _ADMIN,
        replies=(ok("KeyList"),),
    ),
    RouteSpec(
        "POST",
        "/api/keys",
        admin.create_key,
        sc.KEYS_ADMIN,
        "server",
        "create_key",
        "Create an API key (its token is in this response only)",
        _ADMIN,
        body="json",
        request={JSON: ref("KeyCreate")},
        replies=(ok("KeyCreated", "201", "Created"),),
        enforce_media_type=True,
    ),
    RouteSpec(
        "DELETE",
        "/api/keys/{id}",
        admin.revoke_key,
        sc.KEYS_ADMIN,
        "server",
        "revoke_key",
        "Revoke an API key",
        _ADMIN,
        replies=(ok("Key", "200", "Revoked"), Reply("409", "Revoked already", {JSON: ref("Error")})),
    ),
    RouteSpec(
        "GET",
        "/api/audit",
        admin.list_audit,
        sc.AUDIT_READ,
        "server",
        "list_audit",
        "Audit entries, oldest first",
        _ADMIN,
        replies=(ok("AuditList"),),
        query={
            "action": {"type": "string", "maxLength": 64},
            "actor": {"type": "string", "maxLength": 128},
            "resource": {"type": "string", "maxLength": 256},
            "after_seq": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer", "minimum": 1, "maximum": 1000},
        },
    ),
    RouteSpec(
        "GET",
        "/api/audit/verify",
        admin.verify_audit,
        sc.AUDIT_READ,
        "server",
        "verify_audit",
        "Verify the audit chain; names the first bad entry",
        _ADMIN,
        replies=(ok("AuditVerification"),),
    ),
    # -- operations ---------------------------------------------------------------------------------
    RouteSpec(
        "GET",
        "/metrics",
        ops.metrics_endpoint,
        sc.METRICS_READ,
        "server",
        "metrics",
        "Prometheus metrics (open to anyone with the open_metrics setting)",
        _OPS,
        replies=(Reply("200", "Prometheus text format", {"text/plain": {"type": "string"}}),),
    ),
    RouteSpec(
        "GET",
        "/openapi.json",
        ops.openapi_endpoint,
        sc.MODELS_READ,
        "some",
        "openapi",
        "This document",
        _OPS,
        replies=(Reply("200", "OpenAPI 3.1", {JSON: {"type": "object"}}),),
    ),
)

TABLE = RouteTable(ROUTES)
