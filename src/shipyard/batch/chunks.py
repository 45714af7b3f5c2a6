"""One chunk through the data plane's steps: validate, set refused rows aside, predict.

``ChunkScorer`` is the unit every engine runs: the local engine calls it on a thread per
chunk; a Ray engine would hand it to Ray Data's ``map_batches`` (it takes and gives Arrow
tables, and holds nothing but the loaded model). Per chunk:

1. each signature column to numpy, with its missing values (Arrow's null masks);
2. ``validate_inputs``, the data plane's own check, on every row at once: the usual chunk
   passes and goes straight to 4;
3. otherwise ``schema.rows.refused_rows`` finds the rows the signature refuses, whole
   columns at a time (joined to the rows the reader could not parse, CSV), and the other
   rows go through ``validate_inputs`` into a ``Batch``. Should it still refuse some (a rule
   ``schema.rows`` does not know), the rows are halved until each refused row stands alone,
   so one bad row never fails its chunk;
4. the model predicts on the batch (a model that raises on valid rows stops the run, as a
   request would fail: ``ModelError``);
5. the outputs become an Arrow table with the row ids, the model's name and version; the
   refused rows a rejects table with their values as text and the reason.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from shipyard.batch.sources import Chunk
from shipyard.errors import InvalidRequest, ModelError, ShipyardError, SignatureMismatch
from shipyard.flavors.base import LoadedModel
from shipyard.registry.types import ModelVersion
from shipyard.schema.batch import Batch, Outputs, RawInput, RawInputs, misshapen_output
from shipyard.schema.rows import Refusals, refused_rows
from shipyard.schema.signature import FLOAT_DTYPES, FieldSpec, Signature
from shipyard.schema.validate import validate_inputs

logger = logging.getLogger(__name__)

ROW_ID = "row_id"
"""The row's position in the input (0 is the first data row), in outputs and rejects alike."""
MODEL = "model"
VERSION = "model_version"
REASON = "reason"


@dataclass(frozen=True)
class ScoredChunk:
    index: int
    rows: int
    """Input rows the chunk held (scored + rejected)."""
    outputs: pa.Table
    rejects: pa.Table
    read_bytes: int | None = None


def _arrow_type(spec: FieldSpec) -> pa.DataType:
    if spec.dtype == "string":
        base = pa.string()
    elif spec.dtype == "bytes":
        base = pa.binary()
    else:
        base = pa.from_numpy_dtype(np.dtype(spec.dtype))
    kind: pa.DataType = base
    for width in reversed(spec.shape[1:]):
        kind = pa.list_(kind, width) if width > 0 else pa.list_(kind)
    return kind


def output_schema(outputs: Sequence[FieldSpec]) -> pa.Schema:
    """Row id, the model's outputs in its order, then the model's name and version."""
    fields = [pa.field(ROW_ID, pa.int64(), nullable=False)]
    fields += [pa.field(spec.name, _arrow_type(spec)) for spec in outputs]
    fields += [pa.field(MODEL, pa.string(), nullable=False), pa.field(VERSION, pa.int64(), nullable=False)]
    return pa.schema(fields)


def rejects_schema(signature: Signature) -> pa.Schema:
    """Row id, the reason, then every input column as text (as the file held it)."""
    fields = [pa.field(ROW_ID, pa.int64(), nullable=False), pa.field(REASON, pa.string(), nullable=False)]
    return pa.schema(fields + [pa.field(name, pa.string()) for name in signature.input_names])


def check_column_names(signature: Signature, outputs: Sequence[FieldSpec]) -> None:
    """Refuse a model whose names clash with the columns batch scoring adds."""
    clash = sorted({s.name for s in outputs} & {ROW_ID, MODEL, VERSION})
    clash += sorted(set(signature.input_names) & {ROW_ID, REASON})
    if clash:
        raise InvalidRequest(
            f"the model's column {clash[0]!r} has the name of a column batch scoring adds",
            hint=f"batch scoring adds {ROW_ID}, {MODEL} and {VERSION} to the outputs, {ROW_ID} and {REASON} to rejects",
        )


