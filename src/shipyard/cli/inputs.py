"""Reading what users hand the CLI: tables from files, and ``key=value`` options.

Tables come from CSV (pandas), ``.npy`` (numpy, never with pickle), ``.parquet`` (pyarrow)
or JSON: ``{"columns": [...], "data": [[...]]}``, a list of row objects, or an object of
columns. Every failure is an ``InvalidRequest`` naming the file, so the CLI shows one line.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest


def read_table(path: str | Path, *, what: str = "input") -> Any:
    """The table in ``path``: a pandas DataFrame, or a 2-D numpy array for ``.npy``."""
    file = Path(path)
    if not file.is_file():
        raise InvalidRequest(f"{what} file not found: {file}", hint="check the path")
    suffix = file.suffix.lower()
    try:
        if suffix == ".npy":
            return _read_npy(file)
        if suffix == ".parquet":
            import pandas as pd

            return pd.read_parquet(file)
        if suffix == ".json":
            return _read_json(file)
        import pandas as pd

        return pd.read_csv(file)
    except InvalidRequest:
        raise
    except (OSError, ValueError, UnicodeDecodeError, ImportError) as exc:
        # pandas raises ValueError subclasses (ParserError, EmptyDataError) for bad CSV.
        detail = " ".join(str(exc).split())[:200]
        raise InvalidRequest(
            f"cannot read {what} file {file}: {detail}",
            hint="use CSV with a header row, .npy, .parquet or JSON {'columns': [...], 'data': [[...]]}",
        ) from exc


def _read_npy(file: Path) -> np.ndarray:
    array: np.ndarray = np.asarray(np.load(file, allow_pickle=False))
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise InvalidRequest(f"{file}: expected a 2-D array, got shape {list(array.shape)}")
    return array


def _read_json(file: Path) -> Any:
    import pandas as pd

    try:
        value = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{file} is not valid JSON: {exc}") from exc
    if isinstance(value, dict) and set(value) == {"columns", "data"}:
        return pd.DataFrame(value["data"], columns=value["columns"])
    if isinstance(value, list) and value and all(isinstance(row, dict) for row in value):
        return pd.DataFrame.from_records(value)
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        return pd.DataFrame(value)
    raise InvalidRequest(
        f"{file}: expected {{'columns': [...], 'data': [[...]]}}, a list of row objects or an object of columns",
    )


def split_target(table: Any, target: str) -> tuple[Any, Any]:
    """``(X, y)``: the table without column ``target``, and that column."""
    if not hasattr(table, "columns"):
        raise InvalidRequest("--target needs training data with named columns (CSV, parquet or JSON)")
    if target not in table.columns:
        shown = ", ".join(str(c) for c in list(table.columns)[:8])
        raise InvalidRequest(f"the training data has no column {target!r}", hint=f"its columns: {shown}")
    return table.drop(columns=[target]), table[target]


def parse_pairs(values: Sequence[str], *, option: str) -> dict[str, str]:
    """``["k=v", ...]`` as a dict; a malformed item names the option it came from."""
    pairs: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidRequest(
                f"{option} expects KEY=VALUE, got {item!r}", hint=f"for example {option} accuracy=0.93"
            )
        if key in pairs:
            raise InvalidRequest(f"{option} {key!r} is given twice")
        pairs[key] = value
    return pairs


def parse_metrics(values: Sequence[str]) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for key, text in parse_pairs(values, option="--metric").items():
        try:
            number = float(text)
        except ValueError as exc:
            raise InvalidRequest(f"--metric {key}: {text!r} is not a number", hint="--metric accuracy=0.93") from exc
        if not math.isfinite(number):
            raise InvalidRequest(f"--metric {key}: {text!r} is not a finite number")
        metrics[key] = number
    return metrics


def parse_params(values: Sequence[str]) -> dict[str, Any]:
    """Parameters keep their JSON type when they have one (``max_depth=5`` is an int)."""
    params: dict[str, Any] = {}
    for key, text in parse_pairs(values, option="--param").items():
        try:
            params[key] = json.loads(text)
        except json.JSONDecodeError:
            params[key] = text
    return params
