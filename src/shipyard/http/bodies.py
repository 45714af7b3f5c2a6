"""Reading a management JSON body: one object, or a clear 400."""

from __future__ import annotations

from typing import Any

import orjson

from shipyard.errors import MalformedRequest


def json_object(body: bytes, *, empty_ok: bool = False) -> dict[str, Any]:
    """The JSON object in ``body``; ``{}`` for an empty body when ``empty_ok``, else
    ``MalformedRequest`` for anything but an object."""
    if not body and empty_ok:
        return {}
    try:
        value = orjson.loads(body) if body else None
    except orjson.JSONDecodeError as exc:
        raise MalformedRequest(f"body is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise MalformedRequest("body must be a JSON object")
    return value
