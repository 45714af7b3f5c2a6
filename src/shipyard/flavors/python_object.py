"""A live Python object with ``predict``, served as a model.

Used for Python-class models and for trusted pickles that hold something other than a
scikit-learn estimator. The object gets a pandas DataFrame when the signature says the
model wants one, a dict of arrays for a ``tensors`` signature, else a 2-D numpy array,
and its answer becomes the ``predict`` output.

Thread safety: nothing is known about the object, so calls are serialised with a lock
unless its author declared it thread safe.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from shipyard.errors import ModelLoadError, ShipyardError
from shipyard.flavors.base import LoadedModel
from shipyard.flavors.classifier_outputs import PREDICT
from shipyard.schema.batch import Batch, Outputs
from shipyard.schema.signature import NUMERIC_DTYPES, FieldSpec

logger = logging.getLogger(__name__)

DEFAULT_OUTPUTS = (FieldSpec(PREDICT, "float64"),)


class PythonObjectModel(LoadedModel):
    """Wraps an object whose ``predict`` takes the rows and returns one array."""

    flavor = "python"
    # Arbitrary code may look across rows (normalise by the batch mean, say), so requests
    # must not be merged into micro-batches.
    row_independent = False

    def __init__(
        self,
        obj: Any,
        *,
        outputs: Sequence[FieldSpec] = DEFAULT_OUTPUTS,
        thread_safe: bool = False,
        keepalive: Any = None,
    ) -> None:
        if not callable(getattr(obj, "predict", None)):
            raise ModelLoadError(f"{type(obj).__name__} has no predict method")
        self._obj = obj
        self._outputs = tuple(outputs)
        if [o.name for o in self._outputs] != [PREDICT]:
            raise ModelLoadError("a Python-class model has exactly one output, named 'predict'")
        self._lock: threading.Lock | None = None if thread_safe else threading.Lock()
        # Holds resources (the extracted code directory) for as long as the model lives.
        self._keepalive = keepalive

    @property
    def outputs(self) -> tuple[FieldSpec, ...]:
        return self._outputs

    @property
    def wrapped_type(self) -> str:
        cls = type(self._obj)
        return f"{cls.__module__}.{cls.__qualname__}"

    def predict(self, batch: Batch) -> Outputs:
        if batch.tensors:
            data: Any = dict(batch.tensors)
        elif batch.signature.frame:
            data = batch.as_frame()
        else:
            data = batch.as_matrix()
        with self._serialised():
            result = self._obj.predict(data)
        return {PREDICT: _as_output(result, self._outputs[0], batch.n_rows)}

    @contextlib.contextmanager
    def _serialised(self) -> Iterator[None]:
        if self._lock is None:
            yield
            return
        with self._lock:
            yield


def _as_output(result: Any, spec: FieldSpec, n_rows: int) -> np.ndarray:
    if hasattr(result, "to_numpy"):
        result = result.to_numpy()
    array = np.asarray(result)
    if array.ndim == 0 or array.shape[0] != n_rows:
        raise ShipyardError(
            f"predict returned shape {list(array.shape)} for {n_rows} rows",
            hint="predict must return one answer per input row",
        )
    if spec.dtype == "string":
        return array if array.dtype.kind == "O" else array.astype(object)
    if spec.dtype in NUMERIC_DTYPES and array.dtype.kind in ("i", "u", "f", "b"):
        return array.astype(spec.dtype, copy=False)
    return array
