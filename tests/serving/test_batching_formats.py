"""Merged calls answer exactly what lone calls answer, for every built-in format, under
hundreds of concurrent requests on one event loop; bad requests fail alone, before batching."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from serving_support import assert_unbatched, call, plans_frame, serving

from shipyard.errors import ShipyardError, SignatureMismatch, TooManyRows
from shipyard.serving.dataplane import InferenceResult

CONCURRENT = 300
FORMATS = ["clf", "reg", "pipe", "onnx", "xgb", "lgbm"]


def _rows(model: str, X: np.ndarray, i: int) -> np.ndarray | pd.DataFrame:
    """Request ``i``: 1 to 4 rows starting at a row of its own."""
    n = 1 + i % 4
    if model == "pipe":
        return plans_frame(n, seed=i)[0]
    rows = X[(i * 7) % 500 : (i * 7) % 500 + n]
    return rows.astype(np.float32) if model == "onnx" else rows


@pytest.mark.parametrize("model", FORMATS)
def test_concurrent_requests_are_merged_and_split_exactly(
    model: str, serving_home: Path, classification_data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = classification_data

    async def run() -> None:
        async with serving(serving_home, [model]) as (dataplane, recorder):
            calls = [call(model, _rows(model, X, i), request_id=f"r{i}") for i in range(CONCURRENT)]
            results = await asyncio.gather(*(dataplane.infer(c) for c in calls))
            for i, result in enumerate(results):
                assert result.batch.n_rows == 1 + i % 4
                assert_unbatched(result)
            # One record per request, with its own id and rows; the batches cover them all.
            by_id = {r.request_id: r for r in recorder.records}
            assert sorted(by_id) == sorted(c.request_id for c in calls)
            assert all(by_id[f"r{i}"].rows == 1 + i % 4 for i in range(CONCURRENT))
            assert sum(b.requests for b in recorder.batches) == CONCURRENT
            assert sum(b.rows for b in recorder.batches) == sum(r.batch.n_rows for r in results)
            assert max(b.requests for b in recorder.batches) > 1, "no batch was formed"
            assert all(b.rows <= 256 or b.requests == 1 for b in recorder.batches)
            assert not recorder.failures

    asyncio.run(run())


def test_invalid_requests_fail_alone_with_their_own_error(serving_home: Path) -> None:
    """Validation comes before the queue: wrong columns, wrong types and too many rows fail
    with their own 4xx while the valid requests around them get exactly their rows."""
    frame, _ = plans_frame(40, seed=3)
    bad: dict[int, tuple[pd.DataFrame, type[ShipyardError]]] = {
        3: (frame.head(2).rename(columns={"plan": "tier"}), SignatureMismatch),
        7: (frame.head(2).assign(age=["old", "young"]), SignatureMismatch),
        11: (plans_frame(50, seed=1)[0], TooManyRows),
    }

    async def run() -> None:
        async with serving(serving_home, ["pipe"], max_rows=20) as (dataplane, recorder):
            calls = [
                call("pipe", bad[i][0] if i in bad else frame.iloc[i : i + 1 + i % 3], request_id=f"r{i}")
                for i in range(30)
            ]
            results = await asyncio.gather(*(dataplane.infer(c) for c in calls), return_exceptions=True)
            for i, result in enumerate(results):
                if i in bad:
                    assert isinstance(result, bad[i][1]), (i, result)
                    assert 400 <= result.http_status < 500
                else:
                    assert isinstance(result, InferenceResult), (i, result)
                    assert result.batch.n_rows == 1 + i % 3
                    assert_unbatched(result)
            assert {f.request_id for f in recorder.failures} == {f"r{i}" for i in bad}
            assert sum(b.requests for b in recorder.batches) == 30 - len(bad)
            assert not any(b.failed for b in recorder.batches)

    asyncio.run(run())
