"""JSON Schemas of the data plane's governance answers (``202 pending_review``), merged into
``http/schemas.COMPONENTS``; the inference routes document them (``http/routes``)."""

from __future__ import annotations

from shipyard.http.schema_parts import Schema

GUARDRAIL_COMPONENTS: dict[str, Schema] = {
    "PendingReview": {
        "type": "object",
        "description": (
            "The prediction is held for human review (a review rule of the target matched). Poll "
            "`poll` (GET /reviews/{ticket}) for the decision, or wait for the signed webhook. The "
            "same body in every protocol (V2, KServe V1, MLflow)."
        ),
        "required": ["status", "ticket", "poll", "model", "version", "request_id", "deadline", "reasons"],
        "properties": {
            "status": {"type": "string", "enum": ["pending_review"]},
            "ticket": {"type": "string", "pattern": "^rv_[A-Za-z0-9_-]+$"},
            "poll": {"type": "string", "description": "the path to poll: /reviews/{ticket}"},
            "model": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "request_id": {"type": "string"},
            "deadline": {
                "type": "string",
                "format": "date-time",
                "description": "undecided by then, the ticket expires with the fallback answer",
            },
            "reasons": {
                "type": "array",
                "items": {"type": "string", "enum": ["low_confidence", "classes", "guardrail", "sample"]},
            },
        },
    },
}
