"""End to end through a real server: concurrent HTTP requests are merged into fewer model
calls (seen on /metrics), each answer is its own, bad requests fail alone with a 400, and
a full queue answers 503 with Retry-After."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import httpx
import numpy as np

from homes import open_home
from live_server import LiveServer
from shipyard.registry.refs import parse_ref

CONCURRENT = 240


def _metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample of ``name`` whose labels include ``labels``."""
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}\{{(.*)\}} (\S+)$", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            return float(match.group(2))
    raise AssertionError(f"no sample {name} {labels} in /metrics")


def _body(rows: np.ndarray, request_id: str) -> dict[str, object]:
    data = rows.ravel().tolist()
    return {
        "id": request_id,
        "inputs": [{"name": "input-0", "shape": list(rows.shape), "datatype": "FP64", "data": data}],
    }


def test_concurrent_http_requests_are_batched_and_answered_exactly(
    serving_home: Path, classification_data: tuple[np.ndarray, np.ndarray]
) -> None:
    X, _ = classification_data
    svc = open_home(serving_home)
    try:
        _, model = svc.registry.load(parse_ref("clf"))
    finally:
        svc.close()
    invalid = set(range(5, CONCURRENT, 37))

    async def send(client: httpx.AsyncClient, i: int) -> httpx.Response:
        rows = X[i : i + 1 + i % 3]
        body = _body(rows[:, :7] if i in invalid else rows, f"req-{i}")  # 7 columns where 20 are expected
        return await client.post("/v2/models/clf/infer", json=body)

    async def load(url: str, auth: dict[str, str]) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=CONCURRENT)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=limits, headers=auth) as client:
            return await asyncio.gather(*(send(client, i) for i in range(CONCURRENT)))

    with LiveServer(serving_home, ["clf"], settings={"access_log": "false"}) as server:
        responses = asyncio.run(load(server.url, server.auth_headers))
        metrics = httpx.get(server.url + "/metrics", timeout=10, headers=server.auth_headers).text

    for i, response in enumerate(responses):
        if i in invalid:
            assert response.status_code == 400, response.text
            assert response.json()["code"] == "signature_mismatch"
            continue
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["id"] == f"req-{i}"
        outputs = {o["name"]: np.asarray(o["data"]).reshape(o["shape"]) for o in body["outputs"]}
        expected = model.predict_array(X[i : i + 1 + i % 3])
        np.testing.assert_array_equal(outputs["predict"], expected["predict"])
        np.testing.assert_array_equal(outputs["predict_proba"], expected["predict_proba"])

    answered = CONCURRENT - len(invalid)
    calls = _metric(metrics, "shipyard_batch_requests_count", model="clf", version="1")
    merged = _metric(metrics, "shipyard_batch_requests_sum", model="clf", version="1")
    alone = _metric(metrics, "shipyard_batch_requests_bucket", model="clf", version="1", le="1.0")
    assert merged == answered
    assert calls < answered and alone < calls, "no batch of several requests formed"
    assert _metric(metrics, "shipyard_queue_wait_seconds_count", model="clf", version="1") == answered


def test_a_full_queue_answers_503_with_retry_after_at_once(serving_home: Path) -> None:
    """Default bound (512 waiting per version): while the Python-class model is held by a
    4-second call, a flood of requests fills the queue and the excess is refused at once."""
    flood, clients = 600, 20  # several clients: one httpx pool slows down with hundreds of connections

    async def send(client: httpx.AsyncClient, seconds: float) -> httpx.Response:
        body = {"inputs": [{"name": "input-0", "shape": [1, 2], "datatype": "FP64", "data": [seconds, 1.0]}]}
        return await client.post("/v2/models/slow/infer", json=body)

    async def load(url: str, auth: dict[str, str]) -> tuple[httpx.Response, list[httpx.Response]]:
        limits = httpx.Limits(max_connections=flood // clients + 1)
        pool = [httpx.AsyncClient(base_url=url, timeout=60, limits=limits, headers=auth) for _ in range(clients)]
        try:
            holder = asyncio.create_task(send(pool[0], 4.0))
            await asyncio.sleep(0.3)
            rest = await asyncio.gather(*(send(pool[i % clients], 0.0) for i in range(flood)))
            return await holder, rest
        finally:
            await asyncio.gather(*(client.aclose() for client in pool))

    with LiveServer(serving_home, ["slow"], settings={"access_log": "false"}) as server:
        holder, rest = asyncio.run(load(server.url, server.auth_headers))

    assert holder.status_code == 200
    refused = [r for r in rest if r.status_code == 503]
    assert {r.status_code for r in rest} == {200, 503}
    assert len(rest) - len(refused) >= 512
    assert all(r.json()["code"] == "overloaded" and int(r.headers["retry-after"]) >= 1 for r in refused)
