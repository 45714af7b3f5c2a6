from __future__ import annotations

import pytest

from shipyard.schema.signature import FieldSpec, Signature


@pytest.fixture
def float_signature() -> Signature:
    """Three float64 columns: the fast path (one contiguous matrix)."""
    return Signature(
        kind="columns",
        inputs=(FieldSpec("x0", "float64"), FieldSpec("x1", "float64"), FieldSpec("x2", "float64", nullable=True)),
        outputs=(FieldSpec("y", "float64"),),
    )


@pytest.fixture
def mixed_signature() -> Signature:
    """Columns of different dtypes, one of them text: per-column arrays."""
    return Signature(
        kind="columns",
        inputs=(
            FieldSpec("age", "float64", nullable=True),
            FieldSpec("city", "string"),
            FieldSpec("member", "bool"),
            FieldSpec("visits", "int32"),
        ),
        outputs=(FieldSpec("score", "float64"),),
        frame=True,
    )


@pytest.fixture
def tensor_signature() -> Signature:
    """Named N-D tensors with a batch axis."""
    return Signature(
        kind="tensors",
        inputs=(FieldSpec("image", "float32", (-1, 2, 2)), FieldSpec("mask", "bool", (-1, 2))),
        outputs=(FieldSpec("logits", "float32", (-1, 3)),),
    )
