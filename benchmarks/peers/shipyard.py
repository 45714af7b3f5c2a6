"""`shipyard serve`: every model in one server, from the project venv (the one running this script).

Configurations: the default (request batching on), batching off (`SHIPYARD_BATCHING=false`) and two
worker processes (`--workers 2`). Every configuration is measured as users call it: with an API key
(role predictor, every model) made in its own SHIPYARD_HOME at set-up and sent as
`Authorization: Bearer shp_...` on every request; no route is opened to anonymous callers.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import environment
import numpy as np
from models import BenchModel, v2_body
from processes import HOST, SetupError, free_port

from peers.base import SCRIPTS, Endpoint, Peer, run_step


def _has_setting(name: str) -> bool:
    try:
        from shipyard.config import Settings
    except ImportError:
        return False
    return name in Settings.model_fields


class Shipyard(Peer):
    key = "shipyard"
    title = "Shipyard (default, batching on)"
    venv_name = "bench"  # the project venv, which runs this script too
    env_settings: dict[str, str] = {}
    fixed_workers: int | None = None
    token: str | None = None  # the API key made at set-up; sent on every request

    @property
    def cli(self) -> Path:
        return Path(sys.executable).parent / "shipyard"

    @property
    def settings(self) -> dict[str, Any]:
        workers = self.fixed_workers or self.workers
        auth = {"auth": "API key (Authorization: Bearer, role predictor, models '*')"}
        return {**self.env_settings, **({"--workers": workers} if workers else {}), **auth}

    def env(self) -> dict[str, str]:
        return {**os.environ, "SHIPYARD_HOME": str(self.workdir / "home"), **self.env_settings}

    def unavailable_reason(self) -> str | None:
        if not self.cli.exists():
            return f"{self.cli} does not exist"
        completed = subprocess.run([self.cli, "--help"], capture_output=True, text=True, check=False)
        if completed.returncode != 0 or "serve" not in completed.stdout:
            last = (completed.stderr.strip().splitlines() or ["no 'serve' command"])[-1]
            return f"`shipyard --help` does not work yet ({last})"
        return None

    def supports(self, model: BenchModel) -> bool:
        return True

    def setup(self, models: list[BenchModel], X: np.ndarray, y: np.ndarray) -> None:
        data = self.workdir / "data.npz"
        np.savez(data, X=X, y=y)
        specs = []
        for model in models:
            saved = model.onnx_to(self.workdir / f"{model.name}.onnx") if model.is_onnx else None
            specs.append(f"{model.name}={saved or model.pickle_to(self.workdir / f'{model.name}.pkl')}")
        key_file = self.workdir / "api-key"
        argv = [sys.executable, str(SCRIPTS / "shipyard_register.py"), str(data), str(key_file), *specs]
        run_step(
            "registering the models with shipyard and making an API key",
            argv,
            env=self.env(),
            timeout_s=300,
            log=self.workdir / "register.log",
        )
        self.token = key_file.read_text().strip()

    def start(self, models: list[BenchModel]) -> None:
        if self.token is None:
            raise SetupError(f"{self.title}: no API key (setup did not run)")
        port = free_port()
        argv = [str(self.cli), "serve", *(model.name for model in models), "--host", HOST, "--port", str(port)]
        workers = self.fixed_workers or self.workers
        if workers:
            argv += ["--workers", str(workers)]
        process = self._launch(self.key, argv, self.env(), "/v2/health/ready", port)  # health: no key needed
        headers = {"Authorization": f"Bearer {self.token}"}
        for model in models:
            url = f"http://{HOST}:{port}/v2/models/{model.name}/infer"
            self._endpoints[model.key] = Endpoint(url, process, headers)

    def body(self, rows: list[list[float]]) -> bytes:
        return v2_body(rows)

    def versions(self) -> dict[str, str]:
        return environment.project_versions()


class ShipyardNoBatching(Shipyard):
    key = "shipyard-nobatch"
    env_settings = {"SHIPYARD_BATCHING": "false"}

    @property
    def title(self) -> str:  # type: ignore[override]
        if _has_setting("batching"):
            return "Shipyard (SHIPYARD_BATCHING=false)"
        return "Shipyard (SHIPYARD_BATCHING=false: setting absent, same as default)"


class ShipyardTwoWorkers(Shipyard):
    key = "shipyard-w2"
    title = "Shipyard (--workers 2)"
    fixed_workers = 2
