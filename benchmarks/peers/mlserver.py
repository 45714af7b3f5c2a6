"""MLServer 1.7 with mlserver-sklearn: a model repository generated here, served by `mlserver start`.

Each model is a folder with `model.joblib` and `model-settings.json`
(`mlserver_sklearn.SKLearnModel`); `settings.json` holds the host and free ports for HTTP, gRPC and
metrics. Configurations: the default (`parallel_workers` 1: inference in one separate process), in
the main process (`parallel_workers: 0`) and adaptive batching (`max_batch_size: 32`,
`max_batch_time: 0.005`). Everything else is MLServer's default (including `debug: true`, which
logs every request). mlserver-sklearn has no ONNX runtime: the ONNX forest is not served.
Payload: Open Inference Protocol V2, for the numeric models one `[n, 20]` FP64 tensor (MLServer's
fastest form: its numpy codec, no DataFrame); for the mixed pipeline, which needs a DataFrame,
one tensor per column with the request's `content_type: pd` (its pandas codec) and the string
columns marked `content_type: str`.
"""

from __future__ import annotations

import json
from typing import Any

import joblib
import numpy as np
import pandas as pd
from models import BenchModel, matrix_body
from processes import HOST, free_port

from peers.base import Endpoint, Peer
from peers.venv import Venv

VENV = Venv(
    "mlserver",
    # uvloop 0.22 crashes MLServer's inference worker at start (SeldonIO/MLServer#2286).
    candidates=(("mlserver==1.7.1", "mlserver-sklearn==1.7.1", "uvloop<0.22"),),
    probe_imports="mlserver, mlserver_sklearn, uvloop",
)


class MLServer(Peer):
    key = "mlserver"
    title = "MLServer (default)"
    venv_name = VENV.name
    server_settings: dict[str, Any] = {}
    model_settings: dict[str, Any] = {}

    @property
    def settings(self) -> dict[str, Any]:
        return {**self.server_settings, **self.model_settings}

    @property
    def repository(self):
        return self.workdir / "repository"

    def setup(self, models: list[BenchModel], X: np.ndarray, y: np.ndarray) -> None:
        VENV.ensure(self.workdir)
        for model in filter(self.supports, models):
            folder = self.repository / model.name
            folder.mkdir(parents=True, exist_ok=True)
            joblib.dump(model.estimator, folder / "model.joblib")
            settings = {
                "name": model.name,
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib"},
                **self.model_settings,
            }
            (folder / "model-settings.json").write_text(json.dumps(settings, indent=2))

    def start(self, models: list[BenchModel]) -> None:
        port = free_port()
        settings = {
            "host": HOST,
            "http_port": port,
            "grpc_port": free_port(),
            "metrics_port": free_port(),
            **self.server_settings,
        }
        (self.repository / "settings.json").write_text(json.dumps(settings, indent=2))
        argv = [str(VENV.bin / "mlserver"), "start", str(self.repository)]
        process = self._launch(self.key, argv, VENV.env(), "/v2/health/ready", port, cwd=self.repository)
        for model in filter(self.supports, models):
            self._endpoints[model.key] = Endpoint(f"http://{HOST}:{port}/v2/models/{model.name}/infer", process)

    def supports(self, model: BenchModel) -> bool:
        return not model.is_onnx

    def body(self, model: BenchModel, rows: pd.DataFrame) -> bytes:
        return pandas_body(rows) if model.is_mixed else matrix_body(rows)

    def versions(self) -> dict[str, str]:
        return VENV.versions()


def pandas_body(rows: pd.DataFrame) -> bytes:
    """V2 one tensor per column, decoded by MLServer's pandas codec into a DataFrame (strings as `str`)."""
    tensors = []
    for name in rows.columns:
        column = rows[name]
        if pd.api.types.is_numeric_dtype(column.dtype):
            tensors.append(
                {"name": name, "shape": [len(column)], "datatype": "FP64", "data": column.astype(float).tolist()}
            )
        else:
            tensor = {"name": name, "shape": [len(column)], "datatype": "BYTES", "data": column.astype(str).tolist()}
            tensors.append({**tensor, "parameters": {"content_type": "str"}})
    return json.dumps({"parameters": {"content_type": "pd"}, "inputs": tensors}).encode()


class MLServerInProcess(MLServer):
    key = "mlserver-inproc"
    title = "MLServer (parallel_workers=0)"
    server_settings = {"parallel_workers": 0}


class MLServerBatching(MLServer):
    key = "mlserver-batch"
    title = "MLServer (batching 32 rows / 5 ms)"
    model_settings = {"max_batch_size": 32, "max_batch_time": 0.005}
