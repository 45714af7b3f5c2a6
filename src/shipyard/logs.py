"""Logging set-up for processes Shipyard owns (the server, the CLI). Never at import time.

Server logs are JSON lines, one object per record, built with orjson (never by string
formatting); the access log is the ``shipyard.access`` logger, whose records carry their
fields in ``extra={"fields": {...}}``. A line logged while a request is handled carries its
``request_id`` and, when the request is traced, its ``trace_id`` and ``span_id``.
"""

from __future__ import annotations

import logging
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson
from opentelemetry import trace

ACCESS_LOGGER = "shipyard.access"

REQUEST_ID: ContextVar[str | None] = ContextVar("shipyard_request_id", default=None)
"""The id of the request being handled (set by the edge), added to every log line."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            entry["request_id"] = request_id
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            entry["trace_id"] = format(context.trace_id, "032x")
            entry["span_id"] = format(context.span_id, "016x")
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Send Shipyard's (and uvicorn's error) logs to stderr, as JSON lines by default."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log duplicates ours (which has request ids and models): silence it.
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic narrates every schema check at INFO; only its warnings matter to an operator.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
