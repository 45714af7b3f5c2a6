"""`shipyard serve`: every model in one server, from the project venv (the one running this script).

Configurations: the default (request batching on), batching off (`SHIPYARD_BATCHING=false`) and two
worker processes (`--workers 2`), each sent what `GET /v2/models/NAME` advertises: one `[n]` tensor
per input (V2 JSON). Then the other request forms, each a configuration of its own that sends to
the default configuration's server (no server of their own): per-column V2 binary, the `[n, 20]`
matrix, MLflow `dataframe_split`, KServe V1 `instances`, and per-column V2 over gRPC. Every
configuration is measured as users call it: with an API key (role predictor, every model) made in
its own SHIPYARD_HOME at set-up and sent as `Authorization: Bearer shp_...` on every request (as
gRPC metadata over gRPC); no route is opened to anonymous callers.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import environment
import numpy as np
import pandas as pd
from models import BenchModel
from processes import HOST, ServerProcess, SetupError, free_port, http_status

import forms
from peers.base import SCRIPTS, Call, Endpoint, Peer, run_step


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
    serves_grpc = True  # the default configuration also opens a gRPC port, for the gRPC form
    token: str | None = None  # the API key made at set-up; sent on every request

    def __init__(self, workdir: Path, workers: int | None) -> None:
        super().__init__(workdir, workers)
        self.metadata: dict[str, dict[str, Any]] = {}  # model key -> GET /v2/models/NAME
        self.grpc_port = 0
        self.base_url = ""

    @property
    def cli(self) -> Path:
        return Path(sys.executable).parent / "shipyard"

    @property
    def settings(self) -> dict[str, Any]:
        workers = self.fixed_workers or self.workers
        auth = {"auth": "API key (Authorization: Bearer, role predictor, models '*')"}
        form = {"request": "V2, one tensor per input the metadata lists (JSON)"}
        return {**self.env_settings, **({"--workers": workers} if workers else {}), **auth, **form}

    def env(self) -> dict[str, str]:
        # gRPC off unless asked for: several servers run at once and would all take the default port.
        return {
            **os.environ,
            "SHIPYARD_HOME": str(self.workdir / "home"),
            "SHIPYARD_GRPC_PORT": "0",
            **self.env_settings,
        }

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
        specs = []
        for model in models:
            saved = model.onnx_to(self.workdir / f"{model.name}.onnx") if model.is_onnx else None
            saved = saved or model.pickle_to(self.workdir / f"{model.name}.pkl")
            specs.append(f"{model.name}={saved}={model.data_to(self.workdir / f'{model.name}.json')}")
        key_file = self.workdir / "api-key"
        argv = [sys.executable, str(SCRIPTS / "shipyard_register.py"), str(key_file), *specs]
        run_step(
            "registering the models with shipyard and making an API key",
            argv,
            env=self.env(),
            timeout_s=300,
            log=self.workdir / "register.log",
        )
        self.token = key_file.read_text().strip()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def start(self, models: list[BenchModel]) -> None:
        if self.token is None:
            raise SetupError(f"{self.title}: no API key (setup did not run)")
        port = free_port()
        argv = [str(self.cli), "serve", *(model.name for model in models), "--host", HOST, "--port", str(port)]
        if self.serves_grpc:
            self.grpc_port = free_port()
            argv += ["--grpc-port", str(self.grpc_port)]
        workers = self.fixed_workers or self.workers
        if workers:
            argv += ["--workers", str(workers)]
        process = self._launch(self.key, argv, self.env(), "/v2/health/ready", port)  # health: no key needed
        self.base_url = f"http://{HOST}:{port}"
        for model in models:
            base = f"http://{HOST}:{port}/v2/models/{model.name}"
            status, body = http_status(base, headers=self.headers, timeout=10)
            if status != 200:
                raise SetupError(f"{self.title}: the metadata of {model.name} answered {status}: {body[:200]!r}")
            self.metadata[model.key] = json.loads(body)
            unknown = forms.unknown_inputs(self.metadata[model.key], model.frame)
            if unknown:
                raise SetupError(
                    f"{self.title}: {model.name}'s metadata lists inputs the data has no column for: {unknown}"
                )
            self._endpoints[model.key] = Endpoint(f"{base}/infer", process, self.headers)

    def body(self, model: BenchModel, rows: pd.DataFrame) -> bytes:
        return forms.columns_json(self.metadata[model.key], rows)

    def versions(self) -> dict[str, str]:
        return environment.project_versions()


class ShipyardNoBatching(Shipyard):
    key = "shipyard-nobatch"
    serves_grpc = False
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
    serves_grpc = False


class ShipyardForm(Peer):
    """Another request form sent to the default configuration's server (attached once it is up)."""

    venv_name = "bench"
    base_key = Shipyard.key
    form = "abstract"
    form_title = "abstract"
    numeric_only = False  # the matrix form: only for models whose columns are all numbers

    def __init__(self, workdir: Path, workers: int | None) -> None:
        super().__init__(workdir, workers)
        self.base: Shipyard | None = None

    @property
    def title(self) -> str:  # type: ignore[override]
        return f"Shipyard · {self.form_title}"

    @property
    def settings(self) -> dict[str, Any]:
        return {"server": f"the {self.base_key} configuration's", "request": self.form_title}

    def attach(self, base: Shipyard) -> None:
        self.base = base

    def unavailable_reason(self) -> str | None:
        if self.base is None:
            return f"sends to the {self.base_key} configuration's server: add {self.base_key} to --servers"
        return None

    def supports(self, model: BenchModel) -> bool:
        return not model.is_onnx and not (self.numeric_only and model.is_mixed)

    def setup(self, models: list[BenchModel], X: np.ndarray, y: np.ndarray) -> None:
        pass  # the base configuration registered the models

    def start(self, models: list[BenchModel]) -> None:
        pass  # the base configuration's server answers

    def _base(self) -> Shipyard:
        if self.base is None:
            raise SetupError(f"{self.title}: not attached to a Shipyard server")
        return self.base

    def endpoint(self, model: BenchModel) -> Endpoint:
        return self._base().endpoint(model)

    def server_processes(self) -> list[ServerProcess]:
        return []  # the base's, measured there

    def call(self, model: BenchModel, rows: pd.DataFrame) -> Call:
        base = self._base()
        request = forms.http_requests(base.metadata[model.key], rows, model.name)[self.form]
        return Call(f"{base.base_url}{request.path}", request.body, {**request.headers, **base.headers})

    def versions(self) -> dict[str, str]:
        return environment.project_versions()


