"""The access log's direct path writes the very line logging's JSON formatter would, and steps
aside whenever anything else might want to see the record."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import orjson
import pytest

from shipyard.logs import ACCESS_LOGGER, REQUEST_ID, JsonFormatter, access_line, configure_logging

FIELDS = {"request_id": "r-1", "method": "POST", "path": "/v2/models/m/infer", "status": 200, "duration_ms": 1.5}


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    """configure_logging's set-up, writing to a buffer instead of stderr."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("INFO")
    buffer = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def _lines(buffer: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in buffer.getvalue().splitlines()]


def test_the_direct_line_is_the_formatters_line(stream: io.StringIO) -> None:
    token = REQUEST_ID.set("r-1")
    try:
        access_line("POST /v2/models/m/infer 200", dict(FIELDS))
        logging.getLogger(ACCESS_LOGGER).info("%s", "POST /v2/models/m/infer 200", extra={"fields": dict(FIELDS)})
    finally:
        REQUEST_ID.reset(token)
    direct, through_logging = _lines(stream)
    assert direct.pop("ts") and through_logging.pop("ts")
    assert (
        direct
        == through_logging
        == {
            "level": "info",
            "logger": ACCESS_LOGGER,
            "msg": "POST /v2/models/m/infer 200",
            **FIELDS,
        }
    )


def test_a_handler_added_later_sees_every_line(stream: io.StringIO) -> None:
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    keep = Keep()
    logging.getLogger(ACCESS_LOGGER).addHandler(keep)
    try:
        access_line("GET / 200", {"status": 200})
    finally:
        logging.getLogger(ACCESS_LOGGER).removeHandler(keep)
    assert [r.getMessage() for r in seen] == ["GET / 200"]
    assert seen[0].fields  # type: ignore[attr-defined] == {"status": 200}
    assert _lines(stream)[0]["msg"] == "GET / 200"  # and the configured handler still has it


def test_a_filter_or_a_raised_level_is_obeyed(stream: io.StringIO) -> None:
    access = logging.getLogger(ACCESS_LOGGER)
    access.addFilter(lambda record: False)
    try:
        access_line("GET / 200", {"status": 200})
    finally:
        access.filters.clear()
    access.setLevel(logging.WARNING)
    try:
        access_line("GET / 200", {"status": 200})
    finally:
        access.setLevel(logging.NOTSET)
    assert stream.getvalue() == ""


def test_the_formatter_stamps_milliseconds_in_utc() -> None:
    record = logging.makeLogRecord({"name": "x", "msg": "m", "levelname": "INFO", "created": 1_700_000_000.25})
    record.msecs = 250.0
    assert orjson.loads(JsonFormatter().format(record))["ts"] == "2023-11-14T22:13:20.250Z"
