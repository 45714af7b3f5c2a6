"""A model that waits (on its own threads, on a remote service) never runs on the event loop,
however little CPU its calling thread uses: cheap calls run inline only when their wall time
is short too."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from serving_support import call, serving


def _record_threads(served: Any, *, wait_seconds: float = 0.0) -> list[int]:
    """Wrap the served model's predict to note the thread of each call (and wait, if asked)."""
    threads: list[int] = []
    predict = served.model.predict

    def noted(batch: Any) -> Any:
        threads.append(threading.get_ident())
        if wait_seconds:
            time.sleep(wait_seconds)  # waiting costs this thread no CPU
        return predict(batch)

    served.model.predict = noted
    return threads


def test_a_model_that_waits_never_runs_on_the_loop(
    serving_home: Path, classification_data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = classification_data

    async def run() -> list[int]:
        async with serving(serving_home, ["lr/1"]) as (dataplane, _):
            threads = _record_threads(dataplane.resolve("lr", 1), wait_seconds=0.003)
            for i in range(30):
                await dataplane.infer(call("lr", X[i : i + 1], request_id=f"r{i}", version=1))
            return threads

    loop_thread = threading.get_ident()
    threads = asyncio.run(run())
    assert len(threads) == 30
    assert loop_thread not in threads
