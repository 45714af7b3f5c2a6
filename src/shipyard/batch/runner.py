"""``score``: one model version over one file, chunk by chunk, resumable after a crash.

The order of a run, so that a mistake costs nothing and a crash loses at most the chunks in
flight:

1. refuse what can be refused before any work: an unknown engine, an output not named
   ``.parquet``, an input that is not there, an output that exists (without ``overwrite``);
2. resolve the reference and load the version exactly as the server does
   (``RegistryService.load_version`` with the settings' runtime: the compiled form where it
   was verified, else the native one; then ``warm_up``);
3. open the checkpoint (``journal``): resume it when it was made from the same input, version,
   runtime and chunk size, else start over (``resume=False``) or stop and say why;
4. fetch the input (an S3 object is downloaded into the staging directory) and open it: a
   missing column or a column that can never fit its field stops the run here;
5. the engine scores the chunks from the checkpoint on; each chunk's part files are written
   and the journal raised, in input order;
6. the parts are assembled into the output and rejects files in the staging directory; the
   rejects file is delivered, then the output (its arrival says the run is complete), and
   the staging directory is removed.

The staging directory of a local output is its neighbour ``<output>.staging`` (same
filesystem, so delivery is a rename). That of an S3 output is local too, under
``$SHIPYARD_HOME/batch/``: a crashed run resumes on the same machine.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from shipyard.batch import DEFAULT_CHUNK_ROWS, LOCAL
from shipyard.batch.chunks import ChunkScorer, ScoredChunk
from shipyard.batch.engines import LocalEngine, check_engine
from shipyard.batch.journal import JOURNAL, Journal, RunKey, clear
from shipyard.batch.locations import Files, Location, parse_location
from shipyard.batch.sinks import assemble, output_format, rejects_format, write_part
from shipyard.batch.sources import Chunk, input_format, open_source
from shipyard.compile import COMPILED, runtime_statement
from shipyard.config import Settings
from shipyard.errors import Conflict, InvalidRequest, ShipyardError
from shipyard.registry.service import RegistryService, warm_up
from shipyard.registry.types import ModelVersion

logger = logging.getLogger(__name__)

STAGING_SUFFIX = ".staging"


@dataclass(frozen=True)
class ScoreRequest:
    """What to score, where from and where to."""

    ref: str
    input: str
    output: str
    rejects: str | None = None
    """Default: ``<output stem>.rejects.parquet`` beside the output."""
    chunk_rows: int = DEFAULT_CHUNK_ROWS
    resume: bool = True
    overwrite: bool = False
    engine: str = LOCAL
    threads: int | None = None
    """Chunks scored at once by the local engine; default: the cores, at most ``inference_threads``."""


@dataclass(frozen=True)
class ScoreProgress:
    """Where a run stands, after each chunk."""

    rows: int
    """Rows done, including those of the runs this one resumes."""
    rows_total: int | None
    """The input's rows, when its metadata says (Parquet)."""
    read_bytes: int | None
    """How far into the input the reader has got (CSV)."""
    total_bytes: int
    scored: int
    rejected: int
    resumed_rows: int
    """Rows done before this run started."""


@dataclass(frozen=True)
class ScoreSummary:
    model: str
    runtime: str
    runtime_reason: str
    input: str
    output: str
    rejects: str
    rows: int
    scored: int
    rejected: int
    chunks: int
    resumed_from_chunk: int
    seconds: float
    rows_this_run: int

    @property
    def rows_per_second(self) -> float:
        return self.rows_this_run / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows_per_second": round(self.rows_per_second, 1)}


def staging_for(output: Location, settings: Settings) -> Path:
    """Where the checkpoint of a run writing ``output`` lives."""
    if output.path is not None:
        return output.path.with_name(output.path.name + STAGING_SUFFIX)
    digest = hashlib.sha256(output.text.encode()).hexdigest()[:16]
    return settings.home / "batch" / digest


def default_rejects(output: Location) -> Location:
    return output.sibling(f"{Path(output.name).stem}.rejects.parquet")


def _serving_runtime(version: ModelVersion, settings: Settings) -> tuple[str, str, str]:
    """The runtime that scores ``version`` (as ``load_version`` picks it), the artifact it
    runs, and why it is that one."""
    chosen = version.serving_runtime if settings.runtime == "auto" else settings.runtime
    compiled = version.compiled
    artifact = compiled.artifact.sha256 if chosen == COMPILED and compiled is not None else version.artifact.sha256
    if settings.runtime != "auto":
        return chosen, artifact, f"{chosen}, as the runtime setting says"
    report = compiled.report if compiled is not None else None
    return chosen, artifact, runtime_statement(version.serving_runtime, version.compile_error, report)


@dataclass(frozen=True)
class _Places:
    """A run's input, output, rejects and staging directory, checked before any work."""

    files: Files
    source: Location
    fingerprint: dict[str, Any]
    output: Location
    rejects: Location
    rejects_format: str
    staging: Path


