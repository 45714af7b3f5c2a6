"""Save models into BentoML's model store ($BENTOML_HOME). Run by the bentoml venv's python.

Usage: bentoml_save.py NAME=MODEL.pkl|NAME=MODEL.onnx [...]

A .pkl (a pickled scikit-learn model) is saved with `bentoml.sklearn`, a .onnx graph with `bentoml.onnx`.
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import bentoml


def main(specs: list[str]) -> None:
    for spec in specs:
        name, _, model_path = spec.partition("=")
        path = Path(model_path)
        if path.suffix == ".onnx":
            import onnx

            bentoml.onnx.save_model(name, onnx.load(str(path)))
        else:
            bentoml.sklearn.save_model(name, pickle.loads(path.read_bytes()))


if __name__ == "__main__":
    main(sys.argv[1:])
