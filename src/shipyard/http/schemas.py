"""JSON Schemas of every request and response body, published under ``components/schemas``
of ``/openapi.json`` and referenced by the route table (``http/routes.py``).

The V2 documents follow the Open Inference Protocol REST spec; V1 and MLflow bodies are
what their codecs (``shipyard/protocol``) accept and produce. Schemas describe the shape a
well-formed body has; the codecs still check everything (a body can match its schema and be
refused for its content, e.g. a shape that does not match its data).
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]


def ref(name: str) -> Schema:
    """A reference to ``components/schemas/NAME`` (``KeyError`` for a name not defined here)."""
    if name not in COMPONENTS:
        raise KeyError(name)
    return {"$ref": f"#/components/schemas/{name}"}


MODEL_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
ALIAS_PATTERN = "^[A-Za-z][A-Za-z0-9_-]{0,63}$"
KEY_ID_PATTERN = "^[0-9a-f]{12}$"

V2_DATATYPES = (
    "BOOL",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "FP16",
    "FP32",
    "FP64",
    "BYTES",
)

_STRING_MAP: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
_ANY_MAP: Schema = {"type": "object"}
_TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
_NULLABLE_STRING: Schema = {"type": ["string", "null"]}
_NULLABLE_NUMBER: Schema = {"type": ["number", "null"]}
_NULLABLE_TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}
_REASON: Schema = {"type": "string", "maxLength": 4096, "description": "why, for the audit trail"}
_SCALAR: Schema = {"type": ["number", "string", "boolean", "null"]}
_ROW: Schema = {
    "description": "one row: a list of values, or an object of column name to value",
    "anyOf": [{"type": "array", "items": {}}, {"type": "object"}, _SCALAR],
}

COMPONENTS: dict[str, Schema] = {
    # -- errors ---------------------------------------------------------------------------
    "Error": {
        "type": "object",
        "required": ["error", "code"],
        "properties": {
            "error": {"type": "string", "description": "what went wrong, for people"},
            "code": {"type": "string", "description": "a stable machine-readable code"},
            "hint": {"type": "string", "description": "what to do about it"},
        },
    },
    # -- open inference protocol v2 -------------------------------------------------------
    "V2Parameters": {"type": "object", "description": "free-form parameters"},
    "V2TensorData": {
        "description": "tensor contents, flat in row-major order or nested to the shape",
        "type": "array",
        "items": {"anyOf": [{"type": "array", "items": {}}, {"type": ["number", "string", "boolean"]}]},
    },
    "V2RequestInput": {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "datatype": {"type": "string", "enum": list(V2_DATATYPES)},
            "parameters": {"$ref": "#/components/schemas/V2Parameters"},
            "data": {"$ref": "#/components/schemas/V2TensorData"},
        },
    },
    "V2RequestOutput": {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "parameters": {"$ref": "#/components/schemas/V2Parameters"}},
    },
    "V2InferenceRequest": {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string"},
            "parameters": {"$ref": "#/components/schemas/V2Parameters"},
            "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/V2RequestInput"}},
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/V2RequestOutput"}},
        },
    },
    "V2ResponseOutput": {
        "type": "object",
        "required": ["name", "shape", "datatype"],
        "properties": {
            "name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "datatype": {"type": "string"},
            "parameters": {"$ref": "#/components/schemas/V2Parameters"},
            "data": {"$ref": "#/components/schemas/V2TensorData"},
        },
    },
    "V2InferenceResponse": {
        "type": "object",
        "required": ["model_name", "outputs"],
        "properties": {
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "id": {"type": "string"},
            "parameters": {"$ref": "#/components/schemas/V2Parameters"},
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/V2ResponseOutput"}},
        },
    },
    "V2MetadataTensor": {
        "type": "object",
        "required": ["name", "datatype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "datatype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
        },
    },
    "V2ServerMetadata": {
        "type": "object",
        "required": ["name", "version", "extensions"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "extensions": {"type": "array", "items": {"type": "string"}},
        },
    },
    "V2ModelMetadata": {
        "type": "object",
        "required": ["name", "platform"],
        "properties": {
            "name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}},
            "platform": {"type": "string"},
            "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/V2MetadataTensor"}},
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/V2MetadataTensor"}},
            "parameters": {"type": "object"},
        },
    },
    "V2Live": {"type": "object", "required": ["live"], "properties": {"live": {"type": "boolean"}}},
    "V2Ready": {"type": "object", "required": ["ready"], "properties": {"ready": {"type": "boolean"}}},
    "V2ModelReady": {
        "type": "object",
        "required": ["name", "ready"],
        "properties": {"name": {"type": "string"}, "version": {"type": "string"}, "ready": {"type": "boolean"}},
    },
    # -- kserve v1 ------------------------------------------------------------------------
    "V1PredictRequest": {
        "description": "exactly one of instances (a list of rows) or inputs (rows, or named columns)",
        "oneOf": [
            {
                "type": "object",
                "required": ["instances"],
                "additionalProperties": False,
                "properties": {"instances": {"type": "array", "items": _ROW}},
            },
            {
                "type": "object",
                "required": ["inputs"],
                "additionalProperties": False,
                "properties": {
                    "inputs": {
                        "anyOf": [
                            {"type": "array", "items": _ROW},
                            {"type": "object", "additionalProperties": {"type": "array", "items": {}}},
                        ]
                    }
                },
            },
        ],
    },
    "Predictions": {
        "type": "object",
        "required": ["predictions"],
        "properties": {"predictions": {"description": "one prediction per row (or named outputs)"}},
    },
    "V1ModelList": {
        "type": "object",
        "required": ["models"],
        "properties": {"models": {"type": "array", "items": {"type": "string"}}},
    },
    "V1ModelStatus": {
        "type": "object",
        "required": ["name", "ready", "version"],
        "properties": {"name": {"type": "string"}, "ready": {"type": "boolean"}, "version": {"type": "string"}},
    },
    # -- mlflow scoring -------------------------------------------------------------------
    "MlflowRequest": {
        "description": "exactly one of dataframe_split, dataframe_records, instances or inputs; optionally params",
        "type": "object",
        "minProperties": 1,
        "maxProperties": 2,
        "properties": {
            "dataframe_split": {
                "type": "object",
                "required": ["data"],
                "properties": {
                    "columns": {"type": "array", "items": {"type": "string"}},
                    "data": {"type": "array", "items": {"type": "array", "items": {}}},
                    "index": {"type": "array", "items": {}},
                },
            },
            "dataframe_records": {"type": "array", "items": {"type": "object"}},
            "instances": {"type": "array", "items": _ROW},
            "inputs": {
                "anyOf": [
                    {"type": "array", "items": _ROW},
                    {"type": "object", "additionalProperties": {"type": "array", "items": {}}},
                ]
            },
            "params": {"type": "object"},
        },
    },
    # -- registry records -----------------------------------------------------------------
    "ArtifactRef": {
        "type": "object",
        "required": ["sha256", "size", "filename"],
        "properties": {
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "size": {"type": "integer", "minimum": 0},
            "filename": {"type": "string"},
        },
    },
    "FieldSpec": {
        "type": "object",
        "required": ["name", "dtype", "shape"],
        "properties": {
            "name": {"type": "string"},
            "dtype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}},
            "nullable": {"type": "boolean"},
        },
    },
    "Signature": {
        "type": "object",
        "required": ["kind", "inputs", "outputs"],
        "properties": {
            "kind": {"type": "string"},
            "frame": {"type": "boolean"},
            "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/FieldSpec"}},
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/FieldSpec"}},
        },
    },
    "Model": {
        "type": "object",
        "required": ["name", "description", "owner", "created_at", "updated_at", "tags", "aliases"],
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "owner": {"type": "string"},
            "created_at": _TIMESTAMP,
            "updated_at": _TIMESTAMP,
            "tags": _STRING_MAP,
            "aliases": {"type": "object", "additionalProperties": {"type": "integer"}},
            "latest_version": {"type": ["integer", "null"]},
        },
    },
    "ModelList": {
        "type": "object",
        "required": ["models"],
        "properties": {"models": {"type": "array", "items": {"$ref": "#/components/schemas/Model"}}},
    },
    "VersionSummary": {
        "type": "object",
        "required": ["version", "flavor", "artifact", "created_by", "created_at", "aliases"],
        "properties": {
            "version": {"type": "integer", "minimum": 1},
            "flavor": {"type": "string"},
            "artifact": {"$ref": "#/components/schemas/ArtifactRef"},
            "created_by": {"type": "string"},
            "created_at": _TIMESTAMP,
            "aliases": {"type": "array", "items": {"type": "string"}},
            "unsafe_format": {"type": "boolean"},
            "description": {"type": "string"},
        },
    },
    "ModelDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/Model"},
            {
                "type": "object",
                "required": ["versions"],
                "properties": {"versions": {"type": "array", "items": {"$ref": "#/components/schemas/VersionSummary"}}},
            },
        ]
    },
    "Version": {
        "type": "object",
        "required": ["model", "version", "flavor", "artifact", "signature", "created_by", "created_at"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "flavor": {"type": "string"},
            "artifact": {"$ref": "#/components/schemas/ArtifactRef"},
            "signature": {"anyOf": [{"$ref": "#/components/schemas/Signature"}, {"type": "null"}]},
            "lineage": _ANY_MAP,
            "description": {"type": "string"},
            "created_by": {"type": "string"},
            "created_at": _TIMESTAMP,
            "parent_version": {"type": ["integer", "null"]},
            "trusted_types": {"type": "array", "items": {"type": "string"}},
            "unsafe_format": {"type": "boolean"},
            "trust_code": {"type": "boolean"},
            "tags": _STRING_MAP,
            "input_example": {"type": ["object", "null"]},
            "flavor_metadata": _ANY_MAP,
            "aliases": {"type": "array", "items": {"type": "string"}},
            "compiled": {"type": ["object", "null"]},
            "serving_runtime": {"type": "string"},
            "compile_error": _NULLABLE_STRING,
            "lifecycle": {"type": "string", "enum": ["active", "deprecated", "retired"]},
            "deprecated_at": _NULLABLE_TIMESTAMP,
            "sunset_at": _NULLABLE_TIMESTAMP,
            "successor": _NULLABLE_STRING,
            "retired_at": _NULLABLE_TIMESTAMP,
            "archived_at": _NULLABLE_TIMESTAMP,
            "lifecycle_reason": _NULLABLE_STRING,
        },
    },
    # -- version lifecycle (docs/lifecycle.md) ----------------------------------------------
    "Deprecate": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "sunset_at": {
                "type": "string",
                "description": "a future date (2027-03-01, midnight UTC) or ISO 8601 date and time",
            },
            "successor": {"type": "string", "description": "NAME/VERSION, NAME@ALIAS or NAME"},
            "reason": _REASON,
        },
    },
    "Retire": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "successor": {"type": "string", "description": "default: the successor its deprecation named"},
            "archive": {"type": "boolean", "description": "also move its artifacts to archive storage"},
            "reason": _REASON,
        },
    },
    "LifecycleNote": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": _REASON},
    },
    "Retired": {
        "type": "object",
        "required": ["error", "code", "successor"],
        "properties": {
            "error": {"type": "string"},
            "code": {"type": "string", "enum": ["retired"]},
            "successor": _NULLABLE_STRING,
            "hint": {"type": "string"},
        },
    },
    "UploadForm": {
        "type": "object",
        "required": ["artifact"],
        "additionalProperties": False,
        "properties": {
            "artifact": {"type": "string", "format": "binary", "description": "the model file or archive"},
            "sample": {"type": "string", "format": "binary", "description": "CSV, or JSON {columns, data}"},
            "metadata": {
                "type": "string",
                "description": "a JSON object with any of: flavor, description, metrics, params, tags, "
                "parent_version, trust_pickle, trust_code, trusted_types (the trust fields need the "
                "trust.admin scope and the server setting http_trust_uploads)",
            },
        },
    },
    "AliasTarget": {
        "type": "object",
        "required": ["version"],
        "additionalProperties": False,
        "properties": {"version": {"type": "integer", "minimum": 1}},
    },
    "Alias": {
        "type": "object",
        "required": ["model", "alias", "version"],
        "properties": {
            "model": {"type": "string"},
            "alias": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
        },
    },
    # -- deployments ----------------------------------------------------------------------
    "DeploymentApply": {
        "type": "object",
        "required": ["spec"],
        "additionalProperties": False,
        "properties": {
            "spec": {
                "type": "string",
                "minLength": 1,
                "description": "the deployment spec as YAML (or JSON) text; its `deployment` is the name in the path",
            },
            "reason": {"type": "string", "maxLength": 4096, "description": "why, for the history and the audit"},
        },
    },
    "DeploymentVariant": {
        "type": "object",
        "required": ["model", "role"],
        "properties": {
            "model": {"type": "string", "description": "NAME, NAME/VERSION or NAME@ALIAS"},
            "role": {"type": "string", "enum": ["primary", "canary", "shadow", "arm"]},
            "weight": {"type": "number", "minimum": 0, "maximum": 100},
            "sample": {"type": "number", "minimum": 0, "maximum": 1},
        },
    },
    "DeploymentSpec": {
        "type": "object",
        "description": "the canonical form of a spec (defaults filled in)",
        "required": ["deployment", "variants"],
        "properties": {
            "deployment": {"type": "string"},
            "strategy": {"type": "string"},
            "description": {"type": "string"},
            "variants": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/DeploymentVariant"}},
            "analysis": _ANY_MAP,
            "experiment": _ANY_MAP,
        },
    },
    "Deployment": {
        "type": "object",
        "required": ["name", "state", "current_revision", "created_at", "updated_at"],
        "properties": {
            "name": {"type": "string"},
            "state": {"type": "string", "enum": ["active", "paused", "deleted"]},
            "current_revision": {"type": "integer", "minimum": 1},
            "created_at": _TIMESTAMP,
            "updated_at": _TIMESTAMP,
            "rollout_status": {
                "type": ["string", "null"],
                "enum": ["progressing", "promoted", "rolled_back", None],
                "description": "progressive delivery's status (null: no rollout)",
            },
            "step_started_at": _NULLABLE_TIMESTAMP,
            "rollout_verdict": {"type": ["object", "null"], "description": "the last analysis verdict"},
        },
    },
    "DeploymentRevision": {
        "type": "object",
        "required": ["deployment", "revision", "created_by", "created_at", "source", "reason", "spec", "spec_yaml"],
        "properties": {
            "deployment": {"type": "string"},
            "revision": {"type": "integer", "minimum": 1},
            "created_by": {"type": "string"},
            "created_at": _TIMESTAMP,
            "source": {"type": "string", "description": "where it was applied from: cli, or the client's address"},
            "reason": _NULLABLE_STRING,
            "spec": {"$ref": "#/components/schemas/DeploymentSpec"},
            "spec_yaml": {"type": "string", "description": "the spec as its author wrote it"},
        },
    },
    "DeploymentList": {
        "type": "object",
        "required": ["deployments"],
        "properties": {"deployments": {"type": "array", "items": {"$ref": "#/components/schemas/Deployment"}}},
    },
    "DeploymentDetail": {
        "allOf": [
            {"$ref": "#/components/schemas/Deployment"},
            {
                "type": "object",
                "required": ["revision"],
                "properties": {"revision": {"$ref": "#/components/schemas/DeploymentRevision"}},
            },
        ]
    },
    "DeploymentRevisionList": {
        "type": "object",
        "required": ["deployment", "revisions"],
        "properties": {
            "deployment": {"type": "string"},
            "revisions": {"type": "array", "items": {"$ref": "#/components/schemas/DeploymentRevision"}},
        },
    },
    "DeploymentApplied": {
        "type": "object",
        "required": ["deployment", "revision", "changed"],
        "properties": {
            "deployment": {"$ref": "#/components/schemas/Deployment"},
            "revision": {"$ref": "#/components/schemas/DeploymentRevision"},
            "changed": {"type": "boolean", "description": "false: the spec was the current one; no new revision"},
        },
    },
    # -- operating a deployment (rollout/operations) ------------------------------------------
    "DeploymentPromote": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "variant": {"type": "string", "minLength": 1, "maxLength": 128, "description": "default: the canary"},
            "reason": _REASON,
            "min_agreement": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "promote only if the variant agreed at least this often over the last hour (409 else)",
            },
        },
    },
    "DeploymentRollback": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "to_revision": {"type": "integer", "minimum": 1, "description": "default: the previous revision"},
            "reason": _REASON,
        },
    },
    "DeploymentNote": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": _REASON},
    },
    "VariantTraffic": {
        "type": "object",
        "required": ["variant", "model", "role", "requests", "errors"],
        "properties": {
            "variant": {"type": "string"},
            "model": {"type": "string"},
            "role": {"type": "string", "enum": ["primary", "canary", "shadow", "arm"]},
            "weight": {"type": ["number", "null"], "description": "percent of the traffic (null for a shadow)"},
            "sample": {"type": ["number", "null"], "description": "a shadow's copied fraction"},
            "requests": {"type": "integer", "minimum": 0},
            "req_per_s": _NULLABLE_NUMBER,
            "errors": {"type": "integer", "minimum": 0},
            "error_rate": _NULLABLE_NUMBER,
            "p50_ms": _NULLABLE_NUMBER,
            "p99_ms": _NULLABLE_NUMBER,
        },
    },
    "DeploymentStatus": {
        "type": "object",
        "required": ["deployment", "state", "revision", "strategy", "window_seconds", "variants", "rollout"],
        "properties": {
            "deployment": {"type": "string"},
            "state": {"type": "string", "enum": ["active", "paused"]},
            "revision": {"type": "integer", "minimum": 1},
            "strategy": {"type": "string"},
            "window_seconds": {"type": "number"},
            "workers_reporting": {"type": "integer", "minimum": 0, "description": "workers with traffic in it"},
            "variants": {"type": "array", "items": {"$ref": "#/components/schemas/VariantTraffic"}},
            "rollout": {
                "type": ["object", "null"],
                "description": "status, canary, steps, step, canary_weight, bake_seconds, step_started_at, "
                "step_age_seconds and the last verdict (outcome, reason, gates with their detail)",
            },
        },
    },
    "ShadowComparison": {
        "type": "object",
        "required": ["variant", "kind", "copies", "compared_rows", "errors", "dropped"],
        "properties": {
            "variant": {"type": "string"},
            "kind": {"type": "string", "enum": ["shadow", "mirror"]},
            "copies": {"type": "integer", "minimum": 0},
            "compared_rows": {"type": "integer", "minimum": 0},
            "agreement": _NULLABLE_NUMBER,
            "mean_score_delta": _NULLABLE_NUMBER,
            "mean_abs_score_delta": _NULLABLE_NUMBER,
            "mean_latency_delta_ms": _NULLABLE_NUMBER,
            "p50_ms": _NULLABLE_NUMBER,
            "p99_ms": _NULLABLE_NUMBER,
            "errors": {"type": "integer", "minimum": 0},
            "dropped": {"type": "integer", "minimum": 0},
        },
    },
    "ShadowReport": {
        "type": "object",
        "required": ["deployment", "since", "until", "answered", "shadows", "configured"],
        "properties": {
            "deployment": {"type": "string"},
            "since": {"type": "number", "description": "Unix seconds"},
            "until": {"type": "number", "description": "Unix seconds"},
            "answered": {"type": "object", "additionalProperties": {"type": "integer"}},
            "shadows": {"type": "array", "items": {"$ref": "#/components/schemas/ShadowComparison"}},
            "configured": {"type": "array", "items": {"type": "string"}},
        },
    },
    "ExperimentReport": {
        "type": "object",
        "required": ["deployment", "metric", "decision", "recommendation", "reason", "arms", "comparisons"],
        "properties": {
            "deployment": {"type": "string"},
            "metric": {"type": "string"},
            "kind": {"type": ["string", "null"], "enum": ["rate", "mean", None]},
            "method": {"type": "string"},
            "method_note": {"type": "string"},
            "control": _NULLABLE_STRING,
            "alpha": {"type": "number"},
            "corrected_alpha": {"type": "number"},
            "power": {"type": "number"},
            "min_detectable_effect": {"type": "number"},
            "needed_per_arm": {"type": ["integer", "null"]},
            "horizon_reached": {"type": "boolean"},
            "decision": {"type": "string", "enum": ["keep_running", "ship", "keep_control", "no_difference"]},
            "recommendation": {"type": "string"},
            "reason": {"type": "string"},
            "notes": {"type": "array", "items": {"type": "string"}},
            "arms": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "units", "outcomes", "n", "reached"],
                    "properties": {
                        "name": {"type": "string"},
                        "units": {"type": "integer", "description": "requests assigned"},
                        "outcomes": {"type": "integer"},
                        "n": {"type": "integer"},
                        "value": _NULLABLE_NUMBER,
                        "sd": _NULLABLE_NUMBER,
                        "needed": {"type": ["integer", "null"]},
                        "reached": {"type": "boolean"},
                    },
                },
            },
            "comparisons": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["arm", "control", "test", "valid_for_decision"],
                    "properties": {
                        "arm": {"type": "string"},
                        "control": {"type": "string"},
                        "test": {"type": "string"},
                        "statistic": _NULLABLE_NUMBER,
                        "p_value": _NULLABLE_NUMBER,
                        "difference": _NULLABLE_NUMBER,
                        "relative_lift": _NULLABLE_NUMBER,
                        "ci": {"type": "array", "items": _NULLABLE_NUMBER},
                        "ci_level": {"type": "number"},
                        "ci_method": {"type": "string"},
                        "significant": {"type": ["boolean", "null"]},
                        "valid_for_decision": {"type": "boolean"},
                        "note": _NULLABLE_STRING,
                    },
                },
            },
        },
    },
    "Outcome": {
        "type": "object",
        "required": ["request_id", "metric", "value"],
        "additionalProperties": False,
        "properties": {
            "request_id": {"type": "string", "minLength": 1, "maxLength": 128, "description": "the X-Request-Id"},
            "metric": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_.:-]{0,127}$"},
            "value": {"type": "number"},
        },
    },
    "OutcomeRequest": {
        "oneOf": [
            {"$ref": "#/components/schemas/Outcome"},
            {
                "type": "object",
                "required": ["outcomes"],
                "additionalProperties": False,
                "properties": {
                    "outcomes": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 1000,
                        "items": {"$ref": "#/components/schemas/Outcome"},
                    }
                },
            },
        ]
    },
    "OutcomeRecorded": {
        "type": "object",
        "required": ["deployment", "request_id", "metric", "value", "variant", "created"],
        "properties": {
            "deployment": {"type": "string"},
            "request_id": {"type": "string"},
            "metric": {"type": "string"},
            "value": {"type": "number"},
            "variant": {"type": "string", "description": "the variant that answered the request"},
            "created": {"type": "boolean", "description": "false: the same value was recorded already"},
        },
    },
    "OutcomeBatchResult": {
        "type": "object",
        "required": ["deployment", "created", "existing", "failed", "results"],
        "properties": {
            "deployment": {"type": "string"},
            "created": {"type": "integer"},
            "existing": {"type": "integer"},
            "failed": {"type": "integer"},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["request_id", "metric", "status"],
                    "properties": {
                        "request_id": {"type": "string"},
                        "metric": {"type": "string"},
                        "status": {"type": "integer", "description": "201, 200, 404 or 409, as a single outcome"},
                        "variant": {"type": "string"},
                        "created": {"type": "boolean"},
                        "error": {"type": "string"},
                        "code": {"type": "string"},
                    },
                },
            },
        },
    },
    # -- keys and audit -------------------------------------------------------------------
    "Grant": {
        "type": "object",
        "required": ["role", "models"],
        "properties": {"role": {"type": "string"}, "models": {"type": "array", "items": {"type": "string"}}},
    },
    "Key": {
        "type": "object",
        "required": ["id", "name", "grants", "created_at", "state"],
        "properties": {
            "id": {"type": "string", "pattern": KEY_ID_PATTERN},
            "name": {"type": "string"},
            "grants": {"type": "array", "items": {"$ref": "#/components/schemas/Grant"}},
            "created_at": _TIMESTAMP,
            "created_by": {"type": "string"},
            "expires_at": {"type": ["string", "null"], "format": "date-time"},
            "revoked_at": {"type": ["string", "null"], "format": "date-time"},
            "last_used_at": {"type": ["string", "null"], "format": "date-time"},
            "state": {"type": "string", "enum": ["active", "revoked", "expired"]},
        },
    },
    "KeyList": {
        "type": "object",
        "required": ["keys"],
        "properties": {"keys": {"type": "array", "items": {"$ref": "#/components/schemas/Key"}}},
    },
    "KeyCreate": {
        "type": "object",
        "required": ["name", "role"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 128},
            "role": {
                "type": "string",
                "enum": ["viewer", "predictor", "publisher", "deployer", "approver", "auditor", "admin"],
            },
            "models": {"type": "array", "items": {"type": "string", "pattern": r"^[A-Za-z0-9_.*?\[\]!-]{1,128}$"}},
            "expires": {
                "type": "string",
                "pattern": "^([0-9]{1,6}[dhm]|never)$",
                "description": "30d, 12h, 90m, never",
            },
        },
    },
    "KeyCreated": {
        "allOf": [
            {"$ref": "#/components/schemas/Key"},
            {
                "type": "object",
                "required": ["token"],
                "properties": {"token": {"type": "string", "description": "the key, shown this once"}},
            },
        ]
    },
    "AuditEntry": {
        "type": "object",
        "required": ["seq", "at", "actor", "source", "action", "resource", "outcome", "hash"],
        "properties": {
            "seq": {"type": "integer"},
            "at": {"type": "string"},
            "actor": {"type": "string"},
            "source": {"type": "string"},
            "action": {"type": "string"},
            "resource": {"type": "string"},
            "outcome": {"type": "string"},
            "reason": {"type": ["string", "null"]},
            "details": {"type": "object"},
            "prev_hash": {"type": "string"},
            "hash": {"type": "string"},
            "mac": {"type": ["string", "null"]},
        },
    },
    "AuditList": {
        "type": "object",
        "required": ["entries"],
        "properties": {"entries": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEntry"}}},
    },
    "AuditVerification": {
        "type": "object",
        "required": ["ok", "checked"],
        "properties": {
            "ok": {"type": "boolean"},
            "checked": {"type": "integer"},
            "head": {"type": ["string", "null"], "description": "SEQ:HASH, a checkpoint to keep elsewhere"},
            "bad_seq": {"type": ["integer", "null"]},
            "problem": {"type": ["string", "null"]},
            "reason": {"type": ["string", "null"]},
        },
    },
}
