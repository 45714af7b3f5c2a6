"""Bounds on what a request body may decode into, checked before the expensive parse.

A body's size is capped at the edge, but what it decodes into is not the same size: orjson
turns ``[0,0,0,…]`` into one Python object per two bytes, and numpy then walks them all.
The row cap applies after decoding, too late to bound that work. So the decoders first run
a cheap pre-scan (a byte count, at memchr speed) and refuse a body holding more values than
the route could ever accept (``TooManyRows``, 413) before orjson or the CSV reader touch it:

- a JSON body may hold at most ``max_rows`` times the values one row of the signature takes,
  plus a little for names and parameters (``value_budget``); values are counted by their
  separating commas (``check_json_values``), and only when that count is over the budget
  are commas inside strings discounted (a second linear pass);
- a CSV body may hold at most ``max_rows`` data lines and that many rows of values
  (``check_csv``), newlines inside quoted cells discounted the same way.

Small bodies skip the scan: a body of ``n`` bytes holds at most ``n // 2 + 1`` JSON values,
so when that is within budget there is nothing to count. Shapes are bounded too: at most
``MAX_DIMS`` dimensions (numpy's own limit, 64, turned into a crash beyond it) and at most
``MAX_ELEMENTS`` elements, checked on the declared shape before anything is allocated.
Ids and names a caller sends are refused when they carry control characters (CR, LF, ANSI
escapes), so none can reach a log line or header raw.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from shipyard.errors import MalformedRequest, TooManyRows
from shipyard.schema.signature import Signature

MAX_DIMS = 32
"""Dimensions of one tensor (V2 shapes, nested JSON data)."""
MAX_ELEMENTS = 1 << 40
"""Elements of one declared shape, counting only its non-zero dimensions."""
MAX_ID_CHARS = 256
"""Characters of a caller-chosen id (V2 ``id``) or name (input, output)."""
_SLACK_VALUES = 1024
"""Commas a JSON body may spend on things that are not values: names, shapes, parameters."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_QUOTE, _BACKSLASH, _COMMA, _NEWLINE = 34, 92, 44, 10
_CHUNK = 1 << 20


def row_width(signature: Signature | None) -> int | None:
    """Values one row takes across the signature's inputs; None when it cannot be known
    (no signature, or a dimension past the batch axis that varies)."""
    if signature is None:
        return None
    if signature.kind == "columns":
        return len(signature.inputs)
    width = 0
    for spec in signature.inputs:
        # The first dimension is the batch; a column is shape (-1,): one value per row.
        inner = spec.shape[1:]
        if any(d < 0 for d in inner):
            return None
        width += math.prod(inner)
    return max(width, 1)


def value_budget(signature: Signature | None, max_rows: int) -> int | None:
    """The most values a request to ``signature`` may carry (None: unbounded by signature)."""
    width = row_width(signature)
    if width is None:
        return None
    # One more separator per row: between rows (``],[`` or ``},{``) as well as within them.
    return max_rows * (width + 1) + _SLACK_VALUES + 4 * len(signature.inputs if signature else ())


def check_json_values(body: bytes | memoryview, signature: Signature | None, *, max_rows: int | None) -> None:
    """``TooManyRows`` when the JSON ``body`` holds more values than a request to
    ``signature`` may (``value_budget``), counted without parsing it.

    One comparison for the common small body: ``n`` bytes hold at most ``n // 2 + 1``
    values, and every signature allows at least ``max_rows`` plus the slack.
    """
    if max_rows is None or len(body) // 2 + 1 <= max_rows + _SLACK_VALUES:
        return
    budget = value_budget(signature, max_rows)
    if budget is None or len(body) // 2 + 1 <= budget:
        return
    data = body if isinstance(body, bytes) else bytes(body)
    commas = data.count(b",")
    if commas <= budget:
        return
    if b'"' in data:
        # Commas inside strings are not separators: count again, outside strings only.
        inside = _commas_in_few_strings(data)
        if inside is not None:
            commas -= inside
        else:
            # Escaped backslashes go first, so a quote after a backslash is an escaped quote.
            unescaped = data.replace(b"\\\\", b"") if b"\\" in data else data
            (commas,) = _outside_quotes(unescaped, (_COMMA,), backslash=True)
        if commas <= budget:
            return
    raise TooManyRows(
        f"the request holds about {commas + 1} values; with at most {max_rows} rows this model takes at most {budget}",
        hint="send fewer rows per request",
    )


def check_declared_elements(tensors: Any, signature: Signature | None, *, max_rows: int | None) -> None:
    """``TooManyRows`` when the shapes binary tensors declare hold more elements in all than
    a request to ``signature`` may, before any of their data is read (BYTES elements are
    read one by one, so a tiny-element tensor could otherwise mean millions of steps)."""
    budget = value_budget(signature, max_rows) if max_rows is not None else None
    if budget is None or not isinstance(tensors, list):
        return
    total = 0
    for tensor in tensors:
        shape = tensor.get("shape") if type(tensor) is dict else None
        if type(shape) is not list:
            continue
        if len(shape) == 1:
            # The per-column form: a plain loop over the rest would cost more than the data.
            if type(shape[0]) is int and shape[0] >= 0:
                total += shape[0]
        elif all(type(d) is int and d >= 0 for d in shape):
            total += math.prod(shape)
    if total > budget:
        raise TooManyRows(
            f"the request declares {total} values; with at most {max_rows} rows this model takes at most {budget}",
            hint="send fewer rows per request",
        )


