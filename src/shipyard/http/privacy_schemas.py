"""JSON Schemas of the serving controls and privacy bodies (``/api/controls/{target}``,
``/api/retention/run``, ``/api/erasure``), merged into ``http/schemas.COMPONENTS``."""

from __future__ import annotations

from shipyard.http.schema_parts import REASON, TIMESTAMP, Schema

_PII_MARK: Schema = {"type": "string", "enum": ["drop", "hash", "keep"]}
_COUNT: Schema = {"type": "integer", "minimum": 0}

CONTROLS_DOCUMENT: Schema = {
    "type": "object",
    "description": "review rules, guardrails, fallback, PII marks and retention (docs/governance.md)",
    "additionalProperties": False,
    "properties": {
        "review": {"type": "object"},
        "guardrails": {"type": "object"},
        "fallback": {"type": "object"},
        "pii": {
            "type": "object",
            "description": "field (signature input or feedback attribute) → drop | hash | keep",
            "additionalProperties": _PII_MARK,
        },
        "retention_days": {"type": ["integer", "null"], "minimum": 1, "maximum": 36500},
    },
}

PRIVACY_COMPONENTS: dict[str, Schema] = {
    "ControlsSet": {
        "type": "object",
        "required": ["controls"],
        "additionalProperties": False,
        "properties": {"controls": CONTROLS_DOCUMENT, "reason": REASON},
    },
    "Controls": {
        "type": "object",
        "required": ["target", "revision", "actor", "updated_at", "controls"],
        "properties": {
            "target": {"type": "string", "description": "a model's or a deployment's name"},
            "revision": {"type": "integer", "minimum": 1},
            "actor": {"type": "string"},
            "updated_at": TIMESTAMP,
            "controls": CONTROLS_DOCUMENT,
        },
    },
    "RetentionRun": {
        "type": "object",
        "additionalProperties": False,
        "properties": {"dry_run": {"type": "boolean", "description": "count only, change nothing"}},
    },
    "RetentionReport": {
        "type": "object",
        "required": ["dry_run", "locked", "targets", "totals"],
        "properties": {
            "dry_run": {"type": "boolean"},
            "locked": {"type": "boolean", "description": "another process was running retention: nothing done"},
            "targets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["target", "retention_days", "before", "log_rows", "feedback", "reviews"],
                    "properties": {
                        "target": {"type": "string"},
                        "retention_days": {"type": "integer", "minimum": 1},
                        "before": TIMESTAMP,
                        "log_rows": _COUNT,
                        "feedback": _COUNT,
                        "reviews": _COUNT,
                    },
                },
            },
            "totals": {
                "type": "object",
                "properties": {"log_rows": _COUNT, "feedback": _COUNT, "reviews": _COUNT},
            },
        },
    },
    "ErasureRequest": {
        "type": "object",
        "description": 'the subject: {"key": K} (a prediction key) or {"field": F, "value": V}',
        "additionalProperties": False,
        "properties": {
            "key": {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,128}$"},
            "field": {"type": "string", "minLength": 1, "maxLength": 256},
            "value": {"type": ["string", "number"]},
            "dry_run": {"type": "boolean"},
            "reason": REASON,
        },
    },
    "ErasureReport": {
        "type": "object",
        "required": ["kind", "subject_hash", "log_rows", "pending_rows", "feedback", "reviews", "dry_run"],
        "properties": {
            "kind": {"type": "string", "enum": ["key", "field"]},
            "field": {"type": ["string", "null"]},
            "subject_hash": {"type": "string", "description": "the keyed HMAC of the subject (never the subject)"},
            "log_rows": {**_COUNT, "description": "prediction rows deleted (Parquet and sealed segments)"},
            "pending_rows": {
                **_COUNT,
                "description": "rows in live writers' open segments, dropped when they are compacted",
            },
            "feedback": _COUNT,
            "reviews": _COUNT,
            "dry_run": {"type": "boolean"},
        },
    },
}
