"""The servers under test: MLflow's `mlflow models serve` and Shipyard's `shipyard serve`.

A `Peer` sets itself up (its venv, its saved models), starts its server processes, and says where
each model answers and in which payload format. Each is benchmarked in its native format.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sklearn
from models import BenchModel, dataframe_split_body, v2_body
from processes import HOST, ServerProcess, SetupError, free_port

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE / "scripts"
READY_DEADLINE_S = 120.0


@dataclass(frozen=True)
class Endpoint:
    url: str
    process: ServerProcess  # the process group whose CPU is charged to this model's requests


class Peer:
    key = "abstract"
    title = "abstract"

    def __init__(self, workdir: Path, workers: int | None) -> None:
        self.workdir = workdir / self.key
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        self.processes: list[ServerProcess] = []
        self._endpoints: dict[str, Endpoint] = {}

    def unavailable_reason(self) -> str | None:
        """Why this peer cannot run here, or None."""
        return None

    def setup(self, models: list[BenchModel], X: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def start(self, models: list[BenchModel]) -> None:
        raise NotImplementedError

    def body(self, rows: list[list[float]]) -> bytes:
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        raise NotImplementedError

    def endpoint(self, model: BenchModel) -> Endpoint:
        return self._endpoints[model.key]

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.processes.clear()

    def _launch(self, label: str, argv: list[str], env: dict[str, str], ready_path: str, port: int) -> ServerProcess:
        process = ServerProcess(label, argv, env=env, cwd=self.workdir, log_path=self.workdir / f"{label}.log")
        self.processes.append(process)
        process.start()
        process.wait_ready(f"http://{HOST}:{port}{ready_path}", deadline_s=READY_DEADLINE_S)
        return process


def _run_step(what: str, argv: list[str], *, env: dict[str, str] | None = None, timeout_s: float, log: Path) -> None:
    """Run one set-up command; SetupError with the tail of its output when it fails."""
    with log.open("ab") as out:
        try:
            completed = subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise SetupError(f"{what} took longer than {timeout_s:.0f} s (log: {log})") from exc
    if completed.returncode != 0:
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        raise SetupError(f"{what} failed: {tail} (log: {log})")


class MLflow(Peer):
    """`mlflow models serve`, one server per model, from its own cached venv in benchmarks/.venvs/mlflow."""

    key = "mlflow"
    title = "MLflow"
    VENV = HERE / ".venvs" / "mlflow"
    REQUIREMENTS = ("mlflow==3.17.*", "mlflow")  # the pinned series first, else whatever installs

    @property
    def bin(self) -> Path:
        return self.VENV / "bin"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "VIRTUAL_ENV": str(self.VENV),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
        }

    def _venv_ok(self) -> bool:
        probe = "import mlflow.sklearn, sklearn; print(sklearn.__version__)"
        python = self.bin / "python"
        if not python.exists():
            return False
        completed = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=False)
        return completed.returncode == 0 and completed.stdout.strip() == sklearn.__version__

    def ensure_venv(self) -> None:
        if self._venv_ok():
            return
        log = self.workdir / "venv-setup.log"
        system_python = shutil.which("python3")
        if system_python is None:
            raise SetupError("no python3 on PATH to create the mlflow venv with")
        logger.info("creating the mlflow venv in %s (first run only; a few minutes)", self.VENV)
        if not (self.bin / "python").exists():
            _run_step("creating the mlflow venv", [system_python, "-m", "venv", str(self.VENV)], timeout_s=120, log=log)
        pip = [str(self.bin / "python"), "-m", "pip", "install", "--quiet"]
        for requirement in self.REQUIREMENTS:
            try:
                _run_step(
                    f"pip install {requirement}",
                    [*pip, requirement, f"scikit-learn=={sklearn.__version__}"],
                    timeout_s=1500,
                    log=log,
                )
                break
            except SetupError:
                if requirement == self.REQUIREMENTS[-1]:
                    raise
                logger.warning("pip install %s failed; trying the next candidate", requirement)
        if not self._venv_ok():
            raise SetupError(
                f"the mlflow venv does not import mlflow with scikit-learn {sklearn.__version__} (log: {log})"
            )

    def setup(self, models: list[BenchModel], X: np.ndarray, y: np.ndarray) -> None:
        self.ensure_venv()
        example = self.workdir / "example.npy"
        np.save(example, X[:5])
        for model in models:
            pickled = model.pickle_to(self.workdir / f"{model.name}.pkl")
            out_dir = self.workdir / "models" / model.name
            shutil.rmtree(out_dir, ignore_errors=True)
            argv = [str(self.bin / "python"), str(SCRIPTS / "mlflow_save.py"), str(pickled), str(example), str(out_dir)]
            _run_step(
                f"saving {model.name} with mlflow", argv, env=self.env(), timeout_s=300, log=self.workdir / "save.log"
            )

    def start(self, models: list[BenchModel]) -> None:
        for model in models:
            port = free_port()
            argv = [str(self.bin / "mlflow"), "models", "serve", "-m", str(self.workdir / "models" / model.name)]
            argv += ["--env-manager", "local", "-h", HOST, "-p", str(port)]
            if self.workers:
                argv += ["-w", str(self.workers)]
            process = self._launch(f"mlflow-{model.name}", argv, self.env(), "/health", port)
            self._endpoints[model.key] = Endpoint(f"http://{HOST}:{port}/invocations", process)

    def body(self, rows: list[list[float]]) -> bytes:
        return dataframe_split_body(rows)

    def versions(self) -> dict[str, str]:
        script = (
            "import importlib.metadata as m, json, sys\n"
            "names = ['mlflow', 'scikit-learn', 'numpy', 'pandas', 'skops', 'fastapi', 'uvicorn']\n"
            "print(json.dumps({'python': sys.version.split()[0], **{n: m.version(n) for n in names}}))"
        )
        completed = subprocess.run([self.bin / "python", "-c", script], capture_output=True, text=True, check=False)
        if completed.returncode != 0:
            return {"error": completed.stderr.strip()[-200:]}
        return dict(sorted(json.loads(completed.stdout).items()))


class Shipyard(Peer):
    """`shipyard serve`, both models in one server, from the project venv (the one running this script)."""

    key = "shipyard"
    title = "Shipyard"

    @property
    def cli(self) -> Path:
        return Path(sys.executable).parent / "shipyard"

    def env(self) -> dict[str, str]:
        return {**os.environ, "SHIPYARD_HOME": str(self.workdir / "home")}

    def unavailable_reason(self) -> str | None:
        if not self.cli.exists():
            return f"{self.cli} does not exist"
        completed = subprocess.run([self.cli, "--help"], capture_output=True, text=True, check=False)
        if completed.returncode != 0 or "serve" not in completed.stdout:
            last = (completed.stderr.strip().splitlines() or ["no 'serve' command"])[-1]
            return f"`shipyard --help` does not work yet ({last})"
        return None

    def setup(self, models: list[BenchModel], X: np.ndarray, y: np.ndarray) -> None:
        data = self.workdir / "data.npz"
        np.savez(data, X=X, y=y)
        specs = [f"{model.name}={model.pickle_to(self.workdir / f'{model.name}.pkl')}" for model in models]
        argv = [sys.executable, str(SCRIPTS / "shipyard_register.py"), str(data), *specs]
        _run_step(
            "registering the models with shipyard",
            argv,
            env=self.env(),
            timeout_s=300,
            log=self.workdir / "register.log",
        )

    def start(self, models: list[BenchModel]) -> None:
        port = free_port()
        argv = [str(self.cli), "serve", *(model.name for model in models), "--host", HOST, "--port", str(port)]
        if self.workers:
            argv += ["--workers", str(self.workers)]
        process = self._launch("shipyard", argv, self.env(), "/v2/health/ready", port)
        for model in models:
            self._endpoints[model.key] = Endpoint(f"http://{HOST}:{port}/v2/models/{model.name}/infer", process)

    def body(self, rows: list[list[float]]) -> bytes:
        return v2_body(rows)

    def versions(self) -> dict[str, str]:
        return {"shipyard": importlib.metadata.version("shipyard")}


PEERS: dict[str, type[Peer]] = {"mlflow": MLflow, "shipyard": Shipyard}
