"""Input files read in chunks of exactly ``chunk_rows`` rows: Parquet and CSV, with pyarrow.

Chunk ``i`` is always rows ``[i * chunk_rows, (i + 1) * chunk_rows)`` of the file, whatever
the file's row groups or the CSV reader's blocks are: the reader's batches are cut and joined
again (``_exact``). That makes a chunk's index a checkpoint: a resumed run starts reading at
row ``done * chunk_rows`` (Parquet skips whole row groups before it; CSV skips the rows
without converting them) and produces the same chunks a clean run would.

Only the signature's columns are read; other columns of the file are left alone. A column the
signature needs and the file lacks, and (Parquet) a column whose type can never fit its field,
refuse the whole input before anything is scored. A CSV file's text is typed per field by
``text_columns``. A structurally broken CSV (a row with the wrong number of fields) stops the
run with the reader's message: which rows it meant cannot be told.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shipyard.batch.text_columns import parse_text_columns
from shipyard.errors import InvalidRequest, MalformedRequest, SignatureMismatch
from shipyard.schema.rows import Refusals, column_refusal
from shipyard.schema.signature import Signature

logger = logging.getLogger(__name__)

PARQUET = "parquet"
CSV = "csv"
FORMATS = {".parquet": PARQUET, ".pq": PARQUET, ".csv": CSV}
_PARQUET_MAGIC = b"PAR1"
_CSV_BLOCK_BYTES = 4 * 1024 * 1024
_SHOWN = 5


@dataclass(frozen=True)
class Chunk:
    """Rows ``[first_row, first_row + rows)`` of the input."""

    index: int
    first_row: int
    table: pa.Table
    """The signature's columns as the file holds them (a CSV file's as text): what a reject shows."""
    typed: pa.Table
    """The same columns in the types the fields take (Parquet: ``table`` itself)."""
    unreadable: Refusals | None
    """Rows with a cell the reader could not parse as its field's type (CSV), with why."""
    read_bytes: int | None = None
    """How far into the file the reader has got (CSV: progress by bytes)."""

    @property
    def rows(self) -> int:
        return int(self.table.num_rows)


class Source(Protocol):
    """An input file opened for one signature."""

    total_rows: int | None
    """The file's rows, when its metadata says (Parquet)."""
    total_bytes: int

    def chunks(self, chunk_rows: int, start_chunk: int) -> Iterator[Chunk]:
        """Chunks ``start_chunk``, ``start_chunk + 1``... to the end of the file."""
        ...


def input_format(name: str, path: Path) -> str:
    """``parquet`` or ``csv``, by the name's suffix, else by the file's first bytes."""
    suffix = Path(name).suffix.lower()
    if suffix in FORMATS:
        return FORMATS[suffix]
    with path.open("rb") as handle:
        if handle.read(len(_PARQUET_MAGIC)) == _PARQUET_MAGIC:
            return PARQUET
    raise InvalidRequest(
        f"cannot tell the format of input {name}",
        hint="batch scoring reads Parquet (.parquet, .pq) and CSV with a header row (.csv)",
    )


def open_source(path: Path, fmt: str, signature: Signature, *, name: str) -> Source:
    """The input at ``path`` (``name``: as the user gave it, for messages), checked against
    ``signature``: ``SignatureMismatch`` when a column is missing or can never fit."""
    if signature.kind != "columns":
        raise InvalidRequest(
            "batch scoring takes models whose signature is a table of columns; this one takes tensors",
            hint="score tensor models through the server or the SDK",
        )
    if fmt == PARQUET:
        return ParquetSource(path, signature, name=name)
    return CsvSource(path, signature, name=name)


def _check_columns(signature: Signature, present: Sequence[str], name: str) -> None:
    have = set(present)
    missing = [n for n in signature.input_names if n not in have]
    if missing:
        shown = ", ".join(repr(n) for n in missing[:_SHOWN])
        more = f" and {len(missing) - _SHOWN} more" if len(missing) > _SHOWN else ""
        raise SignatureMismatch(
            f"input {name} lacks the model's column(s) {shown}{more}",
            hint="the input needs every column of the model's signature (`shipyard models show REF`)",
        )