class ShipyardBinary(ShipyardForm):
    key = "shipyard-binary"
    form = "binary"
    form_title = "V2 one tensor per input, binary tensor extension"


class ShipyardMatrix(ShipyardForm):
    key = "shipyard-matrix"
    form = "matrix"
    form_title = "V2 one [n, 20] tensor (the metadata's matrix_input)"
    numeric_only = True


class ShipyardMLflow(ShipyardForm):
    key = "shipyard-mlflow"
    form = "mlflow"
    form_title = "MLflow dataframe_split (/models/NAME/invocations)"


class ShipyardV1(ShipyardForm):
    key = "shipyard-v1"
    form = "v1"
    form_title = "KServe V1 instances (lists)"


class ShipyardGrpc(ShipyardForm):
    key = "shipyard-grpc"
    form = "grpc"
    form_title = "V2 over gRPC, one tensor per input (raw_input_contents)"

    def unavailable_reason(self) -> str | None:
        reason = super().unavailable_reason()
        if reason:
            return reason
        base = self._base()
        if not base.grpc_port:
            return f"the {base.key} configuration's server was started without a gRPC port"
        return grpc_unavailable(f"{HOST}:{base.grpc_port}", base.headers)

    def call(self, model: BenchModel, rows: pd.DataFrame) -> Call:
        base = self._base()
        body = forms.grpc_message(base.metadata[model.key], rows, model.name)
        return Call(f"grpc://{HOST}:{base.grpc_port}", body, base.headers)


def grpc_unavailable(target: str, headers: dict[str, str]) -> str | None:
    """Why `target` does not take OIP V2 gRPC calls (ServerLive), or None."""
    try:
        import grpc
        from tritonclient.grpc import service_pb2, service_pb2_grpc
    except ImportError as exc:
        return f"grpcio or tritonclient[grpc] is not installed ({exc})"
    metadata = tuple((name.lower(), value) for name, value in headers.items())
    with grpc.insecure_channel(target) as channel:
        stub = service_pb2_grpc.GRPCInferenceServiceStub(channel)
        try:
            live = stub.ServerLive(service_pb2.ServerLiveRequest(), metadata=metadata, timeout=5)
        except grpc.RpcError as exc:
            return f"shipyard serve does not answer OIP V2 gRPC on {target} yet (ServerLive: {exc.code().name})"
    return None if live.live else f"ServerLive on {target} says not live"