def _places(request: ScoreRequest, settings: Settings) -> _Places:
    """Parse and check the places of ``request``: refuse before any work what would fail later."""
    if request.chunk_rows < 1:
        raise InvalidRequest(f"--chunk-rows must be at least 1, got {request.chunk_rows}")
    source, output = parse_location(request.input), parse_location(request.output)
    rejects = parse_location(request.rejects) if request.rejects else default_rejects(output)
    output_format(output.name)
    fmt = rejects_format(rejects.name)
    if len({source.text, output.text, rejects.text}) < 3:
        raise InvalidRequest("the input, the output and the rejects file must be three different places")
    files = Files(settings)
    for place in (output, rejects):
        files.check_writable(place)
    fingerprint = files.fingerprint(source)
    if source.path is not None:
        input_format(source.name, source.path)
    if not request.overwrite and files.exists(output):
        raise Conflict(f"the output {output} exists", hint="pass --overwrite to replace it")
    staging = staging_for(output, settings)
    # A run killed while delivering left its rejects file: the resumed run replaces it.
    resuming = request.resume and (staging / JOURNAL).is_file()
    if not request.overwrite and not resuming and files.exists(rejects):
        raise Conflict(f"the rejects file {rejects} exists", hint="pass --overwrite to replace it, or --rejects PATH")
    return _Places(files, source, fingerprint, output, rejects, fmt, staging)


def score(
    registry: RegistryService,
    settings: Settings,
    request: ScoreRequest,
    progress: Callable[[ScoreProgress], None] | None = None,
) -> ScoreSummary:
    """Score ``request.input`` with ``request.ref``: see the module's docstring for the order."""
    began = time.monotonic()
    check_engine(request.engine)
    places = _places(request, settings)
    version = registry.resolve(request.ref)
    runtime, artifact, reason = _serving_runtime(version, settings)
    model = registry.load_version(version, runtime=settings.runtime)
    warm_up(model, version)
    scorer = ChunkScorer(model, version)
    key = RunKey(places.fingerprint, version.ref, artifact, runtime, request.chunk_rows, places.rejects_format)
    journal = Journal.open(places.staging, key, resume=request.resume)
    try:
        _score_chunks(
            places,
            version=version,
            scorer=scorer,
            journal=journal,
            request=request,
            settings=settings,
            progress=progress,
        )
    except ShipyardError:
        if not journal.totals.chunks:
            clear(places.staging)  # nothing was scored: leave nothing behind
        raise
    totals = journal.totals
    return ScoreSummary(
        model=version.ref, runtime=runtime, runtime_reason=reason, input=places.source.text,
        output=places.output.text, rejects=places.rejects.text, rows=totals.rows, scored=totals.scored,
        rejected=totals.rejected, chunks=totals.chunks, resumed_from_chunk=journal.resumed_from,
        seconds=time.monotonic() - began, rows_this_run=totals.rows - journal.resumed_rows,
    )  # fmt: skip


def _score_chunks(
    places: _Places,
    *,
    version: ModelVersion,
    scorer: ChunkScorer,
    journal: Journal,
    request: ScoreRequest,
    settings: Settings,
    progress: Callable[[ScoreProgress], None] | None,
) -> None:
    """Steps 4 to 6: fetch and open the input, score it from the checkpoint on, deliver."""
    staging = places.staging
    local = places.files.fetch(places.source, staging, int(places.fingerprint["size"]))
    source = open_source(local, input_format(places.source.name, local), version.signature, name=places.source.text)
    logger.info("scoring %s with %s from chunk %d", places.source, version.ref, journal.resumed_from)

    def score_and_keep(chunk: Chunk) -> ScoredChunk:
        # On the engine's thread: parts are files of their own, so chunks write in parallel;
        # only the journal, in ``done``, keeps input order.
        scored = scorer(chunk)
        if scored.outputs.num_rows:
            write_part(scored.outputs, journal.part(chunk.index))
        if scored.rejects.num_rows:
            write_part(scored.rejects, journal.rejects_part(chunk.index))
        return scored

    def done(chunk: ScoredChunk) -> None:
        journal.record(chunk.index, rows=chunk.rows, scored=chunk.outputs.num_rows, rejected=chunk.rejects.num_rows)
        if progress is not None:
            totals = journal.totals
            at = ScoreProgress(
                rows=totals.rows, rows_total=source.total_rows, read_bytes=chunk.read_bytes,
                total_bytes=source.total_bytes, scored=totals.scored, rejected=totals.rejected,
                resumed_rows=journal.resumed_rows,
            )  # fmt: skip
            progress(at)

    threads = request.threads or min(os.cpu_count() or 1, settings.inference_threads)
    LocalEngine(threads).run(source.chunks(request.chunk_rows, journal.resumed_from), score_and_keep, done)
    chunks = range(journal.totals.chunks)
    finished_output = staging / f"output{places.output.suffix}"
    finished_rejects = staging / f"rejects{places.rejects.suffix}"
    assemble((journal.part(i) for i in chunks), scorer.output_schema, finished_output, "parquet")
    assemble((journal.rejects_part(i) for i in chunks), scorer.rejects_schema, finished_rejects, places.rejects_format)
    # The rejects first: the output's arrival says the run is complete.
    places.files.deliver(finished_rejects, places.rejects)
    places.files.deliver(finished_output, places.output)
    clear(staging)