class ChunkScorer:
    """Scores chunks with one loaded model version; safe to call from several threads."""

    def __init__(self, model: LoadedModel, version: ModelVersion) -> None:
        self._model = model
        self._version = version
        self._signature = version.signature
        self._outputs = model.outputs
        check_column_names(self._signature, self._outputs)
        self.output_schema = output_schema(self._outputs)
        self.rejects_schema = rejects_schema(self._signature)

    def __call__(self, chunk: Chunk) -> ScoredChunk:
        columns: dict[str, np.ndarray] = {}
        nulls: dict[str, np.ndarray] = {}
        for spec in self._signature.inputs:
            values, missing = _numpy_column(chunk.typed.column(spec.name).combine_chunks(), spec)
            columns[spec.name] = values
            if missing is not None:
                nulls[spec.name] = missing
        # Nulls that the arrays show (NaN, None) the data plane's check sees; those of integer
        # and bool columns (placeholders in the array) only the null masks tell.
        hidden = any(columns[name].dtype.kind in "iub" for name in nulls)
        if chunk.unreadable is None and not hidden:
            try:
                # The usual chunk: one check of every row, as a request gets.
                whole = self._batch(columns, None)
            except SignatureMismatch:
                pass  # some rows are refused: find them below
            else:
                outputs = self._outputs_table(chunk, np.arange(chunk.rows), self._predict(whole, chunk))
                return ScoredChunk(
                    chunk.index, chunk.rows, outputs, self.rejects_schema.empty_table(), chunk.read_bytes
                )
        refusals = _join(chunk.unreadable, refused_rows(self._signature, columns, nulls))
        kept = np.flatnonzero(~refusals.refused)
        batch, late = self._validate(columns, kept)
        if late:
            positions = np.fromiter((p for p, _ in late), dtype=np.int64, count=len(late))
            refusals.refused[positions] = True
            refusals.reasons[positions] = [reason for _, reason in late]
            kept = np.flatnonzero(~refusals.refused)
        outputs = self._outputs_table(chunk, kept, self._predict(batch, chunk) if batch is not None else None)
        return ScoredChunk(chunk.index, chunk.rows, outputs, self._rejects_table(chunk, refusals), chunk.read_bytes)

    # -- validation ----------------------------------------------------------------------------
    def _batch(self, columns: dict[str, np.ndarray], rows: np.ndarray | None) -> Batch:
        picked = columns if rows is None else {name: values[rows] for name, values in columns.items()}
        raw = RawInputs(tuple(RawInput(name, values) for name, values in picked.items()))
        n = len(next(iter(picked.values())))
        return validate_inputs(self._signature, raw, max_rows=max(n, 1))

    def _validate(self, columns: dict[str, np.ndarray], kept: np.ndarray) -> tuple[Batch | None, list[tuple[int, str]]]:
        """The batch of the ``kept`` rows, and rows ``validate_inputs`` refused among them."""
        if not kept.size:
            return None, []
        try:
            return self._batch(columns, kept), []
        except SignatureMismatch as exc:
            logger.warning("validation refused rows schema.rows let through (%s); finding them", exc.message)
        accepted, refused = self._narrow(columns, kept)
        return (self._batch(columns, accepted) if accepted.size else None), refused

    def _narrow(self, columns: dict[str, np.ndarray], rows: np.ndarray) -> tuple[np.ndarray, list[tuple[int, str]]]:
        """``rows`` split into those ``validate_inputs`` accepts and those it refuses alone."""
        try:
            self._batch(columns, rows)
            return rows, []
        except SignatureMismatch as exc:
            if rows.size == 1:
                return rows[:0], [(int(rows[0]), exc.message)]
        half = rows.size // 2
        left, left_refused = self._narrow(columns, rows[:half])
        right, right_refused = self._narrow(columns, rows[half:])
        return np.concatenate([left, right]), left_refused + right_refused

    # -- prediction ----------------------------------------------------------------------------
    def _predict(self, batch: Batch, chunk: Chunk) -> Outputs:
        ref = self._version.ref
        try:
            outputs = self._model.predict(batch)
        except ShipyardError:
            raise
        except Exception as exc:
            # As on the serving path: the message may quote input values, so only its type
            # and where it was raised are logged.
            logger.error(
                "model %s failed on chunk %d (%d rows): %s (message not logged)\n%s",
                ref, chunk.index, batch.n_rows, type(exc).__name__,
                "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
            )  # fmt: skip
            raise ModelError(
                f"model {ref} failed on rows {chunk.first_row}-{chunk.first_row + chunk.rows - 1}: "
                f"{type(exc).__name__}",
                hint="the rows scored so far are kept: rerun the same command to resume after fixing the cause",
            ) from exc
        misshapen = misshapen_output((spec.name for spec in self._outputs), outputs, batch.n_rows)
        if misshapen is not None:
            raise ModelError(f"model {ref} did not answer output {misshapen!r} with one row per input row")
        return outputs

    def _outputs_table(self, chunk: Chunk, kept: np.ndarray, outputs: Outputs | None) -> pa.Table:
        if outputs is None:
            return self.output_schema.empty_table()
        n = kept.size
        arrays: list[pa.Array] = [pa.array(kept + chunk.first_row, pa.int64())]
        for spec, field in zip(self._outputs, self.output_schema.types[1:], strict=False):
            arrays.append(_output_array(outputs[spec.name], field, spec.name, self._version.ref))
        arrays.append(pa.repeat(pa.scalar(self._version.model, pa.string()), n))
        arrays.append(pa.repeat(pa.scalar(self._version.version, pa.int64()), n))
        return pa.Table.from_arrays(arrays, schema=self.output_schema)

    def _rejects_table(self, chunk: Chunk, refusals: Refusals) -> pa.Table:
        positions = np.flatnonzero(refusals.refused)
        if not positions.size:
            return self.rejects_schema.empty_table()
        taken = chunk.table.take(pa.array(positions))
        arrays: list[pa.Array] = [
            pa.array(positions + chunk.first_row, pa.int64()),
            pa.array(refusals.reasons[positions], pa.string()),
        ]
        arrays += [_as_text(taken.column(name).combine_chunks()) for name in self._signature.input_names]
        return pa.Table.from_arrays(arrays, schema=self.rejects_schema)


