"""Shipyard on Ray against plain Ray Serve and against local `shipyard serve` (issue 11 §2).

One scikit-learn LogisticRegression on 20 numeric columns (benchmarks/models.py's data, fitted on the
numpy array), one-row requests as one `[1, 20]` FP64 tensor, anonymous (`open_inference`), Shipyard's
access log off: the fastest form, not the per-column form a DataFrame-trained model's metadata
advertises. wrk at c16 on loopback, on this machine:

- plain Ray Serve: a deployment wrapping the fitted model (`await request.json()`, `predict`,
  a JSON answer), one replica of one CPU: Ray Serve's own per-request overhead;
- Shipyard on Ray: `shipyard.ray.app.build` (the ingress with the OIP V2 adapter, validation
  and batching; the model deployment with the compiled runtime), one model replica, same cluster;
- local: `shipyard serve` (its default workers), no Ray running.

Usage: python benchmarks/ray_serve.py [--duration 8] [--connections 16] [--json FILE]
Prints a table and the ratios; not part of `make bench` (a Ray cluster's start alone is ~20 s).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from loadgen import LoadResult, Wrk
from models import make_data
from sklearn.linear_model import LogisticRegression

REPO = Path(__file__).resolve().parents[1]
MODEL = "bench-lr"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def v2_body(row: list[float]) -> bytes:
    return json.dumps(
        {"inputs": [{"name": "input-0", "shape": [1, len(row)], "datatype": "FP64", "data": row}]}
    ).encode()


def wait_ready(url: str, body: bytes, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.post(url, content=body, headers={"Content-Type": "application/json"}, timeout=5)
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} not answering after {timeout}s")


def register(home: Path, model: LogisticRegression, X: np.ndarray) -> None:
    from shipyard.bootstrap import open_services
    from shipyard.config import Settings

    services = open_services(Settings.load(env={"SHIPYARD_HOME": str(home)}))
    try:
        services.registry.register(MODEL, model, sample=X[:3])
        services.store.set_alias(MODEL, "production", 1)
    finally:
        services.close()


def measure(name: str, url: str, body: bytes, args: argparse.Namespace) -> dict[str, Any]:
    wrk = Wrk(timeout_s=10)
    wrk.run(url, body, connections=args.connections, duration_s=2)  # warm-up
    result: LoadResult = wrk.run(url, body, connections=args.connections, duration_s=args.duration)
    row = {
        "server": name,
        "req_per_s": round(result.req_per_s, 1),
        "p50_ms": result.latency_ms.get("p50"),
        "p99_ms": result.latency_ms.get("p99"),
        "errors": result.error_count,
    }
    print(
        f"{name:>22}: {row['req_per_s']:8.1f} req/s  p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  errors {row['errors']}"
    )
    return row


def local_serve(home: Path, body: bytes, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(
        {
            "SHIPYARD_HOME": str(home),
            "SHIPYARD_PORT": str(port),
            "SHIPYARD_GRPC_PORT": "0",
            "SHIPYARD_OPEN_INFERENCE": MODEL,
            "SHIPYARD_ACCESS_LOG": "false",
        }
    )
    shipyard = Path(sys.executable).with_name("shipyard")
    with open(home / "local-serve.log", "wb") as log:
        proc = subprocess.Popen([str(shipyard), "serve", f"{MODEL}@production"], env=env, stdout=log, stderr=log)
        try:
            url = f"http://127.0.0.1:{port}/v2/models/{MODEL}/infer"
            wait_ready(url, body)
            return measure("shipyard serve (local)", url, body, args)
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def on_ray(home: Path, model: LogisticRegression, body: bytes, args: argparse.Namespace) -> list[dict[str, Any]]:
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback only (read when ray is imported)
    import ray
    from ray import serve
    from starlette.requests import Request
    from starlette.responses import JSONResponse

    from shipyard.ray.app import build

    os.environ.update({"SHIPYARD_HOME": str(home), "RAY_USAGE_STATS_ENABLED": "0", "SHIPYARD_GRPC_PORT": "0"})
    port = free_port()
    ray.init(address="local", num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    rows = []
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})

        @serve.deployment(num_replicas=1, ray_actor_options={"num_cpus": 1})
        class PlainLR:
            def __init__(self, fitted: LogisticRegression) -> None:
                self.model = fitted

            async def __call__(self, request: Request) -> JSONResponse:
                payload = await request.json()
                data = payload["inputs"][0]
                X = np.asarray(data["data"], dtype=np.float64).reshape(data["shape"])
                label = self.model.predict(X)
                return JSONResponse({"model_name": MODEL, "outputs": [{"name": "predict", "data": label.tolist()}]})

        serve.run(PlainLR.bind(model), name="plain", route_prefix="/plain")
        url = f"http://127.0.0.1:{port}/plain"
        wait_ready(url, body)
        rows.append(measure("plain Ray Serve", url, body, args))
        serve.delete("plain")
        # The same with as many requests in flight as wrk sends (Ray Serve's default is 5).
        tuned = PlainLR.options(max_ongoing_requests=max(64, args.connections))
        serve.run(tuned.bind(model), name="plain", route_prefix="/plain")
        wait_ready(url, body)
        rows.append(measure("plain Ray Serve (c64)", url, body, args))
        serve.delete("plain")

        settings = {
            "open_inference": MODEL,
            "access_log": False,
            "models": {MODEL: {"num_cpus": 1}},
        }
        serve.run(build({"refs": [f"{MODEL}@production"], "settings": settings}), name="shipyard", route_prefix="/")
        url = f"http://127.0.0.1:{port}/v2/models/{MODEL}/infer"
        wait_ready(url, body)
        rows.append(measure("Shipyard on Ray", url, body, args))
    finally:
        serve.shutdown()
        ray.shutdown()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8, help="seconds per measured run (wrk)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)

    X, y = make_data()
    model = LogisticRegression(max_iter=500).fit(X, y)
    body = v2_body([float(v) for v in X[0]])
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        home = Path(tmp) / "home"
        register(home, model, X)
        rows = [local_serve(home, body, args)]
        rows.extend(on_ray(home, model, body, args))
    by_name = {r["server"]: r["req_per_s"] for r in rows}
    ratios = {
        "shipyard_on_ray / plain_ray_serve": round(by_name["Shipyard on Ray"] / by_name["plain Ray Serve"], 2),
        "shipyard_on_ray / plain_ray_serve_max_ongoing_64": round(
            by_name["Shipyard on Ray"] / by_name["plain Ray Serve (c64)"], 2
        ),
        "shipyard_on_ray / shipyard_local": round(by_name["Shipyard on Ray"] / by_name["shipyard serve (local)"], 2),
    }
    for key, value in ratios.items():
        print(f"{key}: {value}x")
    if args.json is not None:
        args.json.write_text(json.dumps({"connections": args.connections, "rows": rows, "ratios": ratios}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
