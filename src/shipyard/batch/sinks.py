"""A run's results on disk: each chunk's part files, then the output and rejects files.

Parts are Arrow IPC files in the staging directory, written whole or not at all
(``fs/durable``). At the end the parts are read back in chunk order and written into one
file each, one row group per chunk: the output as Parquet, the rejects as Parquet or CSV
(by the rejects path's suffix). Nothing in them depends on when or how often the run was
interrupted (no timestamps, no file paths, the same writer options), so a resumed run's
files are byte for byte those of a clean run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from shipyard.errors import InvalidRequest, StorageError
from shipyard.fs.durable import publish, temp_beside

PARQUET = "parquet"
CSV = "csv"
OUTPUT_FORMATS = {".parquet": PARQUET, ".pq": PARQUET}
REJECTS_FORMATS = {".parquet": PARQUET, ".pq": PARQUET, ".csv": CSV}
_COMPRESSION = "zstd"
"""Of the output and rejects files."""


def output_format(name: str) -> str:
    """The output is Parquet: its name must say so."""
    return _format(name, OUTPUT_FORMATS, f"the output {name} is not named as a Parquet file", ".parquet")


def rejects_format(name: str) -> str:
    """``parquet`` or ``csv``, by the rejects file's name."""
    return _format(name, REJECTS_FORMATS, f"the rejects file {name} is neither Parquet nor CSV", ".parquet or .csv")


def _format(name: str, formats: dict[str, str], refusal: str, suffixes: str) -> str:
    found = formats.get(Path(name).suffix.lower())
    if found is None:
        raise InvalidRequest(refusal, hint=f"name it {suffixes}")
    return found


def write_part(table: pa.Table, path: Path) -> None:
    """``table`` as the Arrow IPC file ``path``, whole or not at all. Parts are read once, by
    this process, and deleted: Arrow's own format costs a copy, where Parquet would encode."""
    tmp = temp_beside(path)
    try:
        with pa.OSFile(str(tmp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        # No fsync of the directory here: the journal's, after it, makes this rename durable too.
        publish(tmp, path, sync_directory=False)
    except OSError as exc:
        raise StorageError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def assemble(parts: Iterable[Path], schema: pa.Schema, dest: Path, fmt: str) -> None:
    """The parts that exist, in order, as one file ``dest`` in ``fmt`` (an empty file with the
    header or schema when no part holds a row)."""
    tmp = temp_beside(dest)
    try:
        if fmt == PARQUET:
            options = {"compression": _COMPRESSION, "use_dictionary": _dictionary_columns(schema)}
            with pq.ParquetWriter(tmp, schema, **options) as writer:
                for table in _tables(parts):
                    writer.write_table(table, row_group_size=table.num_rows)
        else:
            with pacsv.CSVWriter(tmp, schema) as writer:
                for table in _tables(parts):
                    writer.write_table(table)
        publish(tmp, dest)
    except OSError as exc:
        raise StorageError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _tables(parts: Iterable[Path]) -> Iterable[pa.Table]:
    for part in parts:
        if part.exists():
            with pa.memory_map(str(part)) as source:
                table = pa.ipc.open_file(source).read_all()
            if table.num_rows:
                yield table


def _dictionary_columns(schema: pa.Schema) -> list[str]:
    """The columns worth dictionary-encoding: labels, text, the model's name and version.
    Floats and lists of them (probabilities) rarely repeat: trying costs time for nothing."""
    return [f.name for f in schema if not (pa.types.is_floating(f.type) or pa.types.is_nested(f.type))]