def _exact(batches: Iterator[pa.RecordBatch], rows: int, skip: int) -> Iterator[pa.Table]:
    """The rows of ``batches`` after the first ``skip``, as tables of exactly ``rows`` rows
    (the last may be shorter)."""
    pending: list[pa.RecordBatch] = []
    held = 0
    for read in batches:
        batch = read
        if skip:
            if batch.num_rows <= skip:
                skip -= batch.num_rows
                continue
            batch, skip = batch.slice(skip), 0
        if not batch.num_rows:
            continue
        pending.append(batch)
        held += batch.num_rows
        while held >= rows:
            table = pa.Table.from_batches(pending)
            yield table.slice(0, rows).combine_chunks()
            rest = table.slice(rows)
            pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending).combine_chunks()


class ParquetSource:
    """A Parquet file: its row count from the footer, its columns typed by the file."""

    def __init__(self, path: Path, signature: Signature, *, name: str) -> None:
        self._signature = signature
        self._name = name
        try:
            self._file = pq.ParquetFile(path)
        except (pa.ArrowException, OSError) as exc:
            raise MalformedRequest(f"cannot read input {name} as Parquet: {_first_line(exc)}") from exc
        schema = self._file.schema_arrow
        _check_columns(signature, schema.names, name)
        for spec in signature.inputs:
            refusal = column_refusal(spec, _numpy_dtype(schema.field(spec.name).type))
            if refusal is not None:
                raise SignatureMismatch(
                    f"input {name}: {refusal} (the file's type is {schema.field(spec.name).type})",
                    hint="convert the column to the type the model's signature names",
                )
        metadata = self._file.metadata
        self.total_rows: int | None = metadata.num_rows
        self.total_bytes = path.stat().st_size
        self._group_rows = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]

    def chunks(self, chunk_rows: int, start_chunk: int) -> Iterator[Chunk]:
        start = start_chunk * chunk_rows
        first_group, skip = 0, start
        while first_group < len(self._group_rows) and skip >= self._group_rows[first_group]:
            skip -= self._group_rows[first_group]
            first_group += 1
        if first_group == len(self._group_rows):
            return
        batches = self._file.iter_batches(
            batch_size=chunk_rows,
            row_groups=range(first_group, len(self._group_rows)),
            columns=list(self._signature.input_names),
        )
        try:
            for index, table in enumerate(_exact(batches, chunk_rows, skip), start=start_chunk):
                yield Chunk(index, index * chunk_rows, table, table, None)
        except pa.ArrowException as exc:
            raise MalformedRequest(f"cannot read input {self._name}: {_first_line(exc)}") from exc


class CsvSource:
    """A CSV file with a header row: the signature's columns read as text, then typed."""

    def __init__(self, path: Path, signature: Signature, *, name: str) -> None:
        self._path = path
        self._signature = signature
        self._name = name
        _check_columns(signature, _header(path, name), name)
        self.total_rows: int | None = None
        self.total_bytes = path.stat().st_size

    def chunks(self, chunk_rows: int, start_chunk: int) -> Iterator[Chunk]:
        names = list(self._signature.input_names)
        stream = pa.OSFile(str(self._path))
        try:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(
                    block_size=_CSV_BLOCK_BYTES, skip_rows_after_names=start_chunk * chunk_rows
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict.fromkeys(names, pa.string()),
                    include_columns=names,
                    strings_can_be_null=False,
                ),
            )
            for index, table in enumerate(_exact(iter(reader), chunk_rows, 0), start=start_chunk):
                typed, unreadable = parse_text_columns(table, self._signature)
                yield Chunk(index, index * chunk_rows, table, typed, unreadable, read_bytes=stream.tell())
        except pa.ArrowException as exc:
            raise MalformedRequest(
                f"cannot read input {self._name} as CSV: {_first_line(exc)}",
                hint="every row needs as many fields as the header; quote fields that hold commas or newlines",
            ) from exc
        finally:
            stream.close()


def _header(path: Path, name: str) -> list[str]:
    """The column names of a CSV file's header row."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            row = next(csv.reader(handle), None)
    except (UnicodeDecodeError, csv.Error, OSError) as exc:
        raise MalformedRequest(f"cannot read the header row of input {name}: {exc}") from exc
    if not row:
        raise MalformedRequest(f"input {name} is empty: a CSV input needs a header row")
    return row


def _numpy_dtype(kind: pa.DataType) -> np.dtype[Any]:
    """What numpy holds a column of Arrow type ``kind`` in (as ``chunks`` hands it over)."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind):
        return np.dtype(object)
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return np.dtype("S")
    if pa.types.is_nested(kind):
        return np.dtype("V8")  # lists, structs, maps: no field takes them
    try:
        dtype: np.dtype[Any] = np.dtype(kind.to_pandas_dtype())
    except (NotImplementedError, TypeError):
        return np.dtype(object)
    return dtype


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
