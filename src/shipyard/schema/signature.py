"""A model's input and output signature: names, types and shapes it accepts and returns.

Two kinds:

- ``columns``: a table. Each input field is one column (shape ``(-1,)``: one scalar per row).
  Clients may send one tensor per column, or one 2-D tensor whose columns are in signature
  order. ``frame`` says the model wants a pandas DataFrame with these column names (it was
  fitted on one); otherwise it gets a 2-D numpy array.
- ``tensors``: named N-D tensors, first dimension the batch (``-1`` is any size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from shipyard.errors import InvalidRequest
from shipyard.schema.tabular import is_frame, table_array, table_columns

DTYPES: tuple[str, ...] = (
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "string",
    "bytes",
)
NUMERIC_DTYPES = frozenset(d for d in DTYPES if d not in ("string", "bytes", "bool"))
FLOAT_DTYPES = frozenset({"float16", "float32", "float64"})

SignatureKind = Literal["columns", "tensors"]


def dtype_name(dtype: np.dtype[Any]) -> str:
    """The signature dtype name for a numpy dtype (object and unicode become ``string``)."""
    if dtype.kind in ("U", "O"):
        return "string"
    if dtype.kind == "S":
        return "bytes"
    name = dtype.name
    if name not in DTYPES:
        raise InvalidRequest(f"unsupported dtype {name!r}")
    return name


def numpy_dtype(name: str) -> np.dtype[Any]:
    """The numpy dtype used to hold values of a signature dtype."""
    if name == "string":
        return np.dtype(object)
    if name == "bytes":
        return np.dtype(object)
    return np.dtype(name)


@dataclass(frozen=True)
class FieldSpec:
    """One input column or tensor, or one output."""

    name: str
    dtype: str
    shape: tuple[int, ...] = (-1,)
    nullable: bool = False
    """NaN (or None for strings) is allowed; infinities never are."""

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise InvalidRequest(
                f"field {self.name!r}: unknown dtype {self.dtype!r}", hint=f"use one of {', '.join(DTYPES)}"
            )
        if not self.shape or any(d < -1 or d == 0 for d in self.shape):
            raise InvalidRequest(f"field {self.name!r}: shape {list(self.shape)} is not valid")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}
        if self.nullable:
            out["nullable"] = True
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FieldSpec:
        try:
            return cls(
                name=str(data["name"]),
                dtype=str(data["dtype"]),
                shape=tuple(int(d) for d in data.get("shape", (-1,))),
                nullable=bool(data.get("nullable", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequest(f"invalid field spec {dict(data)!r}: {exc}") from exc


@dataclass(frozen=True)
class Signature:
    """What a model version accepts and returns."""

    kind: SignatureKind
    inputs: tuple[FieldSpec, ...]
    outputs: tuple[FieldSpec, ...] = ()
    frame: bool = False
    _index: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)
    _homogeneous: str | None = field(default=None, init=False, repr=False, compare=False)
    _names: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)
    _dtypes: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)
    _numeric: tuple[str, ...] = field(default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("columns", "tensors"):
            raise InvalidRequest(f"signature kind must be 'columns' or 'tensors', not {self.kind!r}")
        if not self.inputs:
            raise InvalidRequest("a signature needs at least one input")
        names = [f.name for f in self.inputs]
        if len(set(names)) != len(names):
            raise InvalidRequest("signature input names must be unique")
        if self.kind == "columns" and any(f.shape != (-1,) for f in self.inputs):
            raise InvalidRequest("a columns signature has one scalar per row in each column")
        self._index.update({n: i for i, n in enumerate(names)})
        # Asked on every request: computed once.
        dtypes = frozenset(f.dtype for f in self.inputs)
        object.__setattr__(self, "_homogeneous", next(iter(dtypes)) if len(dtypes) == 1 else None)
        object.__setattr__(self, "_names", tuple(names))
        object.__setattr__(self, "_dtypes", dtypes)
        object.__setattr__(self, "_numeric", tuple(f.name for f in self.inputs if f.dtype in NUMERIC_DTYPES))

    @property
    def input_names(self) -> tuple[str, ...]:
        return self._names

    @property
    def numeric_names(self) -> tuple[str, ...]:
        """The inputs of a numeric dtype (not bool, text or bytes), in signature order."""
        return self._numeric

    @property
    def input_dtypes(self) -> frozenset[str]:
        """The dtypes the inputs use, each once."""
        return self._dtypes

    def position(self, name: str) -> int | None:
        return self._index.get(name)

    @property
    def index(self) -> dict[str, int]:
        """Input name to its position (not to be changed: shared by every request)."""
        return self._index

    @property
    def homogeneous_dtype(self) -> str | None:
        """The one dtype all columns share, if they do (then a 2-D matrix can hold them)."""
        return self._homogeneous

    def with_outputs(self, outputs: Sequence[FieldSpec]) -> Signature:
        return Signature(kind=self.kind, inputs=self.inputs, outputs=tuple(outputs), frame=self.frame)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "frame": self.frame,
            "inputs": [f.to_dict() for f in self.inputs],
            "outputs": [f.to_dict() for f in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signature:
        try:
            return cls(
                kind=data["kind"],
                inputs=tuple(FieldSpec.from_dict(f) for f in data["inputs"]),
                outputs=tuple(FieldSpec.from_dict(f) for f in data.get("outputs", ())),
                frame=bool(data.get("frame", False)),
            )
        except (KeyError, TypeError) as exc:
            raise InvalidRequest(f"invalid signature: missing or wrong {exc}") from exc


def infer_signature(sample: Any, *, feature_names: Sequence[str] | None = None) -> Signature:
    """Infer a ``columns`` signature from a sample of training inputs.

    Accepts a table (``schema.tabular``): a pandas DataFrame (names and dtypes from its
    columns, ``frame=True``), a mapping of column name to 1-D values or a list of records,
    or a 2-D numpy array or nested list (columns ``x0..x{k-1}`` unless ``feature_names`` are
    given). Columns whose sample holds NaN are nullable.
    """
    columns = table_columns(sample)
    if columns is not None:
        fields = tuple(_column_field(name, values) for name, values in columns.items())
        return Signature(kind="columns", inputs=fields, frame=is_frame(sample))
    try:
        array = table_array(sample)
    except InvalidRequest as exc:
        raise InvalidRequest(
            f"cannot infer a table signature from a sample of shape {list(np.shape(sample))}",
            hint="pass a 2-D sample (rows x columns) or declare the signature",
        ) from exc
    k = array.shape[1]
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(k)]
    if len(names) != k:
        raise InvalidRequest(f"{len(names)} feature names for {k} sample columns")
    return Signature(kind="columns", inputs=tuple(_column_field(n, array[:, i]) for i, n in enumerate(names)))


def _column_field(name: str, values: np.ndarray[Any, Any]) -> FieldSpec:
    if values.dtype.kind == "O":
        present = [v for v in values.tolist() if v is not None and not (isinstance(v, float) and np.isnan(v))]
        nullable = len(present) != len(values)
        if present and all(isinstance(v, bool) for v in present):
            return FieldSpec(name, "bool", nullable=nullable)
        if present and all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
            return FieldSpec(name, "float64", nullable=nullable)
        return FieldSpec(name, "string", nullable=nullable)
    kind = values.dtype.kind
    if kind == "f":
        return FieldSpec(name, dtype_name(values.dtype), nullable=bool(np.isnan(values).any()))
    if kind in ("U", "S"):
        return FieldSpec(name, dtype_name(values.dtype))
    if kind in ("i", "u", "b"):
        return FieldSpec(name, dtype_name(values.dtype))
    if kind == "M":
        return FieldSpec(name, "string")
    return FieldSpec(name, dtype_name(values.dtype))
