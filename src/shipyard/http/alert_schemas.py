"""JSON Schemas of the alert bodies (``GET /api/alerts``), merged into ``http/schemas.COMPONENTS``."""

from __future__ import annotations

from shipyard.http.schema_parts import NULLABLE_NUMBER, NULLABLE_STRING, NULLABLE_TIMESTAMP, TIMESTAMP, Schema

ALERT_COMPONENTS: dict[str, Schema] = {
    "AlertState": {
        "type": "object",
        "required": ["rule", "target", "state", "episode"],
        "properties": {
            "rule": {"type": "string"},
            "target": {"type": "string", "description": "the model or deployment"},
            "state": {"type": "string", "enum": ["inactive", "pending", "firing", "resolved"]},
            "since": {**NULLABLE_TIMESTAMP, "description": "when the condition began to hold"},
            "value": {**NULLABLE_NUMBER, "description": "the figure at the last change of state"},
            "episode": {"type": "integer", "minimum": 0, "description": "how many times it has fired"},
            "updated_at": TIMESTAMP,
        },
    },
    "AlertRule": {
        "type": "object",
        "required": ["rule", "removed", "alerts"],
        "properties": {
            "rule": {"type": "string"},
            "target": {"type": "string", "description": "a name or pattern"},
            "figure": {"type": "string", "description": "e.g. drift.share, performance.accuracy"},
            "condition": {"type": "string"},
            "window_seconds": {"type": "number"},
            "for_seconds": {"type": "number"},
            "severity": {"type": "string", "enum": ["info", "warning", "critical"]},
            "notify": {"type": "array", "items": {"type": "string"}},
            "retrain": NULLABLE_STRING,
            "removed": {"type": "boolean", "description": "no longer in the rule file (its states remain)"},
            "alerts": {"type": "array", "items": {"$ref": "#/components/schemas/AlertState"}},
        },
    },
    "AlertList": {
        "type": "object",
        "required": ["rules"],
        "properties": {"rules": {"type": "array", "items": {"$ref": "#/components/schemas/AlertRule"}}},
    },
}
