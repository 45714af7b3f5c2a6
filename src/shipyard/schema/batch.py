"""What flows through the data plane: raw decoded inputs, and validated batches.

Protocol adapters decode a wire format into ``RawInputs`` (named or unnamed numpy arrays,
typed by the wire where it says, else by numpy). ``shipyard.schema.validate`` checks them
against a ``Signature`` and returns a ``Batch``: rows ready for a model, in signature order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from shipyard.schema.signature import Signature, numpy_dtype
from shipyard.schema.tabular import table_array, table_columns

if TYPE_CHECKING:
    import pandas as pd

Outputs = dict[str, np.ndarray]
"""A model's answer: output name to an array whose first dimension is the rows."""


def misshapen_output(names: Iterable[str], outputs: Outputs, rows: int) -> str | None:
    """The first of ``names`` that ``outputs`` lacks or does not answer with ``rows`` rows."""
    for name in names:
        got = outputs.get(name)
        if got is None or len(got) != rows:
            return name
    return None


@dataclass(frozen=True)
class RawInput:
    """One decoded input as the caller sent it, not yet checked against a signature."""

    name: str | None
    """The tensor or column name the wire format gave; None where it gives none."""
    array: np.ndarray
    column_names: tuple[str, ...] | None = None
    """For a 2-D table whose columns the caller named (MLflow ``dataframe_split``, CSV)."""
    declared_dtype: str | None = None
    """The datatype the caller declared (V2 ``datatype``), as a signature dtype name."""


@dataclass(frozen=True)
class RawInputs:
    items: tuple[RawInput, ...]
    parameters: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_table(cls, data: Any) -> RawInputs:
        """A table (``schema.tabular``) as a client request would decode: one named input
        per column, or one unnamed ``[n, k]`` matrix."""
        columns = table_columns(data)
        if columns is not None:
            return cls(tuple(RawInput(name, array) for name, array in columns.items()))
        return cls((RawInput(None, table_array(data)),))


class Batch:
    """Validated rows for one ``predict`` call.

    For a ``columns`` signature the rows are held either as one 2-D matrix (all columns of
    one dtype, the fast path) or as one 1-D array per column; ``as_matrix`` and ``as_frame``
    give the form a model wants without copying more than needed. For a ``tensors``
    signature, ``tensors`` maps each input name to its N-D array.
    """

    __slots__ = ("_columns", "_matrix", "n_rows", "signature", "tensors")

    def __init__(
        self,
        signature: Signature,
        *,
        matrix: np.ndarray | None = None,
        columns: Mapping[str, np.ndarray] | None = None,
        tensors: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        self.signature = signature
        self._matrix = matrix
        self._columns = dict(columns) if columns is not None else None
        self.tensors: dict[str, np.ndarray] = dict(tensors) if tensors is not None else {}
        if matrix is not None:
            self.n_rows = int(matrix.shape[0])
        elif self._columns:
            self.n_rows = len(next(iter(self._columns.values())))
        elif self.tensors:
            self.n_rows = int(next(iter(self.tensors.values())).shape[0])
        else:
            raise ValueError("a Batch needs a matrix, columns or tensors")

    def __len__(self) -> int:
        return self.n_rows

    def as_matrix(self, dtype: Any = None) -> np.ndarray:
        """The rows as one 2-D array in signature column order."""
        if self._matrix is None:
            assert self._columns is not None, "tensor batches have no matrix"
            names = self.signature.input_names
            target = np.dtype(dtype) if dtype is not None else np.result_type(*(self._columns[n] for n in names))
            out = np.empty((self.n_rows, len(names)), dtype=target)
            for i, name in enumerate(names):
                out[:, i] = self._columns[name]
            self._matrix = out
        if dtype is not None and self._matrix.dtype != np.dtype(dtype):
            return self._matrix.astype(dtype)
        return self._matrix

    @property
    def layout(self) -> tuple[str, ...]:
        """The dtypes the rows are held in: one for a matrix, one per column otherwise.
        Two batches of one signature concatenate without a cast when their layouts match."""
        if self._matrix is not None:
            return ("matrix", self._matrix.dtype.str)
        if self.tensors:
            return tuple(f"{n}:{a.dtype.str}:{a.shape[1:]}" for n, a in self.tensors.items())
        assert self._columns is not None
        return tuple(self._columns[n].dtype.str for n in self.signature.input_names)

    def column(self, name: str) -> np.ndarray:
        if self._columns is not None:
            return self._columns[name]
        position = self.signature.position(name)
        if position is None or self._matrix is None:
            raise KeyError(name)
        return self._matrix[:, position]

    def columns(self) -> dict[str, np.ndarray]:
        return {name: self.column(name) for name in self.signature.input_names}

    def as_frame(self) -> pd.DataFrame:
        """The rows as a pandas DataFrame with the signature's column names and dtypes."""
        import pandas as pd

        data = {}
        for spec in self.signature.inputs:
            values = self.column(spec.name)
            target = numpy_dtype(spec.dtype)
            data[spec.name] = values if values.dtype == target else values.astype(target)
        return pd.DataFrame(data, copy=False)

    def take(self, start: int, stop: int) -> Batch:
        """Rows ``start:stop`` as a new batch (views, no copy)."""
        if self.tensors:
            return Batch(self.signature, tensors={k: v[start:stop] for k, v in self.tensors.items()})
        if self._matrix is not None:
            return Batch(self.signature, matrix=self._matrix[start:stop])
        assert self._columns is not None
        return Batch(self.signature, columns={k: v[start:stop] for k, v in self._columns.items()})

    @staticmethod
    def concat(batches: Sequence[Batch]) -> Batch:
        """One batch holding the rows of ``batches`` in order (same signature)."""
        first = batches[0]
        if len(batches) == 1:
            return first
        if first.tensors:
            return Batch(
                first.signature,
                tensors={k: np.concatenate([b.tensors[k] for b in batches]) for k in first.tensors},
            )
        if all(b._matrix is not None for b in batches):
            return Batch(first.signature, matrix=np.concatenate([b.as_matrix() for b in batches]))
        names = first.signature.input_names
        return Batch(first.signature, columns={n: np.concatenate([b.column(n) for b in batches]) for n in names})
