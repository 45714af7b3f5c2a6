"""fingerprint: a stable digest of the training data that changes when anything that matters does."""

from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from shipyard.errors import InvalidRequest
from shipyard.lineage import fingerprint
from shipyard.registry.types import DataFingerprint


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.array([31, 45, 27, 60], dtype=np.int64),
            "income": [52_000.5, np.nan, 31_000.0, 88_000.25],
            "city": ["Oslo", "Lima", None, "Pune"],
            "member": [True, False, True, True],
        }
    )


def test_deterministic_and_json_round_trip() -> None:
    first = fingerprint(frame(), [0, 1, 0, 1])
    second = fingerprint(frame(), [0, 1, 0, 1])

    assert first == second
    assert len(first.sha256) == 64
    assert first.rows == 4
    assert first.columns == (
        ("age", "int64"),
        ("income", "float64"),
        ("city", "string"),
        ("member", "bool"),
        ("target", "int64"),
    )
    assert DataFingerprint.from_dict(json.loads(json.dumps(first.to_dict()))) == first


def test_stable_across_processes() -> None:
    code = (
        "import numpy as np; from shipyard.lineage import fingerprint;"
        "print(fingerprint({'a': np.arange(5, dtype=np.int32), 'b': ['x', 'y', None, 'zz', 'é'],"
        " 'c': [0.1, float('nan'), -0.0, 1e300, float('inf')]}).sha256)"
    )
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
        for _ in range(2)
    }
    assert len(outputs) == 1
    here = fingerprint(
        {
            "a": np.arange(5, dtype=np.int32),
            "b": ["x", "y", None, "zz", "é"],
            "c": [0.1, float("nan"), -0.0, 1e300, float("inf")],
        }
    ).sha256
    assert outputs == {here + "\n"}


def lp(data: bytes) -> bytes:
    return struct.pack("<Q", len(data)) + data


def test_encoding_is_the_documented_one() -> None:
    # A change to the canonical encoding must be deliberate (and bump its version).
    encoded = (
        b"shipyard-fingerprint/1\x00"
        + struct.pack("<QQ", 2, 3)
        + lp(b"a")
        + lp(b"int64")
        + lp(b"s")
        + lp(b"string")
        + struct.pack("<3q", 1, 2, 3)
        + b"\x01"
        + lp(b"x")
        + b"\x01"
        + lp(b"yy")
        + b"\x00"
    )

    result = fingerprint({"a": np.array([1, 2, 3], dtype=np.int64), "s": ["x", "yy", None]})

    assert result.sha256 == hashlib.sha256(encoded).hexdigest()
    assert result.sha256 == "2b9d92859b3b703d246c504d0bb34f6466aa607e706cfe03d35936342e04efd1"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda df: df.assign(age=df["age"] + 1), id="value"),
        pytest.param(lambda df: df.rename(columns={"age": "years"}), id="column-name"),
        pytest.param(lambda df: df[["income", "age", "city", "member"]], id="column-order"),
        pytest.param(lambda df: df.astype({"age": np.int32}), id="dtype"),
        pytest.param(lambda df: df.astype({"age": np.float64}), id="int-to-float"),
        pytest.param(lambda df: df.iloc[:3], id="row-dropped"),
        pytest.param(lambda df: df.iloc[::-1], id="row-order"),
        pytest.param(lambda df: df.assign(city=["Oslo", "Lima", "", "Pune"]), id="missing-vs-empty-string"),
        pytest.param(lambda df: df.assign(income=df["income"].fillna(0.0)), id="nan-filled"),
    ],
)
def test_changes_change_the_digest(change: object) -> None:
    assert callable(change)
    assert fingerprint(change(frame())).sha256 != fingerprint(frame()).sha256


def test_target_is_part_of_the_identity() -> None:
    base = fingerprint(frame(), [0, 1, 0, 1])
    assert fingerprint(frame(), [1, 1, 0, 1]).sha256 != base.sha256
    assert fingerprint(frame()).sha256 != base.sha256
    assert fingerprint(frame(), [0, 1, 0, 1], target_name="label").sha256 != base.sha256


def test_string_boundaries_are_length_prefixed() -> None:
    assert fingerprint({"s": ["ab", "c"]}).sha256 != fingerprint({"s": ["a", "bc"]}).sha256


def test_every_nan_is_the_same_nan() -> None:
    quiet = np.array([1.0, np.nan])
    payload = np.array([1.0, 0.0])
    payload.view(np.uint64)[1] = 0xFFF8_0000_DEAD_BEEF  # a negative NaN with a payload

    assert np.isnan(payload[1])
    assert fingerprint({"x": quiet}) == fingerprint({"x": payload})
    assert fingerprint({"x": quiet.astype(np.float32)}).sha256 != fingerprint({"x": quiet}).sha256


def test_input_forms_agree() -> None:
    array = np.array([[1.0, 2.0], [3.0, 4.0]])
    from_array = fingerprint(array)
    from_frame = fingerprint(pd.DataFrame(array, columns=["x0", "x1"]))
    from_mapping = fingerprint({"x0": array[:, 0], "x1": array[:, 1]})

    assert from_array == from_frame == from_mapping
    assert from_array.columns == (("x0", "float64"), ("x1", "float64"))


def test_pandas_string_and_object_columns_agree() -> None:
    as_str = pd.DataFrame({"c": pd.Series(["a", None, "b"], dtype="string")})
    as_object = pd.DataFrame({"c": pd.Series(["a", None, "b"], dtype=object)})
    assert fingerprint(as_str) == fingerprint(as_object)


def test_extension_and_datetime_columns() -> None:
    data = pd.DataFrame(
        {
            "n": pd.array([1, None, 3], dtype="Int64"),
            "cat": pd.Categorical(["a", "b", None]),
            "when": pd.to_datetime(["2024-01-01", None, "2024-03-01"]),
        }
    )
    result = fingerprint(data)
    assert [c[1] for c in result.columns][:2] == ["Int64", "category"]
    assert result.columns[2][1].startswith("datetime64")
    assert fingerprint(data) == result


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({"a": [1, 2], "b": [1]}, id="ragged"),
        pytest.param(np.zeros((2, 2, 2)), id="3-d"),
        pytest.param({"c": np.array([1 + 2j])}, id="complex"),
        pytest.param({"o": np.array([object()], dtype=object)}, id="opaque-object"),
    ],
)
def test_refused_inputs(data: object) -> None:
    with pytest.raises(InvalidRequest):
        fingerprint(data)


def test_duplicate_target_name_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="duplicate"):
        fingerprint({"target": [1, 2]}, [0, 1])
