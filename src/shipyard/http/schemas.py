"""JSON Schemas of every request and response body, published under ``components/schemas``
of ``/openapi.json`` and referenced by the route table (``http/routes.py``).

The V2 documents follow the Open Inference Protocol REST spec; V1 and MLflow bodies are
what their codecs (``shipyard/protocol``) accept and produce. Schemas describe the shape a
well-formed body has; the codecs still check everything (a body can match its schema and be
refused for its content, e.g. a shape that does not match its data).
"""

from __future__ import annotations

from shipyard.http.alert_schemas import ALERT_COMPONENTS
from shipyard.http.card_schemas import CARD_COMPONENTS
from shipyard.http.deployment_schemas import DEPLOYMENT_COMPONENTS
from shipyard.http.feedback_schemas import FEEDBACK_COMPONENTS
from shipyard.http.governance_schemas import GOVERNANCE_COMPONENTS
from shipyard.http.guardrail_schemas import GUARDRAIL_COMPONENTS
from shipyard.http.privacy_schemas import PRIVACY_COMPONENTS
from shipyard.http.review_schemas import REVIEW_COMPONENTS
from shipyard.http.schema_parts import (
    ALIAS_PATTERN,
    ANY_MAP,
    KEY_ID_PATTERN,
    MODEL_NAME_PATTERN,
    NULLABLE_STRING,
    NULLABLE_TIMESTAMP,
    REASON,
    ROW,
    STRING_MAP,
    TIMESTAMP,
    V2_DATATYPES,
    Schema,
)

__all__ = ["ALIAS_PATTERN", "COMPONENTS", "KEY_ID_PATTERN", "MODEL_NAME_PATTERN", "V2_DATATYPES", "Schema", "ref"]


def ref(name: str) -> Schema:
    """A reference to ``components/schemas/NAME`` (``KeyError`` for a name not defined here)."""
    if name not in COMPONENTS:
        raise KeyError(name)
    return {"$ref": f"#/components/schemas/{name}"}


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
                "properties": {"instances": {"type": "array", "items": ROW}},
            },
            {
                "type": "object",
                "required": ["inputs"],
                "additionalProperties": False,
                "properties": {
                    "inputs": {
                        "anyOf": [
                            {"type": "array", "items": ROW},
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
            "instances": {"type": "array", "items": ROW},
            "inputs": {
                "anyOf": [
                    {"type": "array", "items": ROW},
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
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "tags": STRING_MAP,
            "aliases": {"type": "object", "additionalProperties": {"type": "integer"}},
            "latest_version": {"type": ["integer", "null"]},
            "risk_tier": {"type": "string", "enum": ["minimal", "limited", "high"]},
            "tier_set": {"type": "boolean", "description": "false: the policy's default tier applies"},
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
            "created_at": TIMESTAMP,
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
            "lineage": ANY_MAP,
            "description": {"type": "string"},
            "created_by": {"type": "string"},
            "created_at": TIMESTAMP,
            "parent_version": {"type": ["integer", "null"]},
            "trusted_types": {"type": "array", "items": {"type": "string"}},
            "unsafe_format": {"type": "boolean"},
            "trust_code": {"type": "boolean"},
            "tags": STRING_MAP,
            "input_example": {"type": ["object", "null"]},
            "flavor_metadata": ANY_MAP,
            "aliases": {"type": "array", "items": {"type": "string"}},
            "compiled": {"type": ["object", "null"]},
            "serving_runtime": {"type": "string"},
            "compile_error": NULLABLE_STRING,
            "lifecycle": {"type": "string", "enum": ["active", "deprecated", "retired"]},
            "deprecated_at": NULLABLE_TIMESTAMP,
            "sunset_at": NULLABLE_TIMESTAMP,
            "successor": NULLABLE_STRING,
            "retired_at": NULLABLE_TIMESTAMP,
            "archived_at": NULLABLE_TIMESTAMP,
            "lifecycle_reason": NULLABLE_STRING,
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
            "reason": REASON,
        },
    },
    "Retire": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "successor": {"type": "string", "description": "default: the successor its deprecation named"},
            "archive": {"type": "boolean", "description": "also move its artifacts to archive storage"},
            "reason": REASON,
        },
    },
    "LifecycleNote": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": REASON},
    },
    "Retired": {
        "type": "object",
        "required": ["error", "code", "successor"],
        "properties": {
            "error": {"type": "string"},
            "code": {"type": "string", "enum": ["retired"]},
            "successor": NULLABLE_STRING,
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
                "trust.admin scope and the server setting http_trust_uploads), tier (minimal, limited, high: "
                "set on a new model only), pii ({field: drop|hash|keep}, fields of the signature)",
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
    **DEPLOYMENT_COMPONENTS,
    **ALERT_COMPONENTS,
    **FEEDBACK_COMPONENTS,
    **GOVERNANCE_COMPONENTS,
    **CARD_COMPONENTS,
    **GUARDRAIL_COMPONENTS,
    **REVIEW_COMPONENTS,
    **PRIVACY_COMPONENTS,
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
            "created_at": TIMESTAMP,
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
                "enum": ["viewer", "predictor", "publisher", "deployer", "approver", "reviewer", "auditor", "admin"],
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
