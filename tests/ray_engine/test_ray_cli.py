"""``shipyard serve --engine ray`` as a user runs it: the command starts a single-node Ray on
loopback, says that a SQLite home is single-node only,
serves until SIGTERM, and shuts Ray down."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from ray_cluster import build_home, ray_env, v2_body

from live_server import create_key, free_port

pytest.importorskip("ray.serve")

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

SHIPYARD = str(Path(sys.executable).with_name("shipyard"))


def test_serve_engine_ray_serves_until_sigterm(tmp_path: Path) -> None:
    home = tmp_path / "home"
    build_home(home)
    token = create_key(home)
    port = free_port()
    env = {**ray_env(home), "SHIPYARD_PORT": str(port)}
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [SHIPYARD, "serve", "lr@production", "--engine", "ray"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 240
            while "ready: http://127.0.0.1" not in log_path.read_text(errors="replace"):
                assert proc.poll() is None, log_path.read_text(errors="replace")[-4000:]
                assert time.monotonic() < deadline, log_path.read_text(errors="replace")[-4000:]
                time.sleep(0.5)
            output = log_path.read_text(errors="replace")
            assert "a SQLite registry and local artifacts: accepted for a single-node Ray only" in output
            response = httpx.post(
                f"http://127.0.0.1:{port}/v2/models/lr/infer",
                json=v2_body(),
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            )
            assert response.status_code == 200, response.text
            assert response.headers["x-shipyard-model-version"] == "1"

            # Ray itself is on loopback.
            assert re.search(r"Ray at 127\.0\.0\.1:[0-9]+\)", output), output
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=120)
    assert code == 0, log_path.read_text(errors="replace")[-4000:]
    # Ray went down with the command: nothing of it listens on the port any more.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2)
