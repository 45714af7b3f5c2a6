"""The checkpoint of a batch run: a staging directory of part files and a journal.

Crash-safe order, per chunk ``i`` (in input order, whatever order the chunks were scored in):
write ``part-i.arrow`` (and ``rejects-i.arrow`` when the chunk refused rows) under a
temporary name, fsync, rename; then rewrite ``journal.json`` the same way with ``chunks``
raised to ``i + 1``. The journal only ever names parts that are whole on disk, so a run
killed at any instant resumes at chunk ``journal.chunks``: parts past it (written before the
kill reached the journal) are deleted and made again, identically.

The journal also records what the parts were made from (``RunKey``: the input's fingerprint,
the model version, the artifact and runtime that scored, the chunk size, the rejects format).
A leftover checkpoint that does not match the run asked for is never mixed in: the run stops
and says how to start over.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shipyard.errors import Conflict, InvalidRequest, StorageError
from shipyard.fs.durable import fsync_dir, write_durably

logger = logging.getLogger(__name__)

JOURNAL = "journal.json"
FORMAT = 1
_PART = "part-{:06d}.arrow"
_REJECTS = "rejects-{:06d}.arrow"
_PARTS = ("part-*.arrow", "rejects-*.arrow")
_OURS = (JOURNAL, *_PARTS, ".*.tmp", ".*.part", "input.*", "output.*", "rejects.*")
"""Every name a run creates in its staging directory (and nothing else is ever deleted). The
journal goes first: a directory cleared half-way has no journal naming parts that are gone."""


@dataclass(frozen=True)
class RunKey:
    """What a checkpoint must have been made from to be resumed."""

    input: dict[str, Any]
    """The input's fingerprint: path, size and modification time; or S3 URL, size and ETag."""
    model: str
    artifact: str
    """SHA-256 of the artifact that scores (the compiled form's when the compiled runtime does)."""
    runtime: str
    chunk_rows: int
    rejects_format: str

    def difference(self, other: RunKey) -> str | None:
        """How ``other`` (a leftover checkpoint's key) differs from this run, in words."""
        if other.input != self.input:
            return "a different input (or the input changed since)"
        if other.model != self.model or other.artifact != self.artifact:
            return f"model {other.model} (this run: {self.model})"
        if other.runtime != self.runtime:
            return f"the {other.runtime} runtime (this run: {self.runtime})"
        if other.chunk_rows != self.chunk_rows:
            return f"--chunk-rows {other.chunk_rows} (this run: {self.chunk_rows})"
        if other.rejects_format != self.rejects_format:
            return f"a {other.rejects_format} rejects file (this run: {self.rejects_format})"
        return None


@dataclass
class Totals:
    """What the journal says is done: chunks and rows, scored and rejected."""

    chunks: int = 0
    rows: int = 0
    scored: int = 0
    rejected: int = 0


@dataclass
class Journal:
    """A run's staging directory and its progress."""

    staging: Path
    key: RunKey
    totals: Totals = field(default_factory=Totals)
    resumed_from: int = 0
    """The chunk this run started at (0: a fresh run)."""
    resumed_rows: int = 0
    """The rows done before this run started."""

    @classmethod
    def open(cls, staging: Path, key: RunKey, *, resume: bool) -> Journal:
        """The checkpoint in ``staging`` to continue (``resume`` and it matches ``key``), else a
        fresh one; ``Conflict`` when a leftover checkpoint was made from something else."""
        if staging.exists() and not staging.is_dir():
            raise InvalidRequest(f"{staging} is in the way of the run's staging directory", hint="move it away")
        found = _read(staging / JOURNAL) if resume else None
        if found is not None:
            old_key, totals = found
            difference = key.difference(old_key)
            if difference is not None:
                raise Conflict(
                    f"the staging directory {staging} holds an interrupted run over {difference}",
                    hint=f"pass --no-resume to start over, or delete {staging}",
                )
            journal = cls(staging, key, totals, resumed_from=totals.chunks, resumed_rows=totals.rows)
            journal._drop_parts_from(totals.chunks)
            logger.info("resuming at chunk %d (%d rows done) from %s", totals.chunks, totals.rows, staging)
            return journal
        clear(staging)
        try:
            staging.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the staging directory {staging}: {exc.strerror or exc}") from exc
        journal = cls(staging, key)
        journal._write()
        return journal

    def part(self, index: int) -> Path:
        return self.staging / _PART.format(index)

    def rejects_part(self, index: int) -> Path:
        return self.staging / _REJECTS.format(index)

    def record(self, index: int, *, rows: int, scored: int, rejected: int) -> None:
        """Chunk ``index`` (the next one) is whole on disk: say so, durably."""
        if index != self.totals.chunks:
            raise AssertionError(f"chunk {index} recorded out of order (next is {self.totals.chunks})")
        self.totals.chunks += 1
        self.totals.rows += rows
        self.totals.scored += scored
        self.totals.rejected += rejected
        self._write()

    def _write(self) -> None:
        body = {"format": FORMAT, "key": asdict(self.key), "done": asdict(self.totals)}
        try:
            write_durably(self.staging / JOURNAL, json.dumps(body, indent=1, sort_keys=True).encode())
        except OSError as exc:
            raise StorageError(f"cannot write the journal in {self.staging}: {exc.strerror or exc}") from exc

    def _drop_parts_from(self, index: int) -> None:
        for pattern in _PARTS:
            for path in self.staging.glob(pattern):
                number = path.stem.rpartition("-")[2]
                if number.isdigit() and int(number) >= index:
                    path.unlink()


def _read(path: Path) -> tuple[RunKey, Totals] | None:
    """The key and totals of the journal at ``path``; None when there is none."""
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StorageError(
            f"cannot read the journal {path}: {exc}", hint=f"pass --no-resume to start over, or delete {path.parent}"
        ) from exc
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise Conflict(
            f"the journal {path} is not one this version of Shipyard writes",
            hint=f"pass --no-resume to start over, or delete {path.parent}",
        )
    try:
        return RunKey(**body["key"]), Totals(**body["done"])
    except (KeyError, TypeError) as exc:
        raise Conflict(
            f"the journal {path} is damaged", hint=f"pass --no-resume to start over, or delete {path.parent}"
        ) from exc


def clear(staging: Path) -> None:
    """Delete what runs put in ``staging`` (only that), then the directory if it is empty."""
    if not staging.is_dir():
        return
    try:
        (staging / JOURNAL).unlink(missing_ok=True)
        fsync_dir(staging)  # no journal, durably, before any part it names goes
        for pattern in _OURS:
            for path in staging.glob(pattern):
                if path.is_symlink() or not path.is_dir():
                    path.unlink(missing_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot clear the staging directory {staging}: {exc.strerror or exc}") from exc
    with contextlib.suppress(OSError):
        staging.rmdir()
