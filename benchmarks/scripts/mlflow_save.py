"""Save a pickled scikit-learn model as an MLflow model. Run by the mlflow venv's python.

Usage: mlflow_save.py MODEL.pkl DATA.json OUT_DIR

DATA.json holds the frame the model was trained on (column -> values); its first five rows are
the input example, from which MLflow infers the column signature.
"""

from __future__ import annotations

import json
import pickle
import sys
from pathlib import Path

import mlflow.sklearn
import pandas as pd

# MLflow 3 saves scikit-learn models with skops, which refuses to load a forest's trees (and the one-hot
# encoder's dtype) unless trusted.
TRUSTED_TYPES = ["sklearn.tree._tree.Tree", "numpy.dtype"]


def main(model_path: Path, data_path: Path, out_dir: Path) -> None:
    model = pickle.loads(model_path.read_bytes())
    frame = pd.DataFrame(json.loads(data_path.read_text())["columns"])
    mlflow.sklearn.save_model(model, str(out_dir), input_example=frame.head(5), skops_trusted_types=TRUSTED_TYPES)


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:4]))
