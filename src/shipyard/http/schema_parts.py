"""The building blocks of the OpenAPI schemas (``http/schemas``, ``http/deployment_schemas``):
name patterns and the small fragments many bodies share."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

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

STRING_MAP: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
ANY_MAP: Schema = {"type": "object"}
TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
NULLABLE_STRING: Schema = {"type": ["string", "null"]}
NULLABLE_NUMBER: Schema = {"type": ["number", "null"]}
NULLABLE_TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}
REASON: Schema = {"type": "string", "maxLength": 4096, "description": "why, for the audit trail"}
SCALAR: Schema = {"type": ["number", "string", "boolean", "null"]}
ROW: Schema = {
    "description": "one row: a list of values, or an object of column name to value",
    "anyOf": [{"type": "array", "items": {}}, {"type": "object"}, SCALAR],
}
