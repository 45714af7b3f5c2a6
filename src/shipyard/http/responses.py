"""Responses encoded with orjson (numpy arrays serialised natively, no Python detours)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

JSON_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content, option=JSON_OPTIONS)
