"""JSON Schemas of the model card and governance-view bodies (``http/card_routes``), merged
into ``http/schemas.COMPONENTS``."""

from __future__ import annotations

from shipyard.http.schema_parts import ANY_MAP, NULLABLE_STRING, NULLABLE_TIMESTAMP, STRING_MAP, TIMESTAMP, Schema
from shipyard.registry.card_fields import MAX_FIELD_CHARS

_FIELD_NAME = "^[a-z][a-z0-9_]{0,63}$"
_STRINGS: Schema = {"type": "array", "items": {"type": "string"}}
_NULLABLE_NUMBER_MAP: Schema = {"type": "object", "additionalProperties": {"type": ["number", "null"]}}
_NULLABLE_OBJECT: Schema = {"type": ["object", "null"]}

CARD_COMPONENTS: dict[str, Schema] = {
    "CardEdit": {
        "type": "object",
        "required": ["fields"],
        "additionalProperties": False,
        "description": "narrative fields to set (an empty string clears one); the others stay",
        "properties": {
            "fields": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 100,
                "propertyNames": {"pattern": _FIELD_NAME},
                "additionalProperties": {"type": "string", "maxLength": MAX_FIELD_CHARS},
            },
            "reason": {"type": "string", "maxLength": 2000, "description": "why, for the card history and audit"},
        },
    },
    "CardRevision": {
        "type": "object",
        "required": ["model", "version", "revision", "fields", "changed"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "revision": {"type": "integer", "minimum": 0, "description": "0: nothing written yet"},
            "fields": STRING_MAP,
            "fairness": _NULLABLE_OBJECT,
            "actor": NULLABLE_STRING,
            "created_at": NULLABLE_TIMESTAMP,
            "changed": _STRINGS,
            "reason": NULLABLE_STRING,
        },
    },
    "CardStatus": {
        "type": "object",
        "required": ["revision", "complete", "required", "missing", "fairness"],
        "properties": {
            "revision": {"type": "integer"},
            "revised_by": NULLABLE_STRING,
            "revised_at": NULLABLE_TIMESTAMP,
            "complete": {"type": "boolean", "description": "every field the tier requires is present"},
            "required": _STRINGS,
            "missing": _STRINGS,
            "fairness": {"type": "boolean", "description": "fairness figures are recorded on the card"},
        },
    },
    "CardEdited": {
        "type": "object",
        "required": ["revision", "card"],
        "properties": {
            "revision": {"$ref": "#/components/schemas/CardRevision"},
            "card": {"$ref": "#/components/schemas/CardStatus"},
        },
    },
    "CardHistory": {
        "type": "object",
        "required": ["model", "version", "revisions"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "revisions": {"type": "array", "items": {"$ref": "#/components/schemas/CardRevision"}},
        },
    },
    "ModelCard": {
        "type": "object",
        "description": "a version's model card: generated from the registry, narrative on top",
        "required": [
            "card_schema",
            "model",
            "version",
            "ref",
            "tier",
            "revision",
            "generated_at",
            "status",
            "details",
            "owners",
            "narrative",
            "training_data",
            "evaluation",
            "fairness",
            "approvals",
            "lineage",
        ],
        "properties": {
            "card_schema": {"type": "integer"},
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "ref": {"type": "string"},
            "tier": {"type": "string"},
            "revision": {"type": "integer"},
            "revised_by": NULLABLE_STRING,
            "revised_at": NULLABLE_TIMESTAMP,
            "generated_at": TIMESTAMP,
            "status": {
                "type": "object",
                "required": ["complete", "required", "missing"],
                "properties": {"complete": {"type": "boolean"}, "required": _STRINGS, "missing": _STRINGS},
            },
            "details": ANY_MAP,
            "owners": {
                "type": "object",
                "properties": {"owner": NULLABLE_STRING, "text": NULLABLE_STRING},
            },
            "narrative": STRING_MAP,
            "training_data": {
                "type": "object",
                "properties": {"fingerprint": _NULLABLE_OBJECT, "profile": _NULLABLE_OBJECT, "text": NULLABLE_STRING},
            },
            "evaluation": {
                "type": "object",
                "properties": {
                    "metrics": _NULLABLE_NUMBER_MAP,
                    "slices": {"type": "object", "additionalProperties": _NULLABLE_NUMBER_MAP},
                    "text": NULLABLE_STRING,
                    "slices_text": NULLABLE_STRING,
                },
            },
            "fairness": _NULLABLE_OBJECT,
            "approvals": {"type": "array", "items": ANY_MAP},
            "governance_missing": {"type": ["array", "null"], "items": {"type": "string"}},
            "lineage": ANY_MAP,
        },
    },
    "VersionGovernance": {
        "type": "object",
        "description": "a version's lifecycle in one view",
        "required": [
            "model",
            "version",
            "tier",
            "gate",
            "card",
            "review",
            "pii",
            "aliases",
            "latest",
            "deployments",
        ],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "ref": {"type": "string"},
            "lifecycle": {"type": "string"},
            "owner": {"type": "string"},
            "registered_by": {"type": "string"},
            "tier": {"type": "string"},
            "tier_set": {"type": "boolean", "description": "false: the policy's default tier applies"},
            "gate": {
                "type": "object",
                "description": "the gate's status for the purpose asked (approvals, what is missing)",
                "required": ["purpose", "tier", "required", "approvals", "missing", "allowed"],
                "properties": {
                    "purpose": {"type": "string"},
                    "tier": {"type": "string"},
                    "required": ANY_MAP,
                    "approvals": {"type": "array", "items": ANY_MAP},
                    "approvers": _STRINGS,
                    "missing": _STRINGS,
                    "allowed": {"type": "boolean"},
                },
            },
            "card": {"$ref": "#/components/schemas/CardStatus"},
            "review": {
                "type": "object",
                "description": "review controls by target (the model, and each deployment routing to it)",
                "additionalProperties": _NULLABLE_OBJECT,
            },
            "pii": {
                "type": "object",
                "additionalProperties": {"type": "string", "enum": ["drop", "hash", "keep"]},
            },
            "retention_days": {"type": ["integer", "null"]},
            "aliases": _STRINGS,
            "latest": {"type": "boolean", "description": "the bare model name resolves to this version"},
            "deployments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["deployment", "variant", "role", "traffic"],
                    "properties": {
                        "deployment": {"type": "string"},
                        "state": {"type": "string"},
                        "revision": {"type": "integer"},
                        "variant": {"type": "string"},
                        "model_ref": {"type": "string"},
                        "role": {"type": "string"},
                        "traffic": {"type": "string"},
                    },
                },
            },
        },
    },
}
