"""`mlflow models serve`: one server per scikit-learn model, from its own venv in benchmarks/.venvs/mlflow."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
from models import BenchModel, dataframe_split_body
from processes import HOST, free_port

from peers.base import SCRIPTS, Endpoint, Peer, run_step
from peers.venv import Venv

VENV = Venv(
    "mlflow",
    candidates=(("mlflow==3.17.*",), ("mlflow",)),  # the pinned series first, else whatever installs
    probe_imports="mlflow.sklearn",
)


class MLflow(Peer):
    key = "mlflow"
    title = "mlflow models serve (default)"
    venv_name = VENV.name

    def env(self) -> dict[str, str]:
        return VENV.env(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")

    def setup(self, models: list[BenchModel], X: np.ndarray, y: np.ndarray) -> None:
        VENV.ensure(self.workdir)
        for model in filter(self.supports, models):
            example = model.data_to(self.workdir / f"{model.name}-data.json")
            pickled = model.pickle_to(self.workdir / f"{model.name}.pkl")
            out_dir = self.workdir / "models" / model.name
            shutil.rmtree(out_dir, ignore_errors=True)
            argv = [str(VENV.python), str(SCRIPTS / "mlflow_save.py"), str(pickled), str(example), str(out_dir)]
            run_step(
                f"saving {model.name} with mlflow", argv, env=self.env(), timeout_s=300, log=self.workdir / "save.log"
            )

    def start(self, models: list[BenchModel]) -> None:
        for model in filter(self.supports, models):
            port = free_port()
            argv = [str(VENV.bin / "mlflow"), "models", "serve", "-m", str(self.workdir / "models" / model.name)]
            argv += ["--env-manager", "local", "-h", HOST, "-p", str(port)]
            if self.workers:
                argv += ["-w", str(self.workers)]
            process = self._launch(f"mlflow-{model.name}", argv, self.env(), "/health", port)
            self._endpoints[model.key] = Endpoint(f"http://{HOST}:{port}/invocations", process)

    def supports(self, model: BenchModel) -> bool:
        return not model.is_onnx

    def body(self, model: BenchModel, rows: pd.DataFrame) -> bytes:
        return dataframe_split_body(rows)

    def versions(self) -> dict[str, str]:
        return VENV.versions()
