"""A home for the privacy tests: a model with PII fields (``email``, ``name``) and a number
(``x``), a live server over it, the CLI as a subprocess, and a byte-for-byte search."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from homes import open_home
from live_server import LiveServer

MODEL = """
import numpy as np


class Scorer:
    def predict(self, X):
        if hasattr(X, "columns"):
            x = np.asarray(X["x"], dtype=float)
        else:
            x = np.asarray(X)[:, 2].astype(float)
        if (x == 99).any():  # a model that quotes its input when it fails
            raise ValueError(f"cannot score {list(np.asarray(X)[:, 0])}")
        return (x > 0).astype(np.float64)
"""

SAMPLE = pd.DataFrame({"email": ["a@example.com"], "name": ["Ann"], "x": [1.0]})


def build_home(home: Path, names: Iterable[str] = ("people",), controls: Mapping[str, Any] | None = None) -> None:
    """Register each of ``names`` (version 1, the scorer above) and set its controls."""
    code = home.parent / f"scorer_{secrets.token_hex(4)}.py"
    code.write_text(MODEL)
    services = open_home(home)
    try:
        for name in names:
            services.registry.register(name, code, sample=SAMPLE, trust_code=True)
            if controls is not None:
                services.store.controls.set(name, dict(controls), actor="user:test")
    finally:
        services.close()
    code.unlink()


def start(home: Path, refs: Iterable[str] = ("people",), **settings: str) -> LiveServer:
    values = {"access_log": "true", "log_flush_ms": "5", **settings}
    return LiveServer(home, list(refs), settings=values).start()


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def run(home: Path, *args: str) -> Ran:
    """``shipyard --home HOME ARGS`` in this process (click's runner: the real commands)."""
    from click.testing import CliRunner

    from shipyard.cli.main import cli as shipyard

    before = os.environ.get("SHIPYARD_HOME")
    try:
        result = CliRunner().invoke(shipyard, ["--home", str(home), *args], catch_exceptions=False)
    finally:  # --home exports SHIPYARD_HOME for child processes: do not leak it to other tests
        if before is None:
            os.environ.pop("SHIPYARD_HOME", None)
        else:
            os.environ["SHIPYARD_HOME"] = before
    return Ran(result.exit_code, result.stdout, result.stderr)


def cli(home: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``shipyard ARGS`` in a subprocess on ``home``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    clean.update({"SHIPYARD_HOME": str(home), **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "shipyard", *args], env=clean, capture_output=True, text=True, timeout=120, check=False
    )


def v2_body(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "email", "datatype": "BYTES", "shape": [len(rows)], "data": [r["email"] for r in rows]},
            {"name": "name", "datatype": "BYTES", "shape": [len(rows)], "data": [r["name"] for r in rows]},
            {"name": "x", "datatype": "FP64", "shape": [len(rows)], "data": [r["x"] for r in rows]},
        ]
    }


def infer_all(server: LiveServer, model: str, rows: list[dict[str, Any]], key: str | None = None) -> list[str]:
    """One V2, one V1, one MLflow (JSON) and one MLflow (CSV) request of ``rows``; their
    request ids (each must answer 200)."""
    headers = {**server.auth_headers, **({"X-Prediction-Key": key} if key else {})}
    ids: list[str] = []
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
        answers = [
            client.post(f"/v2/models/{model}/infer", json=v2_body(rows)),
            client.post(f"/v1/models/{model}:predict", json={"instances": rows}),
            client.post(
                f"/models/{model}/invocations",
                json={
                    "dataframe_split": {
                        "columns": ["email", "name", "x"],
                        "data": [[r["email"], r["name"], r["x"]] for r in rows],
                    }
                },
            ),
            client.post(
                f"/models/{model}/invocations",
                content="email,name,x\n" + "".join(f"{r['email']},{r['name']},{r['x']}\n" for r in rows),
                headers={"Content-Type": "text/csv"},
            ),
        ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        ids.append(answer.headers["x-request-id"])
    return ids


def forms(canary: str) -> dict[str, bytes]:
    """The byte forms a leaked canary could take."""
    return {
        "utf-8": canary.encode(),
        "utf-16-le": canary.encode("utf-16-le"),
        "utf-16-be": canary.encode("utf-16-be"),
        "percent": urllib.parse.quote(canary, safe="").encode(),
        "json-ascii": json.dumps(canary)[1:-1].encode(),
    }


def files_holding(root: Path, needles: Mapping[str, bytes]) -> list[str]:
    """Every file under ``root`` (any depth, hidden ones too) holding one of ``needles``."""
    hits: list[str] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        hits += [f"{path.relative_to(root)} ({form})" for form, needle in needles.items() if needle in data]
    return hits
