"""PII minimisation: what a field marked ``pii: drop | hash | keep`` becomes before it is
stored anywhere (prediction log, Parquet, feedback, review tickets, exports).

- ``drop``: the field is absent;
- ``hash``: each value is replaced by ``pseudonymise(value, key)``: ``"hmac:"`` and the hex
  HMAC-SHA256 of the value's canonical bytes under the server's PII key
  (``fs/pii_key.py``). The same value always gives the same pseudonym (joins and counts
  still work), nobody without the key can compute one, and a change of key breaks the link;
- ``keep`` (or no mark): stored as sent.

The canonical bytes carry the value's type, so ``42`` and ``"42"`` hash differently but the
same value hashes the same wherever it is seen (numpy scalars are their Python values; a
whole float is still a float: ``42.0`` is not ``42``). ``None`` stays ``None`` (a missing
value says nothing about anyone). Pure logic: no I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import numpy as np
import orjson

PiiMark = Literal["drop", "hash", "keep"]

PREFIX = "hmac:"
"""What every pseudonym starts with."""
KEY_BYTES = 32


def canonical(value: Any) -> bytes:
    """The bytes a value is hashed as: a type tag, a colon, then the value."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool):
        return b"b:true" if value else b"b:false"
    if isinstance(value, int):
        return b"i:" + str(value).encode("ascii")
    if isinstance(value, float):
        if math.isnan(value):
            return b"f:nan"
        return b"f:" + repr(value).encode("ascii")
    if isinstance(value, str):
        return b"s:" + value.encode("utf-8", "surrogatepass")
    if isinstance(value, bytes | bytearray | memoryview):
        return b"y:" + bytes(value)
    if isinstance(value, np.ndarray):
        value = value.tolist()
    return b"j:" + orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY)


def digest(value: Any, key: bytes) -> str:
    """The bare hex HMAC-SHA256 of ``value`` (as stored in ``erasures.subject_hash``)."""
    return hmac.new(key, canonical(value), hashlib.sha256).hexdigest()


def pseudonymise(value: Any, key: bytes) -> Any:
    """``"hmac:" + hex`` of ``value`` under ``key``; ``None`` stays ``None``; a value that is
    already a pseudonym is kept (minimising twice changes nothing)."""
    if value is None:
        return None
    if isinstance(value, str) and value.startswith(PREFIX) and len(value) == len(PREFIX) + 64:
        return value
    return PREFIX + digest(value, key)


def is_pseudonym(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX) and len(value) == len(PREFIX) + 64


def minimise_values(values: Any, key: bytes) -> list[Any]:
    """Each value of a column (a list, a tuple or an array, row by row) pseudonymised."""
    if isinstance(values, np.ndarray):
        values = values.tolist() if values.ndim == 1 else list(values)
    elif not isinstance(values, list | tuple):
        return [pseudonymise(values, key)]
    return [pseudonymise(v, key) for v in values]


def minimise_columns(columns: Mapping[str, Any], marks: Mapping[str, PiiMark], key: bytes | None) -> dict[str, Any]:
    """``columns`` (name → values in row order) with ``marks`` applied: ``drop`` removes the
    column, ``hash`` pseudonymises every value. A ``hash`` mark without a key drops the
    column (never store what should have been hashed)."""
    return _minimise(columns, marks, key, minimise_values)


def minimise_scalars(items: Mapping[str, Any], marks: Mapping[str, PiiMark], key: bytes | None) -> dict[str, Any]:
    """Named single values (feedback attributes) with ``marks`` applied."""
    return _minimise(items, marks, key, pseudonymise)


def _minimise(
    items: Mapping[str, Any], marks: Mapping[str, PiiMark], key: bytes | None, hash_one: Callable[[Any, bytes], Any]
) -> dict[str, Any]:
    if not marks:
        return dict(items)
    out: dict[str, Any] = {}
    for name, value in items.items():
        mark = marks.get(name, "keep")
        if mark == "keep":
            out[name] = value
        elif mark == "hash" and key is not None:
            out[name] = hash_one(value, key)
    return out


def marked(marks: Mapping[str, PiiMark]) -> frozenset[str]:
    """The names marked ``drop`` or ``hash`` (those whose values must never be echoed)."""
    return frozenset(name for name, mark in marks.items() if mark != "keep")


def subject_forms(value: Any) -> list[Any]:
    """The values an erasure by ``value`` matches: the value itself and, for text that reads
    as a number or a boolean, those too (``--value 42`` erases the integer 42 and the text
    "42"); the stored form depends on the field's type, the caller's text does not."""
    forms: list[Any] = [value]
    if isinstance(value, str):
        text = value.strip()
        try:
            number = int(text)
        except ValueError:
            pass
        else:
            forms += [number, float(number)]
        try:
            real = float(text)
        except ValueError:
            pass
        else:
            if math.isfinite(real) and real not in forms:
                forms.append(real)
        if text.lower() in ("true", "false"):
            forms.append(text.lower() == "true")
    seen: set[bytes] = set()
    unique: list[Any] = []
    for form in forms:
        c = canonical(form)
        if c not in seen:
            seen.add(c)
            unique.append(form)
    return unique


def subject_digests(values: Iterable[Any], key: bytes) -> set[str]:
    return {digest(v, key) for v in values}
