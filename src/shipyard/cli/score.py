"""``shipyard score``: a model version over a Parquet or CSV file (local or S3), into Parquet.

The work is ``shipyard.batch``'s, imported only when the command runs (every other command
starts without pyarrow); this module parses the options, draws the progress bar (rows per
second and the time left: by rows for Parquet, whose footer says how many, by bytes read for
CSV) and prints the summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from shipyard.batch import DEFAULT_CHUNK_ROWS, ENGINES, LOCAL
from shipyard.cli.context import cli_state
from shipyard.cli.output import console, print_json, show, table

if TYPE_CHECKING:
    from shipyard.batch.runner import ScoreProgress, ScoreSummary


@click.command("score")
@click.argument("ref")
@click.option("--input", "input_", required=True, metavar="PATH|s3://BUCKET/KEY", help="Parquet or CSV (header row).")
@click.option("--output", required=True, metavar="PATH|s3://BUCKET/KEY", help="Where the Parquet output goes.")
@click.option(
    "--rejects",
    metavar="PATH|s3://BUCKET/KEY",
    help="Rows the signature refuses, with why (.parquet or .csv).  [default: OUTPUT_STEM.rejects.parquet beside it]",
)
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default=LOCAL,
    show_default=True,
    help="local: this process; ray: Ray Data (not available yet).",
)
@click.option(
    "--chunk-rows",
    type=click.IntRange(min=1),
    default=DEFAULT_CHUNK_ROWS,
    show_default=True,
    metavar="N",
    help="Rows per chunk: the unit of validation, of a model call and of a checkpoint.",
)
@click.option(
    "--resume/--no-resume",
    default=True,
    show_default=True,
    help="Continue an interrupted run of the same input and version, or start over.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output (and rejects file) when the run completes.")
@click.option(
    "--runtime",
    type=click.Choice(["auto", "native", "compiled"]),
    help="auto: the compiled (ONNX) form where it was verified, else native, as `serve` does.  [default: auto]",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def score_command(
    *,
    ref: str,
    input_: str,
    output: str,
    rejects: str | None,
    engine: str,
    chunk_rows: int,
    resume: bool,
    overwrite: bool,
    runtime: str | None,
    as_json: bool,
) -> None:
    """Score the rows of an input file with model REF (NAME, NAME/VERSION or NAME@ALIAS).

    Rows are validated against the model's signature as the server validates requests; rows it
    refuses go to the rejects file with the reason, never dropped. The output holds the model's
    outputs, its name and version, and each row's position in the input (row_id). An
    interrupted run continues where it stopped when run again with the same arguments.
    """
    from shipyard.batch.runner import ScoreRequest, score

    request = ScoreRequest(
        ref=ref, input=input_, output=output, rejects=rejects, chunk_rows=chunk_rows,
        resume=resume, overwrite=overwrite, engine=engine,
    )  # fmt: skip
    state = cli_state()
    with state.services(runtime=runtime) as services, _progress() as update:
        summary = score(services.registry, services.settings, request, progress=update)
    if as_json:
        print_json(summary.to_dict())
        return
    show(_summary_table(summary))


@contextmanager
def _progress() -> Iterator[Callable[[ScoreProgress], None]]:
    """A bar on stderr (none without a terminal); yields the runner's progress callback."""
    err = console(stderr=True)
    bar = Progress(
        TextColumn("[bold]scoring"),
        BarColumn(),
        TextColumn("{task.fields[rows]} rows"),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    started = time.monotonic()
    with bar:
        task = bar.add_task("scoring", total=None, rows="0", rate="-")

        def update(at: ScoreProgress) -> None:
            elapsed = time.monotonic() - started
            rate = f"{(at.rows - at.resumed_rows) / elapsed:,.0f}" if elapsed > 0 else "-"
            if at.rows_total is not None:
                total, completed = at.rows_total, at.rows
            else:
                total, completed = at.total_bytes, at.read_bytes or 0
            bar.update(task, total=total, completed=completed, rows=f"{at.rows:,}", rate=rate)

        yield update


def _summary_table(summary: ScoreSummary) -> object:
    resumed = f" (resumed at chunk {summary.resumed_from_chunk})" if summary.resumed_from_chunk else ""
    rows = [
        ("model", summary.model),
        ("runtime", summary.runtime_reason),
        ("input", summary.input),
        ("output", f"{summary.output}: {summary.scored:,} rows scored"),
        ("rejects", f"{summary.rejects}: {summary.rejected:,} rows refused"),
        ("rows", f"{summary.rows:,} in {summary.chunks} chunk{'' if summary.chunks == 1 else 's'}{resumed}"),
        ("time", f"{summary.seconds:.1f}s, {summary.rows_per_second:,.0f} rows/s"),
    ]
    return table(None, ["", ""], rows, header=False)
