"""Register models with Shipyard and make the benchmark's API key. Run by the project venv's python with SHIPYARD_HOME set.

Usage: shipyard_register.py KEY_FILE NAME=MODEL.pkl=DATA.json|NAME=MODEL.onnx=DATA.json [...]

A .pkl is a pickled scikit-learn model trained on a DataFrame, registered as the live object with
that DataFrame's first rows as the sample and the frame as training data, as a user registers one;
a .onnx file is registered from its path, as a user would register an exported graph (its sample
the frame's first rows as a float32 matrix). DATA.json holds the frame (column -> values) and the
target. Then one API key (role predictor, every model) is created, as a user would get one, and its
token written to KEY_FILE (mode 0600): the load generators send it on every request. The token is
never printed.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pandas as pd

import shipyard
from shipyard.bootstrap import open_services
from shipyard.config import Settings
from shipyard.governance.keys import make_grants


def read_data(path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    document = json.loads(path.read_text())
    return pd.DataFrame(document["columns"]), np.asarray(document["target"])


def register(specs: list[str]) -> None:
    for spec in specs:
        name, model_path, data_path = spec.split("=", 2)
        path = Path(model_path)
        frame, y = read_data(Path(data_path))
        if path.suffix == ".onnx":
            X = frame.to_numpy(np.float32)
            shipyard.register_model(name, path, sample=X[:5], training_data=(X, y))
        else:
            model = pickle.loads(path.read_bytes())
            shipyard.register_model(name, model, sample=frame.head(5), training_data=(frame, y))


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
    register(sys.argv[2:])
    create_key(Path(sys.argv[1]))