def _numpy_column(column: pa.Array, spec: FieldSpec) -> tuple[np.ndarray, np.ndarray | None]:
    """A column's values as numpy and, when it has nulls, their mask. Nulls become NaN where
    the values are (or become) floats, a placeholder elsewhere (the mask marks them)."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not column.null_count:
        return column.to_numpy(zero_copy_only=False), None
    missing = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    kind = column.type
    if pa.types.is_integer(kind) and spec.dtype not in FLOAT_DTYPES:
        column = pc.fill_null(column, 0)
    elif pa.types.is_boolean(kind):
        column = pc.fill_null(column, False)
    return column.to_numpy(zero_copy_only=False), missing


def _join(first: Refusals | None, second: Refusals) -> Refusals:
    """Both refusals; where both refuse a row, ``first``'s reason."""
    if first is None:
        return second
    reasons = np.where(first.refused, first.reasons, second.reasons)
    return Refusals(refused=first.refused | second.refused, reasons=reasons)


def _output_array(values: np.ndarray, kind: pa.DataType, name: str, ref: str) -> pa.Array:
    """One output of the model as an Arrow array of the output schema's type ``kind``."""
    if pa.types.is_fixed_size_list(kind) or pa.types.is_list(kind):
        if values.ndim == 2 and pa.types.is_primitive(kind.value_type):
            width = values.shape[1]
            if pa.types.is_fixed_size_list(kind) and width != kind.list_size:
                raise ModelError(f"model {ref} answered output {name!r} with {width} columns, not {kind.list_size}")
            flat = pa.array(values.reshape(-1)).cast(kind.value_type)
            if pa.types.is_fixed_size_list(kind):
                return pa.FixedSizeListArray.from_arrays(flat, width)
            offsets = pa.array(np.arange(0, values.size + 1, max(width, 1), dtype=np.int32))
            return pa.ListArray.from_arrays(offsets, flat)
        return pa.array(values.tolist(), type=kind)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values.reshape(-1)
    if values.ndim != 1:
        raise ModelError(
            f"model {ref} answered output {name!r} with shape {list(values.shape)}; one value per row expected"
        )
    if values.dtype.kind == "O":
        return pa.array(values, type=kind)
    return pa.array(values).cast(kind)


def _as_text(column: pa.Array) -> pa.Array:
    """A column's values as text, null kept null (what a rejects file shows)."""
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_string(column.type):
        return column
    try:
        return pc.cast(column, pa.string())
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())
