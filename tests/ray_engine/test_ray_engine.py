"""The Ray engine on a real local Ray cluster: 2 replicas per model, nothing about Ray mocked.

One cluster for the module (started once, shut down at the end): ``lr@production`` (compiled)
and the deployment ``fraud`` (10% canary), each model on 2 replicas. Requests go through Ray
Serve's HTTP proxy on loopback, with a real HTTP client.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from ray_cluster import REFS, SETTINGS, build_home, ray_env, run_load, set_alias, v2_body, wait_for

from live_server import LiveServer, create_key, free_port

ray = pytest.importorskip("ray")
serve = pytest.importorskip("ray.serve")

from shipyard.ray.app import build  # noqa: E402 - after the skip
from shipyard.ray.options import APP_NAME, deployment_name  # noqa: E402
from shipyard.ray.status import app_status  # noqa: E402

# Every test here shares one cluster: under xdist they run in one worker (make unit: --dist loadgroup).
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]


@dataclass
class RayApp:
    home: Path
    url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=self.headers, timeout=60)


@pytest.fixture(scope="module")
def ray_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RayApp]:
    home = tmp_path_factory.mktemp("ray") / "home"
    build_home(home)
    token = create_key(home)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(ray_env(home))
    port = free_port()
    started = time.monotonic()
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build({"refs": REFS, "settings": {**SETTINGS, "home": str(home)}}), name=APP_NAME, route_prefix="/")
        print(f"\nRay cluster and application up in {time.monotonic() - started:.1f}s")
        yield RayApp(home=home, url=f"http://127.0.0.1:{port}", token=token)
    finally:
        serve.shutdown()
        ray.shutdown()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def local_server(ray_app: RayApp) -> Iterator[LiveServer]:
    """``shipyard serve`` (the local engine) on the same home and references."""
    server = LiveServer(ray_app.home, REFS, settings={"alias_poll_seconds": "0.2"})
    server.api_key = ray_app.token
    with server:
        yield server


def _replica_pids(model: str) -> set[int]:
    found = app_status()
    assert found is not None
    deployment = next(d for d in found.deployments if d.deployment == deployment_name(model))
    return {r.pid for r in deployment.replicas if r.state == "RUNNING" and r.pid is not None}


# -- the three protocols ------------------------------------------------------------------------

PROTOCOL_CALLS: list[tuple[str, str, str, Any]] = [
    ("v2-infer", "POST", "/v2/models/lr/infer", v2_body()),
    ("v2-infer-version", "POST", "/v2/models/lr/versions/1/infer", v2_body()),
    ("v2-metadata", "GET", "/v2/models/lr", None),
    ("v2-bad-shape", "POST", "/v2/models/lr/infer", v2_body([1.0, 2.0])),
    ("v1-predict", "POST", "/v1/models/lr:predict", {"instances": [[0.5, -1.0, 0.25, 2.0], [1.0, 1.0, 1.0, 1.0]]}),
    (
        "mlflow-invocations",
        "POST",
        "/invocations",
        {"dataframe_split": {"columns": ["x0", "x1", "x2", "x3"], "data": [[0.5, -1.0, 0.25, 2.0]]}},
    ),
    ("v2-deployment", "POST", "/v2/models/fraud/infer", v2_body()),
    ("unknown-model", "POST", "/v2/models/nope/infer", v2_body()),
]


@pytest.mark.parametrize(
    ("method", "path", "body"), [c[1:] for c in PROTOCOL_CALLS], ids=[c[0] for c in PROTOCOL_CALLS]
)
def test_protocols_answer_as_local_serving_does(
    ray_app: RayApp, local_server: LiveServer, method: str, path: str, body: Any
) -> None:
    answers = []
    for base in (ray_app.url, local_server.url):
        with httpx.Client(base_url=base, headers=ray_app.headers, timeout=60) as client:
            response = client.request(method, path, json=body, headers={"X-Request-Id": "same-id-1"})
        answers.append(
            (
                response.status_code,
                response.headers.get("content-type"),
                response.headers.get("x-shipyard-model-version"),
                response.headers.get("x-shipyard-variant"),
                response.content,
            )
        )
    on_ray, local = answers
    assert on_ray == local
    refused = path.endswith("/nope/infer") or body == v2_body([1.0, 2.0])
    assert (on_ray[0] >= 400) is refused, on_ray


def test_edge_checks_hold_on_ray(ray_app: RayApp) -> None:
    with httpx.Client(base_url=ray_app.url, timeout=60) as client:
        anonymous = client.post("/v2/models/lr/infer", json=v2_body())
        wrong_key = client.post("/v2/models/lr/infer", json=v2_body(), headers={"Authorization": "Bearer shp_x_y"})
        health = client.get("/v2/health/ready")
    assert anonymous.status_code == 401
    assert wrong_key.status_code == 401
    assert health.status_code == 200
    assert anonymous.headers["x-request-id"]


# -- replicas -------------------------------------------------------------------------------------


def test_each_model_runs_two_replicas_and_status_shows_them(ray_app: RayApp) -> None:
    found = app_status()
    assert found is not None
    assert found.status == "RUNNING"
    by_name = {d.deployment: d for d in found.deployments}
    assert set(by_name) == {"ingress", deployment_name("lr"), deployment_name("fraud")}
    for model in ("lr", "fraud"):
        deployment = by_name[deployment_name(model)]
        assert deployment.model == model
        assert deployment.status == "HEALTHY"
        assert deployment.running == 2
        assert all(r.queue is not None for r in deployment.replicas)
    # Both replicas of lr answer calls.
    handle = serve.get_deployment_handle(deployment_name("lr"), app_name=APP_NAME)
    pids = {handle.pid.remote().result(timeout_s=30) for _ in range(30)}
    assert pids == _replica_pids("lr")


# -- deployments: the canary split lives in the ingress --------------------------------------------


def test_canary_split_holds_its_weight_over_5000_requests(ray_app: RayApp) -> None:
    load = run_load(ray_app.url, "/v2/models/fraud/infer", ray_app.headers, total=5000, concurrency=16)
    assert load.failed == []
    counts = Counter(load.variants)
    share = counts["candidate"] / len(load.variants)
    print(f"\ncanary share over {len(load.variants)} requests: {share:.4f} (weight 0.10); {dict(counts)}")
    assert abs(share - 0.10) <= 0.02
    # The variant's own version answered: v2 always says 1.
    for variant, version, label in zip(load.variants, load.versions, load.labels, strict=True):
        assert (variant, version) in {("candidate", "2"), ("stable", "1")}
        if variant == "candidate":
            assert label == 1


# -- an alias swap under load ---------------------------------------------------------------------


def _load_during(ray_app: RayApp, event: Callable[[], None], after_seconds: float) -> Any:
    """Inference load (8 in flight) from 1.5 s before ``event`` until ``after_seconds`` past it."""
    happened_at: list[float] = []

    def done() -> bool:
        return bool(happened_at) and time.monotonic() - happened_at[0] > after_seconds

    result: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: result.update(
            load=run_load(ray_app.url, "/v2/models/lr/infer", ray_app.headers, until=done, concurrency=8)
        )
    )
    worker.start()
    try:
        time.sleep(1.5)
        event()
        happened_at.append(time.monotonic())
    finally:
        worker.join(timeout=120)
    return result["load"]


def test_alias_swap_under_load_fails_no_request(ray_app: RayApp) -> None:
    load = _load_during(ray_app, lambda: set_alias(ray_app.home, "lr", "production", 2), after_seconds=3.0)
    seen = Counter(load.versions)
    print(f"\nalias swap under load: {len(load.statuses)} requests, versions {dict(seen)}, failed {len(load.failed)}")
    assert load.failed == []
    assert seen["1"] > 0
    assert seen["2"] > 0
    # Restore for the other tests (and wait until the ingress follows).
    set_alias(ray_app.home, "lr", "production", 1)
    with ray_app.client() as client:
        wait_for(
            lambda: client.post("/v2/models/lr/infer", json=v2_body()).headers.get("x-shipyard-model-version") == "1",
            30,
            "the ingress follows production back to 1",
        )


# -- losing a replica -----------------------------------------------------------------------------


def test_sigkill_of_a_replica_under_load(ray_app: RayApp) -> None:
    before = _replica_pids("lr")
    assert len(before) == 2
    victim = min(before)
    load = _load_during(ray_app, lambda: os.kill(victim, signal.SIGKILL), after_seconds=4.0)
    print(
        f"\nSIGKILL of replica {victim} under load (8 in flight): {len(load.statuses)} requests, "
        f"{len(load.failed)} failed {Counter(load.failed)}"
    )
    # Ray Serve replaces the replica; requests after recovery succeed.
    wait_for(lambda: len(_replica_pids("lr") - {victim}) == 2, 180, "Ray Serve restarts the lost replica")
    after = run_load(ray_app.url, "/v2/models/lr/infer", ray_app.headers, total=100, concurrency=8)
    assert after.failed == []
    # At most the requests in flight at the kill can fail (the ingress retries a lost call).
    assert len(load.failed) <= 8


# -- the prediction log ---------------------------------------------------------------------------


def test_the_ingress_writes_the_prediction_log(ray_app: RayApp) -> None:
    """The data plane runs in the ingress, so its records reach the home's log with the caller."""
    from shipyard.monitoring.predlog.query import LogFilter, read_rows

    with ray_app.client() as client:
        response = client.post("/v2/models/lr/infer", json=v2_body(), headers={"X-Request-Id": "ray-plog-1"})
    assert response.status_code == 200

    def logged() -> bool:
        table = read_rows(ray_app.home, LogFilter(target="lr", request_id="ray-plog-1"))
        return table.num_rows == 1 and table.column("caller").to_pylist()[0].startswith("key:")

    wait_for(logged, 30, "the request is in the prediction log")
