"""Logging set-up for processes Shipyard owns (the server, the CLI). Never at import time.

Server logs are JSON lines, one object per record, built with orjson (never by string
formatting); the access log is the ``shipyard.access`` logger, whose records carry their
fields in ``extra={"fields": {...}}``. A line logged while a request is handled carries its
``request_id`` and, when the request is traced, its ``trace_id`` and ``span_id``.

``access_line`` writes the access log. When nothing but the handler ``configure_logging``
installed would see the line (no other handler or filter on the way, the level enabled),
it formats the same JSON object and writes it to that handler's stream itself: a
``LogRecord``, the caller lookup and the handler chain cost a small request more than the
rest of its logging (about 20 µs of ~200). Otherwise the line goes through ``logging``
like any record, so a handler added later (a test's, an operator's) sees every line.
"""

from __future__ import annotations

import contextlib
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


class _Clock:
    """``2026-11-30T16:08:55.257Z`` for a time: the date and time part is made once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def stamp(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._prefix}.{int((created - second) * 1000):03d}Z"


def _entry(clock: _Clock, created: float, level: str, name: str, message: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"ts": clock.stamp(created), "level": level, "logger": name, "msg": message}
    request_id = REQUEST_ID.get()
    if request_id is not None:
        entry["request_id"] = request_id
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        entry["trace_id"] = format(context.trace_id, "032x")
        entry["span_id"] = format(context.span_id, "016x")
    return entry


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock()

    def format(self, record: logging.LogRecord) -> str:
        entry = _entry(self._clock, record.created, record.levelname.lower(), record.name, record.getMessage())
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class _AccessLog:
    """Writes access-log lines, straight to the JSON handler's stream when only it would see them."""

    def __init__(self) -> None:
        self.handler: logging.StreamHandler[Any] | None = None
        self._logger = logging.getLogger(ACCESS_LOGGER)
        self._root = logging.getLogger()
        self._chain = (self._logger, logging.getLogger("shipyard"))
        self._clock = _Clock()

    def _direct(self) -> logging.StreamHandler[Any] | None:
        """The handler to write to directly, or None when the line must go through logging."""
        handler = self.handler
        root = self._root
        if handler is None or root.handlers != [handler] or root.filters or handler.filters:
            return None
        for logger in self._chain:
            if logger.handlers or logger.filters or not logger.propagate or logger.disabled:
                return None
        if not self._logger.isEnabledFor(logging.INFO) or handler.level > logging.INFO:
            return None
        return handler

    def write(self, message: str, fields: dict[str, Any]) -> None:
        handler = self._direct()
        if handler is None:
            self._logger.info("%s", message, extra={"fields": fields})
            return
        entry = _entry(self._clock, time.time(), "info", ACCESS_LOGGER, message)
        entry.update(fields)
        line = orjson.dumps(entry, default=str).decode() + handler.terminator
        with handler.lock or contextlib.nullcontext():
            try:
                handler.stream.write(line)
                handler.flush()
            except Exception:  # as logging does: a broken stderr must not fail the request
                handler.handleError(logging.makeLogRecord({"msg": message, "name": ACCESS_LOGGER}))


_access = _AccessLog()


def access_line(message: str, fields: dict[str, Any]) -> None:
    """Log one access-log line: ``message`` and its ``fields`` (see the module's docstring)."""
    _access.write(message, fields)


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Send Shipyard's (and uvicorn's error) logs to stderr, as JSON lines by default."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    _access.handler = handler if json else None
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
