"""JSON Schemas of the governance bodies (policy, risk tiers, approvals, the gate's status,
governance flags, emergency alias rollback), merged into ``http/schemas.COMPONENTS``."""

from __future__ import annotations

from shipyard.http.schema_parts import NULLABLE_STRING, NULLABLE_TIMESTAMP, REASON, TIMESTAMP, Schema

TIER: Schema = {"type": "string", "enum": ["minimal", "limited", "high"]}
_COMMENT: Schema = {"type": "string", "maxLength": 4096}
_STATUS: Schema = {"type": "string", "enum": ["pending", "approved", "rejected", "expired"]}
_REQUIREMENTS: Schema = {
    "type": "object",
    "properties": {
        "approvals": {"type": "integer", "minimum": 0},
        "separation_of_duties": {"type": "boolean"},
        "card_fields": {"type": "array", "items": {"type": "string"}},
        "metrics": {"type": "object"},
        "fairness_report": {"type": "boolean"},
        "review_rule": {"type": "boolean"},
    },
}

GOVERNANCE_COMPONENTS: dict[str, Schema] = {
    "Policy": {
        "type": "object",
        "required": ["revision", "default", "text", "policy"],
        "properties": {
            "revision": {"type": "integer", "minimum": 0, "description": "0: the built-in default"},
            "default": {"type": "boolean"},
            "text": {"type": "string", "description": "the YAML as written"},
            "policy": {
                "type": "object",
                "properties": {
                    "default_tier": TIER,
                    "protected_aliases": {"type": "array", "items": {"type": "string"}},
                    "approval_expiry_days": {"type": "integer"},
                    "tiers": {"type": "object", "additionalProperties": _REQUIREMENTS},
                },
            },
            "actor": NULLABLE_STRING,
            "created_at": NULLABLE_TIMESTAMP,
        },
    },
    "PolicyList": {
        "type": "object",
        "required": ["revisions"],
        "properties": {"revisions": {"type": "array", "items": {"$ref": "#/components/schemas/Policy"}}},
    },
    "PolicySet": {
        "type": "object",
        "required": ["text"],
        "additionalProperties": False,
        "properties": {
            "text": {"type": "string", "maxLength": 65536, "description": "the policy YAML"},
            "reason": REASON,
        },
    },
    "TierSet": {
        "type": "object",
        "required": ["tier"],
        "additionalProperties": False,
        "properties": {"tier": TIER, "reason": REASON},
    },
    "ApprovalAsk": {
        "type": "object",
        "required": ["comment"],
        "additionalProperties": False,
        "properties": {
            "comment": {**_COMMENT, "minLength": 1},
            "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 3650},
        },
    },
    "ApprovalVote": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"comment": _COMMENT},
    },
    "ApprovalRequest": {
        "type": "object",
        "required": ["id", "model", "version", "status", "requested_by", "comment", "created_at", "votes"],
        "properties": {
            "id": {"type": "integer"},
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "status": _STATUS,
            "requested_by": {"type": "string"},
            "comment": {"type": "string"},
            "created_at": TIMESTAMP,
            "expires_at": NULLABLE_TIMESTAMP,
            "decided_at": NULLABLE_TIMESTAMP,
            "votes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["actor", "decision"],
                    "properties": {
                        "actor": {"type": "string"},
                        "decision": {"type": "string", "enum": ["approve", "reject"]},
                        "comment": {"type": "string"},
                        "at": TIMESTAMP,
                    },
                },
            },
        },
    },
    "ApprovalList": {
        "type": "object",
        "required": ["approvals"],
        "properties": {"approvals": {"type": "array", "items": {"$ref": "#/components/schemas/ApprovalRequest"}}},
    },
    "GateStatus": {
        "type": "object",
        "required": ["model", "version", "purpose", "tier", "required", "approvals", "missing", "allowed"],
        "properties": {
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "purpose": {"type": "string", "description": "alias:NAME or deployment:NAME"},
            "tier": TIER,
            "policy_revision": {"type": "integer"},
            "required": _REQUIREMENTS,
            "registrant": {"type": "string"},
            "approvals": {"type": "array", "items": {"$ref": "#/components/schemas/ApprovalRequest"}},
            "approvers": {"type": "array", "items": {"type": "string"}},
            "missing": {"type": "array", "items": {"type": "string"}, "description": "empty: allowed"},
            "allowed": {"type": "boolean"},
        },
    },
    "Flag": {
        "type": "object",
        "required": ["id", "kind", "target", "actor", "created_at", "open"],
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string"},
            "target": {"type": "string"},
            "details": {"type": "object"},
            "actor": {"type": "string"},
            "created_at": TIMESTAMP,
            "open": {"type": "boolean"},
            "cleared_by": NULLABLE_STRING,
            "cleared_at": NULLABLE_TIMESTAMP,
            "note": NULLABLE_STRING,
        },
    },
    "FlagList": {
        "type": "object",
        "required": ["flags"],
        "properties": {"flags": {"type": "array", "items": {"$ref": "#/components/schemas/Flag"}}},
    },
    "FlagClear": {
        "type": "object",
        "required": ["note"],
        "additionalProperties": False,
        "properties": {"note": {"type": "string", "minLength": 1, "maxLength": 4096}},
    },
    "AliasRollback": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "to_version": {"type": "integer", "minimum": 1, "description": "default: the version before"},
            "reason": REASON,
        },
    },
    "AliasRolledBack": {
        "type": "object",
        "required": ["model", "alias", "version", "emergency", "flag"],
        "properties": {
            "model": {"type": "string"},
            "alias": {"type": "string"},
            "version": {"type": "integer"},
            "previous": {"type": ["integer", "null"]},
            "emergency": {"type": "boolean"},
            "flag": {"type": "integer", "description": "the governance flag raised for review"},
        },
    },
}
