"""Routes standard clients call beyond the core protocols, declared in the route table's
terms (``http/route_spec``):

- ``GET /``: KServe's model server answers its liveness here (its V1 client's
  ``is_server_live``), open like the other health routes;
- Triton's statistics extension, ``GET /v2/models[/{name}[/versions/{version}]]/stats``
  (tritonclient's ``get_inference_statistics``);
- Triton's model repository extension, read-only: ``POST /v2/repository/index``
  (``get_model_repository_index``); load and unload are refused.

``/v2/models/stats`` is static and comes before ``/v2/models/{name}`` in the table, as in
Triton: the metadata of a model named ``stats`` is at ``/v2/models/stats/versions/{v}``.
"""

from __future__ import annotations

from shipyard.governance import scopes as sc
from shipyard.http import v1, v2
from shipyard.http.route_spec import JSON, OPEN, Reply, RouteSpec
from shipyard.http.schemas import Schema, ref

_V2 = "inference: open inference protocol v2"
_HEALTH = "health"

_DURATION: Schema = {
    "type": "object",
    "required": ["count", "ns"],
    "properties": {"count": {"type": "integer", "minimum": 0}, "ns": {"type": "integer", "minimum": 0}},
}
_STAGES = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output", "cache_hit", "cache_miss")
MODEL_STATS: Schema = {
    "type": "object",
    "required": ["model_stats"],
    "properties": {
        "model_stats": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "version", "last_inference", "inference_count", "execution_count"],
                "properties": {
                    "name": {"type": "string"},
                    "version": {"type": "string"},
                    "last_inference": {"type": "integer", "description": "milliseconds since the epoch (0: never)"},
                    "inference_count": {"type": "integer", "description": "rows answered"},
                    "execution_count": {"type": "integer", "description": "model calls"},
                    "inference_stats": {
                        "type": "object",
                        "properties": {stage: _DURATION for stage in _STAGES},
                    },
                    "batch_stats": {"type": "array", "items": {"type": "object"}},
                },
            },
        }
    },
}
REPOSITORY_INDEX: Schema = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["name", "state", "reason"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "state": {"type": "string", "enum": ["READY", "UNAVAILABLE"]},
            "reason": {"type": "string"},
        },
    },
}
INDEX_REQUEST: Schema = {"type": "object", "properties": {"ready": {"type": "boolean"}}}
_ERROR = ref("Error")


def _stats(path: str, op: str, summary: str) -> RouteSpec:
    return RouteSpec(
        "GET",
        path,
        v2.statistics,
        sc.MODELS_READ,
        "model",
        op,
        summary,
        _V2,
        model_param="name",
        replies=(Reply("200", "Totals since the server started, all workers", {JSON: MODEL_STATS}),),
    )


def _repository_change(action: str) -> RouteSpec:
    return RouteSpec(
        "POST",
        f"/v2/repository/models/{{name}}/{action}",
        v2.repository_change,
        sc.ALIASES_WRITE,
        "model",
        f"v2_repository_{action}",
        f"Triton's model {action}: refused, the repository is read-only",
        _V2,
        model_param="name",
        body="json",
        request={JSON: {"type": "object"}},
        replies=(Reply("400", "Refused: say what changes what is served", {JSON: _ERROR}),),
    )


COMPAT_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "GET",
        "/",
        v1.root_live,
        OPEN,
        "none",
        "kserve_live",
        "Liveness, as KServe's model server answers it",
        _HEALTH,
        replies=(
            Reply(
                "200",
                "Alive",
                {JSON: {"type": "object", "required": ["status"], "properties": {"status": {"const": "alive"}}}},
            ),
        ),
    ),
    RouteSpec(
        "GET",
        "/v2/models/stats",
        v2.all_statistics,
        sc.MODELS_READ,
        "some",
        "v2_all_statistics",
        "Statistics of every served model the caller may read (Triton's statistics extension)",
        _V2,
        replies=(Reply("200", "Totals since the server started, all workers", {JSON: MODEL_STATS}),),
    ),
    _stats("/v2/models/{name}/stats", "v2_model_statistics", "Statistics of a model's served versions"),
    _stats("/v2/models/{name}/versions/{version}/stats", "v2_model_version_statistics", "Statistics of a version"),
    RouteSpec(
        "POST",
        "/v2/repository/index",
        v2.repository_index,
        sc.MODELS_READ,
        "some",
        "v2_repository_index",
        "The versions this server serves and their state (Triton's repository index, read-only)",
        _V2,
        body="json",
        request={JSON: INDEX_REQUEST},
        replies=(Reply("200", "One entry per served version", {JSON: REPOSITORY_INDEX}),),
    ),
    _repository_change("load"),
    _repository_change("unload"),
)
