"""``misshapen_output``: the one check that a model answered every output with one row per input row."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.schema.batch import misshapen_output


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        pytest.param({"predict": np.zeros(3), "predict_proba": np.zeros((3, 2))}, None, id="whole"),
        pytest.param({"predict": np.zeros(3)}, "predict_proba", id="missing"),
        pytest.param({"predict": np.zeros(2), "predict_proba": np.zeros((3, 2))}, "predict", id="short"),
    ],
)
def test_misshapen_output(outputs: dict[str, np.ndarray], expected: str | None) -> None:
    assert misshapen_output(["predict", "predict_proba"], outputs, 3) == expected
