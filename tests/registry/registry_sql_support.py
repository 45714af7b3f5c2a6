"""Drafts to register and process bodies for the SQL registry store's tests.

The worker functions run in ``spawn``ed processes, so they live in an importable module
(not a test module) and take only picklable arguments.
"""

from __future__ import annotations

import traceback
from typing import Any

from shipyard.registry.sql import RegistryStore
from shipyard.registry.types import ArtifactRef, DataFingerprint, Lineage, VersionDraft
from shipyard.schema.signature import FieldSpec, Signature

SIGNATURE = Signature("columns", (FieldSpec("x", "float64"), FieldSpec("y", "int64")), (FieldSpec("p", "float64"),))


def draft(**changes: Any) -> VersionDraft:
    """A minimal valid draft; ``changes`` override fields."""
    values: dict[str, Any] = {
        "flavor": "sklearn",
        "artifact": ArtifactRef("0" * 64, 123, "model.skops"),
        "signature": SIGNATURE,
    }
    values.update(changes)
    return VersionDraft(**values)


def full_draft(parent_version: int | None = None) -> VersionDraft:
    """A draft with every field set to something other than its default."""
    return VersionDraft(
        flavor="onnx",
        artifact=ArtifactRef("ab" * 32, 2**40, "modèle.onnx"),
        signature=Signature(
            "tensors",
            (FieldSpec("image", "float32", (-1, 28, 28)), FieldSpec("mask", "bool", (-1, 28, 28), nullable=True)),
            (FieldSpec("label", "int64"),),
        ),
        lineage=Lineage(
            training_data=DataFingerprint("cd" * 32, 1000, (("a", "float64"), ("target", "int64"))),
            profile={"columns": {"a": {"mean": 0.5, "hist": [1, 2, 3]}}, "rows": 1000},
            metrics={"accuracy": 0.93, "loss": 1e-9},
            params={"depth": 3, "nested": {"lr": 0.1, "layers": [64, 32]}, "name": "ünïcode"},
            code_version="0123abcd+dirty",
            environment={"python": "3.11.7", "numpy": "1.26.4"},
        ),
        description="the first — with “unicode” and\nnewlines",
        created_by="alice@example.com",
        parent_version=parent_version,
        trusted_types=("sklearn.tree.DecisionTreeClassifier", "numpy.dtype"),
        unsafe_format=True,
        trust_code=True,
        tags={"team": "vision", "stage": "experimental", "empty": ""},
        input_example={"columns": ["a", "b"], "data": [[1.5, "x"], [None, "y"]]},
        flavor_metadata={"opset": 17, "inputs": {"image": [1, 28, 28]}, "quantized": False},
    )


def register_one(url: str, name: str, index: int, barrier: Any, results: Any) -> None:
    """Open a store and register one version of ``name``, all processes starting together."""
    try:
        barrier.wait(timeout=180)
        store = RegistryStore(url)
        try:
            version = store.add_version(name, draft(tags={"worker": str(index)}), owner=f"worker-{index}")
        finally:
            store.close()
        results.put((index, "ok", version.version))
    except BaseException as exc:
        results.put((index, "error", f"{type(exc).__module__}.{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))


def open_store(url: str, index: int, barrier: Any, results: Any) -> None:
    """Open (and so migrate) a store, all processes starting together."""
    try:
        barrier.wait(timeout=180)
        RegistryStore(url).close()
        results.put((index, "ok", None))
    except BaseException as exc:
        results.put((index, "error", f"{type(exc).__module__}.{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
