"""Register models with Shipyard. Run by the project venv's python with SHIPYARD_HOME set.

Usage: shipyard_register.py DATA.npz NAME=MODEL.pkl|NAME=MODEL.onnx [...]

A .pkl is a pickled scikit-learn model, registered as the live object; a .onnx file is registered
from its path, as a user would register an exported graph.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np

import shipyard


def main(data_path: Path, specs: list[str]) -> None:
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


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2:])
