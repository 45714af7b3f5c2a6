from __future__ import annotations

import pytest

from shipyard.schema.signature import FieldSpec, Signature


@pytest.fixture
def float_signature() -> Signature:
    return Signature(
        kind="columns",
        inputs=(FieldSpec("x0", "float64"), FieldSpec("x1", "float64"), FieldSpec("x2", "float64", nullable=True)),
        outputs=(FieldSpec("y", "float64"),),
    )


@pytest.fixture
def mixed_signature() -> Signature:
    return Signature(
        kind="columns",
        inputs=(FieldSpec("age", "float64", nullable=True), FieldSpec("city", "string"), FieldSpec("member", "bool")),
        outputs=(FieldSpec("score", "float64"),),
        frame=True,
    )


@pytest.fixture
def tensor_signature() -> Signature:
    return Signature(
        kind="tensors",
        inputs=(FieldSpec("image", "float32", (-1, 2, 2)), FieldSpec("label", "string", (-1,))),
        outputs=(FieldSpec("logits", "float32", (-1, 3)),),
    )
