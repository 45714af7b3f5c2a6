"""What every server under test is: a `Peer` sets itself up, starts its processes and says where each model answers.

One `Peer` instance is one configuration (a server with named settings), benchmarked in its native
payload format. Its `key` is what `--servers` takes; its `title` names the settings in the output.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from models import BenchModel
from processes import HOST, ServerProcess, SetupError

HERE = Path(__file__).resolve().parent.parent
SCRIPTS = HERE / "scripts"
VENVS = HERE / ".venvs"
READY_DEADLINE_S = 180.0


@dataclass(frozen=True)
class Endpoint:
    url: str
    process: ServerProcess  # the process group whose CPU is charged to this model's requests
    headers: Mapping[str, str] = field(default_factory=dict)  # extra request headers (Shipyard: its API key)


@dataclass(frozen=True)
class Call:
    """One request as a load generator sends it: `url` is http://... or grpc://HOST:PORT."""

    url: str
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_grpc(self) -> bool:
        return self.url.startswith("grpc://")


class Peer:
    key = "abstract"
    title = "abstract"
    # wrk's latency histogram is wrong for some servers at low concurrency: cross-check with hey.
    cross_check_latency = False
    venv_name = "abstract"  # the key of its venv's versions in the result file

    def __init__(self, workdir: Path, workers: int | None) -> None:
        self.workdir = workdir / self.key
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        self.processes: list[ServerProcess] = []
        self._endpoints: dict[str, Endpoint] = {}

    @property
    def settings(self) -> dict[str, Any]:
        """The settings this configuration runs with, for the result file."""
        return {"workers": self.workers} if self.workers else {}

    def unavailable_reason(self) -> str | None:
        """Why this peer cannot run here, or None."""
        return None

    def supports(self, model: BenchModel) -> bool:
        """Whether this server can serve the model natively (others are left out of that model's table)."""
        return not model.is_onnx and not model.is_mixed

    def setup(self, models: list[BenchModel], X: np.ndarray, y: np.ndarray) -> None:
        raise NotImplementedError

    def start(self, models: list[BenchModel]) -> None:
        raise NotImplementedError

    def body(self, model: BenchModel, rows: pd.DataFrame) -> bytes:
        raise NotImplementedError

    def call(self, model: BenchModel, rows: pd.DataFrame) -> Call:
        """The request for these rows: the model's endpoint and headers, and this server's body."""
        endpoint = self.endpoint(model)
        return Call(endpoint.url, self.body(model, rows), endpoint.headers)

    def server_processes(self) -> list[ServerProcess]:
        """The processes this configuration runs (for memory); empty when it shares another's."""
        return list(self.processes)

    def versions(self) -> dict[str, str]:
        """Python and every package of the venv the server runs from."""
        raise NotImplementedError

    def endpoint(self, model: BenchModel) -> Endpoint:
        return self._endpoints[model.key]

    def stop(self) -> None:
        for process in self.processes:
            process.stop()
        self.processes.clear()

    def _launch(
        self, label: str, argv: list[str], env: dict[str, str], ready_path: str, port: int, cwd: Path | None = None
    ) -> ServerProcess:
        process = ServerProcess(label, argv, env=env, cwd=cwd or self.workdir, log_path=self.workdir / f"{label}.log")
        self.processes.append(process)
        process.start()
        process.wait_ready(f"http://{HOST}:{port}{ready_path}", deadline_s=READY_DEADLINE_S)
        return process


def run_step(what: str, argv: list[str], *, env: dict[str, str] | None = None, timeout_s: float, log: Path) -> None:
    """Run one set-up command; SetupError with the tail of its output when it fails."""
    with log.open("ab") as out:
        try:
            completed = subprocess.run(argv, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise SetupError(f"{what} took longer than {timeout_s:.0f} s (log: {log})") from exc
    if completed.returncode != 0:
        tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
        raise SetupError(f"{what} failed: {tail} (log: {log})")
