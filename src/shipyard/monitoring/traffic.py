"""Traffic figures of a window of the prediction log: requests, rows, errors and latency
percentiles, by version and variant, and per time bucket.

The log as read back (``predlog.query.read_window``) has one row per *prediction row*, the
request's fields repeated on each; traffic is counted per request (distinct ``request_id``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

PERCENTILES: dict[str, float] = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}


@dataclass(frozen=True)
class Traffic:
    """One group of requests (a version, a variant, or the whole window)."""

    version: int | None
    variant: str | None
    requests: int
    rows: int
    errors: int
    error_rate: float | None
    latency_ms: dict[str, float | None]
    """``mean``, ``p50``, ``p90``, ``p95``, ``p99`` of answered requests; None without any."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def requests_of(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per request (the first row of each ``request_id``)."""
    if frame.empty or "request_id" not in frame.columns:
        return frame
    return frame.drop_duplicates("request_id")


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def latency_summary(latencies: pd.Series) -> dict[str, float | None]:
    values = pd.to_numeric(latencies, errors="coerce").dropna().to_numpy(dtype=np.float64)
    if values.size == 0:
        return {"mean": None, **{name: None for name in PERCENTILES}}
    found: dict[str, float | None] = {"mean": float(values.mean())}
    for name, q in PERCENTILES.items():
        found[name] = float(np.percentile(values, q))
    return found


def traffic(requests: pd.DataFrame, version: int | None = None, variant: str | None = None) -> Traffic:
    """The traffic figures of ``requests`` (one row per request)."""
    n = len(requests)
    status = (
        pd.to_numeric(requests["status"], errors="coerce")
        if "status" in requests.columns
        else pd.Series([], dtype=float)
    )
    failed = status >= 400 if n else pd.Series([], dtype=bool)
    errors = int(failed.sum()) if n else 0
    answered = requests[~failed.to_numpy()] if n else requests
    rows = int(pd.to_numeric(answered["rows"], errors="coerce").fillna(0).sum()) if n and "rows" in answered else 0
    latency = answered["latency_ms"] if n and "latency_ms" in answered else pd.Series([], dtype=float)
    return Traffic(
        version=version,
        variant=variant,
        requests=n,
        rows=rows,
        errors=errors,
        error_rate=errors / n if n else None,
        latency_ms=latency_summary(latency),
    )


def _version(value: Any) -> int | None:
    number = _number(value)
    return None if number is None else int(number)


def _variant(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def traffic_groups(requests: pd.DataFrame) -> list[Traffic]:
    """Traffic per (version, variant) that answered, in version then variant order."""
    if requests.empty:
        return []
    # Plain lists: a DataFrame column of None and strings would turn None into NaN (pandas 3
    # infers a string dtype), and NaN does not sort against strings.
    versions = [_version(v) for v in requests.get("version", pd.Series([None] * len(requests)))]
    variants = [_variant(v) for v in requests.get("variant", pd.Series([None] * len(requests)))]
    pairs = list(zip(versions, variants, strict=True))
    groups: list[Traffic] = []
    for key in sorted(set(pairs), key=_group_order):
        mask = np.fromiter((pair == key for pair in pairs), dtype=bool, count=len(pairs))
        groups.append(traffic(requests[mask], key[0], key[1]))
    return groups


def _group_order(key: tuple[int | None, str | None]) -> tuple[int, int, str]:
    version, variant = key
    return (version is None, version or 0, variant or "")


def bucket_seconds(since: float, until: float) -> float:
    """The width of the over-time buckets: 5 minutes up to 2 hours, hourly up to 2 days,
    then daily, so a plot has between a few and a few hundred points."""
    span = max(until - since, 1.0)
    if span <= 2 * 3600:
        return 300.0
    if span <= 2 * 86400:
        return 3600.0
    return 86400.0


def bucket_starts(since: float, until: float, width: float) -> list[float]:
    """Bucket starts aligned to ``width`` (UTC), covering ``[since, until)``."""
    first = math.floor(since / width) * width
    starts: list[float] = []
    t = first
    while t < until:
        starts.append(t)
        t += width
    return starts or [first]


def bucket_index(times: pd.Series, first: float, width: float) -> np.ndarray[Any, Any]:
    values: np.ndarray[Any, Any] = pd.to_numeric(times, errors="coerce").to_numpy(dtype=np.float64)
    found: np.ndarray[Any, Any] = np.floor((values - first) / width).astype(np.int64)
    return found
