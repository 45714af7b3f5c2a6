"""JSON Schemas of the feedback bodies (``POST /feedback``, ``GET /feedback/{request_id}``),
merged into ``http/schemas.COMPONENTS``."""

from __future__ import annotations

from shipyard.http.schema_parts import NULLABLE_STRING, Schema

_NAME = "^[A-Za-z][A-Za-z0-9_.:-]{0,127}$"
_ID: Schema = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[\\x21-\\x7e]+$"}
_LABEL: Schema = {"type": ["string", "number", "integer", "boolean"], "description": "classification ground truth"}
_FACTS: dict[str, Schema] = {
    "row": {"type": "integer", "minimum": 0, "description": "the row of the request (default 0)"},
    "label": _LABEL,
    "value": {"type": "number", "description": "regression ground truth"},
    "outcomes": {
        "type": "object",
        "maxProperties": 64,
        "propertyNames": {"pattern": _NAME},
        "additionalProperties": {"type": "number"},
        "description": "business outcomes: revenue, conversion, rating...",
    },
    "attributes": {
        "type": "object",
        "maxProperties": 64,
        "propertyNames": {"pattern": _NAME},
        "additionalProperties": {"type": ["string", "number", "boolean"]},
        "description": "sensitive attributes for fairness (need not be model inputs)",
    },
}

FEEDBACK_COMPONENTS: dict[str, Schema] = {
    "FeedbackItem": {
        "type": "object",
        "additionalProperties": False,
        "description": "feedback on one logged prediction row, named by request id or by the caller's key",
        "oneOf": [{"required": ["request_id"]}, {"required": ["key"]}],
        "properties": {
            "request_id": {**_ID, "description": "the X-Request-Id of the prediction"},
            "key": {**_ID, "description": "the X-Prediction-Key the same caller sent with it"},
            **_FACTS,
        },
    },
    "FeedbackRequest": {
        "oneOf": [
            {"$ref": "#/components/schemas/FeedbackItem"},
            {
                "type": "object",
                "required": ["items"],
                "additionalProperties": False,
                "properties": {
                    "items": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 1000,
                        "items": {"$ref": "#/components/schemas/FeedbackItem"},
                    }
                },
            },
        ]
    },
    "FeedbackRecorded": {
        "type": "object",
        "required": ["request_id", "row", "target", "model", "created", "outcomes", "attributes"],
        "properties": {
            "request_id": {"type": "string"},
            "row": {"type": "integer"},
            "target": {"type": "string", "description": "the deployment or model called"},
            "model": {"type": "string"},
            "version": {"type": ["integer", "null"]},
            "deployment": NULLABLE_STRING,
            "variant": NULLABLE_STRING,
            "created": {"type": "boolean", "description": "false: all of it was recorded already"},
            "label": {"type": ["string", "number", "integer", "boolean", "null"]},
            "value": {"type": ["number", "null"]},
            "outcomes": {"type": "object", "additionalProperties": {"type": "number"}},
            "attributes": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
        },
    },
    "FeedbackBatchResult": {
        "type": "object",
        "required": ["created", "existing", "failed", "results"],
        "properties": {
            "created": {"type": "integer"},
            "existing": {"type": "integer"},
            "failed": {"type": "integer"},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "status": {"type": "integer", "description": "201, 200, 400, 403, 404 or 409, as one item"},
                        "request_id": {"type": ["string", "null"]},
                        "key": {"type": ["string", "null"]},
                        "error": {"type": "string"},
                        "code": {"type": "string"},
                    },
                },
            },
        },
    },
    "FeedbackList": {
        "type": "object",
        "required": ["request_id", "feedback"],
        "properties": {
            "request_id": {"type": "string"},
            "feedback": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["request_id", "row", "target", "model"],
                    "properties": {
                        "request_id": {"type": "string"},
                        "row": {"type": "integer"},
                        "target": {"type": "string"},
                        "model": {"type": "string"},
                        "version": {"type": ["integer", "null"]},
                        "deployment": NULLABLE_STRING,
                        "variant": NULLABLE_STRING,
                        "predicted_at": {"type": "string", "format": "date-time"},
                        "recorded_at": {"type": "string", "format": "date-time"},
                        "label": {"type": ["string", "number", "integer", "boolean", "null"]},
                        "value": {"type": ["number", "null"]},
                        "outcomes": {"type": "object"},
                        "attributes": {"type": "object"},
                    },
                },
            },
        },
    },
}