def check_csv(body: bytes, signature: Signature | None, *, max_rows: int | None) -> None:
    """``TooManyRows`` when the CSV ``body`` holds more than ``max_rows`` data lines, or more
    cells than a request to ``signature`` may, counted without parsing it."""
    if max_rows is None or len(body) // 2 + 1 <= max_rows + _SLACK_VALUES:
        return
    budget = value_budget(signature, max_rows)
    lines = body.count(b"\n") + (0 if body.endswith(b"\n") else 1)
    cells = body.count(b",") + lines
    if lines - 1 <= max_rows and (budget is None or cells <= budget):
        return
    if b'"' in body:
        # Newlines and commas inside quoted cells do not separate anything ("" is a quote).
        newlines, commas = _outside_quotes(body, (_NEWLINE, _COMMA), backslash=False)
        lines = newlines + (0 if body.endswith(b"\n") else 1)
        cells = commas + lines
        if lines - 1 <= max_rows and (budget is None or cells <= budget):
            return
    if lines - 1 > max_rows:
        raise TooManyRows(
            f"the CSV body holds about {lines - 1} rows; at most {max_rows} are allowed",
            hint="send fewer rows per request",
        )
    raise TooManyRows(
        f"the CSV body holds about {cells} values; with at most {max_rows} rows this model takes at most {budget}",
        hint="send fewer rows per request",
    )


def check_shape(value: Any, where: str) -> tuple[int, ...]:
    """A declared tensor shape: a list of at most ``MAX_DIMS`` non-negative integers whose
    non-zero dimensions multiply to at most ``MAX_ELEMENTS``; MalformedRequest otherwise."""
    if not isinstance(value, list):
        raise MalformedRequest(f"{where}: 'shape' must be an array of integers")
    if len(value) > MAX_DIMS:
        raise MalformedRequest(f"{where}: shape has {len(value)} dimensions, at most {MAX_DIMS} are allowed")
    product = 1
    for d in value:
        if type(d) is not int:
            raise MalformedRequest(f"{where}: 'shape' must be an array of integers")
        if d < 0:
            raise MalformedRequest(f"{where}: shape {_shown(value)} has a negative dimension")
        if d:
            product *= d
            # A zero dimension makes any shape "fit" empty data, but numpy still refuses to
            # build an array whose other dimensions multiply past its limits.
            if product > MAX_ELEMENTS:
                raise MalformedRequest(f"{where}: shape {_shown(value)} is too large")
    return tuple(value)


def check_dims(ndim: int, where: str) -> None:
    """MalformedRequest when nested data has more than ``MAX_DIMS`` levels."""
    if ndim > MAX_DIMS:
        raise MalformedRequest(f"{where} is nested {ndim} levels deep; at most {MAX_DIMS} are allowed")


def check_text(value: str, what: str) -> str:
    """``value`` if it is a printable id or name of at most ``MAX_ID_CHARS`` characters."""
    if len(value) > MAX_ID_CHARS:
        raise MalformedRequest(f"{what} is {len(value)} characters long; at most {MAX_ID_CHARS} are allowed")
    if _CONTROL.search(value):
        raise MalformedRequest(f"{what} contains control characters (such as CR, LF or an escape)")
    return value


def _commas_in_few_strings(data: bytes, *, max_strings: int = 10_000) -> int | None:
    """The commas inside JSON strings, found string by string; None when there are more
    than ``max_strings`` strings (or a long run of backslashes) and a bulk pass is cheaper.

    A hostile array of numbers holds only a handful of strings (field names), so this
    answers in microseconds for exactly the bodies the pre-scan exists to refuse.
    """
    inside = 0
    position = 0
    for _ in range(max_strings):
        start = data.find(b'"', position)
        if start < 0:
            return inside
        end = start
        while True:
            end = data.find(b'"', end + 1)
            if end < 0:
                # Unterminated: the parser will refuse it; count the rest as inside.
                return inside + data.count(b",", start)
            run = 0
            while data[end - 1 - run] == _BACKSLASH and end - 1 - run > start:
                run += 1
                if run > 64:
                    return None
            if run % 2 == 0:
                break
        inside += data.count(b",", start, end)
        position = end + 1
    return None


def _outside_quotes(data: bytes, targets: tuple[int, ...], *, backslash: bool) -> tuple[int, ...]:
    """How many of each byte in ``targets`` ``data`` holds outside double-quoted strings;
    with ``backslash``, a quote after a backslash does not open or close one (JSON).

    numpy, a megabyte at a time with the in-string parity carried over: the temporaries
    stay small, and numpy releases the GIL inside each step, so a thread running this
    does not hold up the event loop.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    counts = [0] * len(targets)
    inside = 0
    for start in range(0, len(buf), _CHUNK):
        chunk = buf[start : start + _CHUNK]
        quotes = chunk == _QUOTE
        if backslash:
            quotes[1:] &= chunk[:-1] != _BACKSLASH
            if start and buf[start - 1] == _BACKSLASH:
                quotes[0] = False
        # After each byte: 1 inside a string, 0 outside (uint8 wraps, parity survives).
        parity = (np.cumsum(quotes, dtype=np.uint8) + np.uint8(inside)) & 1
        outside = parity == 0
        for index, target in enumerate(targets):
            counts[index] += int(np.count_nonzero((chunk == target) & outside))
        inside = int(parity[-1])
    return tuple(counts)


def _shown(shape: Sequence[Any]) -> str:
    text = repr(list(shape[:8]))
    return text if len(shape) <= 8 else text[:-1] + ", ...]"
