"""Save a pickled scikit-learn model as an MLflow model. Run by the mlflow venv's python.

Usage: mlflow_save.py MODEL.pkl EXAMPLE.npy OUT_DIR
"""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import mlflow.sklearn
import numpy as np
import pandas as pd

# MLflow 3 saves scikit-learn models with skops, which refuses to load a forest's trees unless trusted.
TRUSTED_TYPES = ["sklearn.tree._tree.Tree"]


def main(model_path: Path, example_path: Path, out_dir: Path) -> None:
    model = pickle.loads(model_path.read_bytes())
    example = np.load(example_path)
    frame = pd.DataFrame(example, columns=[f"x{i}" for i in range(example.shape[1])])
    mlflow.sklearn.save_model(model, str(out_dir), input_example=frame, skops_trusted_types=TRUSTED_TYPES)


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:4]))
