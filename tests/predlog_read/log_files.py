"""Writing prediction-log segment files the way the writer does (magic, then frames of
orjson records), for the read-path tests that need exact control over what is on disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from shipyard.monitoring.predlog.codec import MAGIC, encode_frame

T0 = 1_790_000_000.0
"""2026-09-21 (UTC): a fixed start, so day partitions are known."""


def record(
    i: int,
    *,
    target: str = "iris",
    model: str | None = None,
    version: int = 1,
    rows: int = 2,
    time: float | None = None,
    key: str | None = None,
    caller: str = "key:aaaaaaaaaaaa",
    status: int = 200,
    inputs: dict[str, list[Any]] | None = None,
) -> dict[str, Any]:
    """The record of request ``r<i>``: ``rows`` rows of inputs ``a`` (float) and ``b`` (str),
    outputs ``predict`` (int) and ``predict_proba`` (vectors)."""
    ok = status == 200
    return {
        "v": 1,
        "request_id": f"r{i:06d}",
        "key": key,
        "time": T0 + i if time is None else time,
        "target": target,
        "model": model or target,
        "version": version,
        "deployment": None,
        "variant": None,
        "revision": None,
        "protocol": "v2",
        "caller": caller,
        "status": status,
        "code": None if ok else "signature_mismatch",
        "latency_ms": 1.25,
        "rows": rows if ok else 0,
        "inputs": (inputs or {"a": [float(i) + r / 10 for r in range(rows)], "b": [f"s{i % 3}"] * rows})
        if ok
        else None,
        "outputs": {"predict": [i % 2] * rows, "predict_proba": [[0.25, 0.75]] * rows} if ok else None,
    }


def segments_dir(home: Path) -> Path:
    path = home / "predlog" / "segments"
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_segment(home: Path, name: str, records: list[dict[str, Any]], *, tail: bytes = b"") -> Path:
    """A segment file ``name`` (``w1-00000001.seg`` or ``.open``) holding ``records``, then
    ``tail`` (a torn frame, say)."""
    path = segments_dir(home) / name
    with path.open("wb") as handle:
        handle.write(MAGIC)
        for item in records:
            handle.write(encode_frame(orjson.dumps(item)))
        handle.write(tail)
    return path


def append(path: Path, records: list[dict[str, Any]]) -> None:
    with path.open("ab") as handle:
        for item in records:
            handle.write(encode_frame(orjson.dumps(item)))


TORN = encode_frame(orjson.dumps(record(999_999)))[:-7]
"""A frame cut short: what a crash mid-write leaves."""
