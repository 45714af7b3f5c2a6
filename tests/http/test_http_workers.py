"""Several worker processes on one port: all answer, metrics add up across them, SIGTERM stops all."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from http_registry import build_registry

from live_server import LiveServer


def test_two_workers_share_port_and_metrics(tmp_path: Path, classification_data) -> None:
    X, y = classification_data
    home = tmp_path / "home"
    build_registry(home, X, y)
    body = {"inputs": [{"name": "input-0", "shape": [1, 20], "datatype": "FP64", "data": X[0].tolist()}]}
    with LiveServer(home, ["lr@production"], settings={"workers": "2"}) as server:
        n = 200

        def call(_: int) -> int:
            with server.client(timeout=10) as client:  # new connections spread over workers
                return client.post(server.url + "/v2/models/lr/infer", json=body).status_code

        with ThreadPoolExecutor(16) as pool:
            statuses = list(pool.map(call, range(n)))
        assert statuses == [200] * n
        text = httpx.get(server.url + "/metrics", headers=server.auth_headers).text
        match = re.search(r'shipyard_inference_requests_total\{model="lr",protocol="v2",version="1"\} ([0-9.]+)', text)
        assert match, text[:2000]
        assert float(match.group(1)) == n
        server.terminate()
        assert server.wait(timeout=30) == 0
