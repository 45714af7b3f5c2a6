"""One prediction-log record: the payload of one request, as JSON (orjson).

Built from the data plane's ``InferenceRecord`` (a success) or ``InferenceFailure``:

``{"v": 1, "request_id", "key", "time", "target", "model", "version", "deployment", "variant",
"revision", "protocol", "caller", "status", "code", "latency_ms", "rows", "inputs", "outputs",
"flags", "fallback", "ticket"}``

``inputs`` holds only the input fields the version's signature declares, column by column in
row order (data minimisation: nothing else the caller sent is kept), with the target's PII
marks applied (``Privacy``: a field marked ``drop`` is absent, ``hash`` holds pseudonyms;
``governance/pii.py``); a failure has no inputs and no outputs. ``flags`` are the guardrail
flags joined by commas, ``fallback`` and ``ticket`` as on the ``InferenceRecord``.
``target`` is the deployment's name when the call went through one, else the model's.
Building runs on the log's writer thread, never on the event loop.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from shipyard.governance.pii import PiiMark, minimise_columns
from shipyard.schema.batch import Batch, Outputs
from shipyard.schema.signature import Signature
from shipyard.serving.events import InferenceFailure, InferenceRecord

VERSION = 1
FIELDS: tuple[str, ...] = (
    "v",
    "request_id",
    "key",
    "time",
    "target",
    "model",
    "version",
    "deployment",
    "variant",
    "revision",
    "protocol",
    "caller",
    "status",
    "code",
    "latency_ms",
    "rows",
    "inputs",
    "outputs",
    "flags",
    "fallback",
    "ticket",
)
_OPTIONS = orjson.OPT_SERIALIZE_NUMPY


MarksOf = Callable[[str, str | None], Mapping[str, PiiMark]]
"""The PII marks of a prediction of ``model`` through ``deployment`` (``ControlsCache.pii_marks``)."""


@dataclass(frozen=True)
class Privacy:
    """What the log applies to inputs (and outputs) before encoding: the marks, the HMAC key."""

    marks: MarksOf
    key: bytes | None

    def minimise(self, item: InferenceRecord, columns: dict[str, Any]) -> dict[str, Any]:
        marks = self.marks(item.model, item.deployment)
        return minimise_columns(columns, marks, self.key) if marks else columns


def _default(value: Any) -> Any:
    """What orjson cannot write natively: non-contiguous or object arrays, numpy scalars, bytes."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot log a value of type {type(value).__name__}")


def inputs_of(batch: Batch) -> dict[str, Any]:
    """The signature's declared inputs of ``batch``, name to values in row order."""
    signature = batch.signature
    if signature.kind == "tensors":
        return {f.name: batch.tensors[f.name] for f in signature.inputs if f.name in batch.tensors}
    names, _width = _shape_of(signature)
    small = batch.n_rows <= _SMALL_ROWS
    # Small requests (the common case) are cheapest as Python lists; large ones as contiguous
    # arrays, which orjson writes natively (a strided column view would go through tolist()).
    matrix = batch._matrix
    if matrix is not None:
        if small or matrix.dtype.kind not in "fiub":
            return dict(zip(names, matrix.T.tolist(), strict=True))
        return dict(zip(names, np.ascontiguousarray(matrix.T), strict=True))
    columns = batch._columns
    if columns is not None and small:
        return {name: columns[name].tolist() for name in names}
    return {name: batch.column(name) for name in names}


def outputs_of(outputs: Outputs) -> dict[str, Any]:
    return dict(outputs)


def record_payload(item: InferenceRecord | InferenceFailure, privacy: Privacy | None = None) -> dict[str, Any]:
    """The record of one request as a dict (values may still be numpy arrays), PII marks
    applied when ``privacy`` is given."""
    payload: dict[str, Any] = {
        "v": VERSION,
        "request_id": item.request_id,
        "key": item.key,
        "time": item.started_at,
        "target": item.deployment or item.model,
        "model": item.model,
        "version": item.version,
        "deployment": item.deployment,
        "variant": item.variant,
        "revision": item.revision,
        "protocol": item.protocol,
        "caller": item.caller,
    }
    if isinstance(item, InferenceRecord):
        inputs = inputs_of(item.batch)
        outputs = outputs_of(item.outputs)
        if privacy is not None:
            inputs = privacy.minimise(item, inputs)
            outputs = privacy.minimise(item, outputs)
        payload.update(
            status=200,
            code=None,
            latency_ms=item.duration_seconds * 1000.0,
            rows=item.rows,
            inputs=inputs,
            outputs=outputs,
            flags=",".join(item.flags) or None,
            fallback=item.fallback,
            ticket=item.ticket,
        )
    else:
        payload.update(
            status=item.status,
            code=item.code,
            latency_ms=item.duration_seconds * 1000.0,
            rows=0,
            inputs=None,
            outputs=None,
            flags=None,
            fallback=None,
            ticket=None,
        )
    return payload


def encode_record(
    item: InferenceRecord | InferenceFailure, cpu_ms: float | None = None, privacy: Privacy | None = None
) -> bytes:
    """The frame payload of one request: orjson of ``record_payload``, with the worker CPU
    charged to it (``cpu_ms``, see ``PredictionLog``) when known."""
    payload = record_payload(item, privacy)
    if cpu_ms is not None:
        payload["cpu_ms"] = cpu_ms
    return orjson.dumps(payload, option=_OPTIONS, default=_default)


def encode_payload(payload: dict[str, Any]) -> bytes:
    """orjson of an already built record dict (numpy values allowed)."""
    return orjson.dumps(payload, option=_OPTIONS, default=_default)


def decode_record(payload: bytes) -> dict[str, Any]:
    """A frame payload back as the record dict (plain JSON values)."""
    record: dict[str, Any] = orjson.loads(payload)
    return record


def approx_bytes(item: InferenceRecord | InferenceFailure) -> int:
    """What a queued record holds in memory, roughly: rows times the signature's row width, plus
    its outputs and a fixed overhead. O(outputs), no copy: cheap enough for the event loop."""
    if isinstance(item, InferenceFailure):
        return _OVERHEAD
    batch = item.batch
    size = _OVERHEAD + sum(a.nbytes for a in item.outputs.values())
    if batch.tensors:
        return size + sum(a.nbytes for a in batch.tensors.values())
    return size + batch.n_rows * _row_width(batch.signature)


_OVERHEAD = 512
_SMALL_ROWS = 16
_SHAPES: dict[int, tuple[Signature, tuple[str, ...], int]] = {}
_WIDE_VALUES = frozenset({"string", "bytes"})


def _row_width(signature: Signature) -> int:
    return _shape_of(signature)[1]


def _shape_of(signature: Signature) -> tuple[tuple[str, ...], int]:
    """A signature's input names and the bytes one row holds (8 per number, a rough 64 per
    string or bytes value), cached per signature object."""
    cached = _SHAPES.get(id(signature))
    if cached is not None and cached[0] is signature:
        return cached[1], cached[2]
    names = signature.input_names
    width = sum(64 if f.dtype in _WIDE_VALUES else 8 for f in signature.inputs)
    if len(_SHAPES) > 1024:
        _SHAPES.clear()
    _SHAPES[id(signature)] = (signature, names, width)
    return names, width
