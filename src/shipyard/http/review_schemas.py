"""JSON Schemas of the review queue's bodies (``GET /reviews``, ``GET /reviews/{id}``,
``POST /reviews/{id}/claim``, ``POST /reviews/{id}/decision``), merged into
``http/schemas.COMPONENTS``."""

from __future__ import annotations

from shipyard.http.schema_parts import NULLABLE_STRING, NULLABLE_TIMESTAMP, TIMESTAMP, Schema

TICKET_PATTERN = "^rv_[A-Za-z0-9_-]{24}$"
_STATUS: Schema = {"type": "string", "enum": ["pending", "claimed", "decided", "expired"]}
_OUTPUTS: Schema = {
    "type": "object",
    "description": "output name → one value per row (predict, predict_proba, ...)",
    "additionalProperties": {"type": "array", "items": {}},
}

REVIEW_COMPONENTS: dict[str, Schema] = {
    "ReviewTicket": {
        "type": "object",
        "description": (
            "A held prediction. A caller polling its ticket (infer scope) sees the first fields, "
            "and outputs/decision once decided or expired; a reviewer (reviews.write) sees all."
        ),
        "required": ["ticket", "status", "request_id", "model", "version", "created_at", "deadline"],
        "properties": {
            "ticket": {"type": "string", "pattern": TICKET_PATTERN},
            "status": _STATUS,
            "request_id": {"type": "string"},
            "model": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "created_at": TIMESTAMP,
            "deadline": TIMESTAMP,
            "decision": {
                "type": "string",
                "enum": ["approve", "override", "expired"],
                "description": "expired: nobody decided by the deadline; outputs are the fallback answer",
            },
            "outputs": {**_OUTPUTS, "description": "the final answer (absent when expired without a fallback)"},
            "decided_by": {"type": "string"},
            "decided_at": TIMESTAMP,
            "target": {"type": "string"},
            "deployment": NULLABLE_STRING,
            "variant": NULLABLE_STRING,
            "caller": {"type": "string"},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "inputs": {"type": "object", "description": "the request's columns (PII minimised)"},
            "proposed": _OUTPUTS,
            "fallback": {"type": ["object", "null"]},
            "claimed_by": NULLABLE_STRING,
            "claimed_at": NULLABLE_TIMESTAMP,
            "comment": NULLABLE_STRING,
            "webhook": {"type": "boolean", "description": "whether the decision is (or was) sent to a webhook"},
        },
    },
    "ReviewList": {
        "type": "object",
        "required": ["tickets"],
        "properties": {"tickets": {"type": "array", "items": {"$ref": "#/components/schemas/ReviewTicket"}}},
    },
    "ReviewDecision": {
        "type": "object",
        "required": ["action"],
        "additionalProperties": False,
        "properties": {
            "action": {
                "type": "string",
                "enum": ["approve", "override"],
                "description": "approve: the proposed outputs stand; override: outputs replace them",
            },
            "outputs": {**_OUTPUTS, "description": "override only: at least predict, one value per row"},
            "comment": {"type": "string", "maxLength": 2000},
        },
    },
}
