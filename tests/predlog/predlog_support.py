"""Shared by the prediction-log tests: a small model's home, and reading the log back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from homes import open_home
from shipyard.monitoring.predlog.codec import iter_frames, valid_length
from shipyard.monitoring.predlog.record import decode_record

COLUMNS = ("a", "b", "c")


def make_lr_home(home: Path, name: str = "lr") -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(80, 3)), columns=list(COLUMNS))
    y = (frame["a"] + frame["b"] > 0).astype(int)
    svc = open_home(home)
    try:
        svc.registry.register(name, LogisticRegression().fit(frame, y), sample=frame.iloc[:5], compile=False)
    finally:
        svc.close()
    return home


def v2_body(rows: list[list[float]], *, per_column: bool = True, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    if per_column:
        inputs = [
            {"name": col, "datatype": "FP64", "shape": [len(rows)], "data": [r[i] for r in rows]}
            for i, col in enumerate(COLUMNS)
        ]
    else:
        inputs = [
            {
                "name": "input-0",
                "datatype": "FP64",
                "shape": [len(rows), len(COLUMNS)],
                "data": [v for r in rows for v in r],
            }
        ]
    body: dict[str, Any] = {"inputs": inputs}
    if extra:
        body.update(extra)
    return body


def segment_files(home: Path) -> list[Path]:
    directory = home / "predlog" / "segments"
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in (".seg", ".open"))


def read_records(home: Path) -> list[dict[str, Any]]:
    """Every record in the segments of ``home`` (sealed and open), in file order."""
    records = []
    for path in segment_files(home):
        records.extend(decode_record(payload) for _offset, payload in iter_frames(path))
    return records


def torn_files(home: Path) -> list[str]:
    """Segments whose valid part is shorter than the file."""
    return [p.name for p in segment_files(home) if valid_length(p) != p.stat().st_size]
