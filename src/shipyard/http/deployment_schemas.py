"""JSON Schemas of the deployment bodies (``/api/deployments``: specs, revisions, status,
moves, reports, outcomes), merged into ``http/schemas.COMPONENTS``."""

from __future__ import annotations

from shipyard.http.schema_parts import (
    ANY_MAP,
    NULLABLE_NUMBER,
    NULLABLE_STRING,
    NULLABLE_TIMESTAMP,
    REASON,
    TIMESTAMP,
    Schema,
)

DEPLOYMENT_COMPONENTS: dict[str, Schema] = {
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
            "analysis": ANY_MAP,
            "experiment": ANY_MAP,
        },
    },
    "Deployment": {
        "type": "object",
        "required": ["name", "state", "current_revision", "created_at", "updated_at"],
        "properties": {
            "name": {"type": "string"},
            "state": {"type": "string", "enum": ["active", "paused", "deleted"]},
            "current_revision": {"type": "integer", "minimum": 1},
            "created_at": TIMESTAMP,
            "updated_at": TIMESTAMP,
            "rollout_status": {
                "type": ["string", "null"],
                "enum": ["progressing", "promoted", "rolled_back", None],
                "description": "progressive delivery's status (null: no rollout)",
            },
            "step_started_at": NULLABLE_TIMESTAMP,
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
            "created_at": TIMESTAMP,
            "source": {"type": "string", "description": "where it was applied from: cli, or the client's address"},
            "reason": NULLABLE_STRING,
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
            "reason": REASON,
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
            "reason": REASON,
        },
    },
    "DeploymentNote": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"reason": REASON},
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
            "req_per_s": NULLABLE_NUMBER,
            "errors": {"type": "integer", "minimum": 0},
            "error_rate": NULLABLE_NUMBER,
            "p50_ms": NULLABLE_NUMBER,
            "p99_ms": NULLABLE_NUMBER,
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
            "agreement": NULLABLE_NUMBER,
            "mean_score_delta": NULLABLE_NUMBER,
            "mean_abs_score_delta": NULLABLE_NUMBER,
            "mean_latency_delta_ms": NULLABLE_NUMBER,
            "p50_ms": NULLABLE_NUMBER,
            "p99_ms": NULLABLE_NUMBER,
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
            "control": NULLABLE_STRING,
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
                        "value": NULLABLE_NUMBER,
                        "sd": NULLABLE_NUMBER,
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
                        "statistic": NULLABLE_NUMBER,
                        "p_value": NULLABLE_NUMBER,
                        "difference": NULLABLE_NUMBER,
                        "relative_lift": NULLABLE_NUMBER,
                        "ci": {"type": "array", "items": NULLABLE_NUMBER},
                        "ci_level": {"type": "number"},
                        "ci_method": {"type": "string"},
                        "significant": {"type": ["boolean", "null"]},
                        "valid_for_decision": {"type": "boolean"},
                        "note": NULLABLE_STRING,
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
}
