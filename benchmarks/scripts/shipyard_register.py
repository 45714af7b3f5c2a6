"""Register models with Shipyard and make the benchmark's API key. Run by the project venv's python with SHIPYARD_HOME set.

Usage: shipyard_register.py DATA.npz KEY_FILE NAME=MODEL.pkl|NAME=MODEL.onnx [...]

A .pkl is a pickled scikit-learn model, registered as the live object; a .onnx file is registered
from its path, as a user would register an exported graph. Then one API key (role predictor, every
model) is created, as a user would get one, and its token written to KEY_FILE (mode 0600): the
load generators send it on every request. The token is never printed.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

import numpy as np

import shipyard
from shipyard.bootstrap import open_services
from shipyard.config import Settings
from shipyard.governance.keys import make_grants


def register(data_path: Path, specs: list[str]) -> None:
    data = np.load(data_path)
    X, y = data["X"], data["y"]
    for spec in specs:
        name, _, model_path = spec.partition("=")
        path = Path(model_path)
        if path.suffix == ".onnx":
            shipyard.register_model(name, path, sample=X[:5].astype(np.float32), training_data=(X, y))
        else:
            model = pickle.loads(path.read_bytes())
            shipyard.register_model(name, model, sample=X[:5], training_data=(X, y))


def create_key(key_file: Path) -> None:
    services = open_services(Settings.load(overrides={"home": os.environ["SHIPYARD_HOME"]}))
    try:
        record, token = services.keys.create("bench", make_grants(["predictor"]), created_by="user:bench")
    finally:
        services.close()
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(token)
    print(f"created API key {record.id} (role predictor, models '*')")


if __name__ == "__main__":
    register(Path(sys.argv[1]), sys.argv[3:])
    create_key(Path(sys.argv[2]))
