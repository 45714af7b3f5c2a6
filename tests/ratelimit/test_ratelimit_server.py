"""Rate limits through a real server: 429 with Retry-After, shared by workers through Redis."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
import redis
from sklearn.linear_model import LogisticRegression

from homes import open_home
from live_server import LiveServer, create_key

REDIS_HOST = "redis://127.0.0.1:6379"


def register_lr(home: Path) -> dict[str, object]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 4))
    y = (X[:, 0] > 0).astype(np.int64)
    svc = open_home(home)
    try:
        svc.registry.register("lr", LogisticRegression().fit(X, y), sample=X[:5])
    finally:
        svc.close()
    return {"inputs": [{"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": X[0].tolist()}]}


def test_server_answers_429_with_retry_after(tmp_path: Path) -> None:
    home = tmp_path / "home"
    body = register_lr(home)
    settings = {"open_inference": "lr", "rate_limits": "anonymous=3/m"}
    with LiveServer(home, ["lr"], settings=settings) as server, httpx.Client(base_url=server.url) as http:
        statuses = [http.post("/v2/models/lr/infer", json=body).status_code for _ in range(3)]
        assert statuses == [200, 200, 200], server.log()
        refused = http.post("/v2/models/lr/infer", json=body)
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert "anonymous: 3 per minute" in refused.json()["error"]
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 120
        # Health is never limited.
        assert http.get("/v2/health/live").status_code == 200
        assert http.get("/v2/health/ready").status_code == 200
        # The admin key has no quota: it is not counted against the anonymous one.
        with server.client() as admin:
            assert [admin.post("/v2/models/lr/infer", json=body).status_code for _ in range(10)] == [200] * 10


def key_with_roles(home: Path, *roles: str) -> str:
    from shipyard.bootstrap import open_services
    from shipyard.config import Settings
    from shipyard.governance.keys import make_grants

    services = open_services(Settings.load(env={"SHIPYARD_HOME": str(home)}))
    try:
        _, token = services.keys.create("+".join(roles), make_grants(roles), created_by="user:test")
    finally:
        services.close()
    return token


def key_id(token: str) -> str:
    return token.split("_")[1]


def test_per_key_quota_beats_the_role_quota_through_the_server(tmp_path: Path) -> None:
    home = tmp_path / "home"
    body = register_lr(home)
    special = create_key(home, "predictor")
    plain = create_key(home, "predictor")
    both = key_with_roles(home, "predictor", "publisher")
    settings = {"rate_limits": f"predictor=2/m,publisher=4/m,key:{key_id(special)}=5/m"}
    with LiveServer(home, ["lr"], settings=settings) as server, httpx.Client(base_url=server.url) as http:

        def statuses(token: str, n: int) -> list[int]:
            headers = {"Authorization": f"Bearer {token}"}
            return [http.post("/v2/models/lr/infer", json=body, headers=headers).status_code for _ in range(n)]

        assert statuses(special, 7) == [200] * 5 + [429] * 2
        assert statuses(plain, 4) == [200] * 2 + [429] * 2
        # Several roles with quotas: the most generous applies (publisher's 4 over predictor's 2).
        assert statuses(both, 6) == [200] * 4 + [429] * 2
        # Anonymous callers are refused before any quota (no open inference here): 401, not 429.
        assert http.post("/v2/models/lr/infer", json=body).status_code == 401
        last = http.post("/v2/models/lr/infer", json=body, headers={"Authorization": f"Bearer {plain}"})
        assert last.status_code == 429
        assert "predictor: 2 per minute" in last.json()["error"]
        assert int(last.headers["retry-after"]) >= 1


def _redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_HOST, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="needs the Redis server on 127.0.0.1:6379")
def test_two_workers_share_the_quota_through_redis(tmp_path: Path) -> None:
    home = tmp_path / "home"
    body = register_lr(home)
    # A database of its own (most likely): the anonymous counter's key is the same for every server.
    url = f"{REDIS_HOST}/{random.randint(1, 15)}"
    client = redis.Redis.from_url(url)
    for stale in client.scan_iter(match="shipyard:rl:*"):
        client.delete(stale)
    settings = {"open_inference": "lr", "rate_limits": "anonymous=6/m", "redis_url": url, "workers": "2"}
    try:
        with LiveServer(home, ["lr"], settings=settings) as server:

            def call(_: int) -> tuple[int, str | None]:
                with httpx.Client(timeout=10) as http:  # a new connection each: spread over both workers
                    response = http.post(server.url + "/v2/models/lr/infer", json=body)
                    return response.status_code, response.headers.get("retry-after")

            with ThreadPoolExecutor(4) as pool:
                results = list(pool.map(call, range(30)))
            statuses = [status for status, _ in results]
            # Per worker the quota would admit 6 each (12); shared, 6 in all.
            assert statuses.count(200) == 6, (statuses, server.log())
            assert statuses.count(429) == 24
            assert all(after is not None and int(after) >= 1 for status, after in results if status == 429)
            assert "Redis unavailable" not in server.log()
            # The count is in Redis, not in either worker.
            counted = sum(int(client.get(k) or 0) for k in client.scan_iter(match="shipyard:rl:*"))
            assert counted == 6
    finally:
        for key in client.scan_iter(match="shipyard:rl:*"):
            client.delete(key)
        client.close()
