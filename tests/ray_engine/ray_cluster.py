"""A real single-node Ray on loopback with Shipyard's application deployed, for tests/ray_engine.

Nothing about Ray is mocked: ``ray.init(address="local")`` starts a head in this process
(dashboard and usage reporting off), Ray Serve's HTTP proxy listens on a free loopback port,
and ``shipyard.ray.app.build`` deploys the same application ``shipyard serve --engine ray``
deploys.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression

from homes import open_home
from shipyard.rollout.service import apply_spec

# Ray on loopback only: without this Ray binds the machine's reachable address even when told
# 127.0.0.1 (read when ray is imported, so before any test module imports it).
LOOPBACK_ONLY = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}
os.environ.update(LOOPBACK_ONLY)

ROW = [0.5, -1.0, 0.25, 2.0]
FRAUD_SPEC = """\
deployment: fraud
variants:
  stable: {model: fraud@production, role: primary}
  candidate: {model: fraud/2, role: canary, weight: 10}
"""
REFS = ["lr@production", "fraud"]
REPLICAS = {"min_replicas": 2, "max_replicas": 2, "num_cpus": 0.25}
SETTINGS: dict[str, Any] = {
    "alias_poll_seconds": 0.2,
    "grpc_port": 0,
    "models": {"lr": REPLICAS, "fraud": REPLICAS},
}


def v2_body(row: Sequence[float] = ROW) -> dict[str, Any]:
    return {"inputs": [{"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": list(row)}]}


def build_home(home: Path) -> None:
    """``lr`` v1, v2 (compiled logistic regressions, ``production`` → 1); ``fraud`` v1 (a
    logistic regression) and v2 (always 1), the deployment ``fraud`` sending 10% to v2."""
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    svc = open_home(home)
    try:
        svc.registry.register("lr", LogisticRegression().fit(X, y), sample=X[:3])
        svc.registry.register("lr", LogisticRegression(C=0.05).fit(X, y), sample=X[:3])
        svc.store.set_alias("lr", "production", 1)
        svc.registry.register("fraud", LogisticRegression().fit(X, y), sample=X[:3], compile=False)
        constant = DummyClassifier(strategy="constant", constant=1).fit(X, y)
        svc.registry.register("fraud", constant, sample=X[:3], compile=False)
        svc.store.set_alias("fraud", "production", 1)
        apply_spec(svc.store, FRAUD_SPEC, actor="user:test", reason="ray tests")
    finally:
        svc.close()


def set_alias(home: Path, name: str, alias: str, version: int) -> None:
    svc = open_home(home)
    try:
        svc.store.set_alias(name, alias, version)
    finally:
        svc.close()


@dataclass
class Load:
    """Outcomes of requests sent by ``run_load``: status (or the transport error) per request."""

    statuses: list[int | str] = field(default_factory=list)
    versions: list[str | None] = field(default_factory=list)
    variants: list[str | None] = field(default_factory=list)
    labels: list[Any] = field(default_factory=list)

    @property
    def failed(self) -> list[int | str]:
        return [s for s in self.statuses if s != 200]


def run_load(
    url: str,
    path: str,
    headers: Mapping[str, str],
    *,
    total: int | None = None,
    until: Callable[[], bool] | None = None,
    concurrency: int = 16,
    request_id: Callable[[int], str] = lambda i: f"load-{i}",
) -> Load:
    """Send ``total`` requests (or until ``until()``) with ``concurrency`` in flight; a bounded
    loop against loopback only."""
    assert total is not None or until is not None
    limit = total if total is not None else 200_000
    load = Load()

    async def main() -> None:
        counter = iter(range(limit))
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url, headers=dict(headers), timeout=60, limits=limits) as client:

            async def worker() -> None:
                for i in counter:
                    if until is not None and until():
                        return
                    try:
                        response = await client.post(path, json=v2_body(), headers={"X-Request-Id": request_id(i)})
                    except httpx.TransportError as exc:
                        load.statuses.append(type(exc).__name__)
                        load.versions.append(None)
                        load.variants.append(None)
                        load.labels.append(None)
                        continue
                    load.statuses.append(response.status_code)
                    load.versions.append(response.headers.get("x-shipyard-model-version"))
                    load.variants.append(response.headers.get("x-shipyard-variant"))
                    ok = response.status_code == 200
                    load.labels.append(response.json()["outputs"][0]["data"][0] if ok else None)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(main())
    return load


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout}s: {what}")


def ray_env(home: Path) -> dict[str, str]:
    """The environment Ray's processes inherit: this home, nothing of the developer's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update({"SHIPYARD_HOME": str(home), "SHIPYARD_GRPC_PORT": "0", **LOOPBACK_ONLY})
    return env
