"""``shipyard monitor report`` and ``shipyard monitor summary``: a window of a model's or a
deployment's logged traffic as a self-contained HTML report, or as a table (or JSON)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

from shipyard.cli.context import cli_state
from shipyard.cli.output import console, human_size, print_json, show, table
from shipyard.errors import InvalidRequest

if TYPE_CHECKING:
    from shipyard.monitoring.window import WindowFigures

WINDOW_HELP = "How far back from now: 15m, 24h, 7d, 2w (default 7d)."


@contextmanager
def _steps(description: str) -> Iterator[Callable[[str, int, int], None]]:
    """A progress bar on stderr (a terminal only) fed by ``progress(what, done, total)``."""
    err = console(stderr=True)
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} {task.fields[what]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=None, what="reading the log")

        def update(what: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total, what=what)

        yield update


def _window(name: str, window: str, sensitive: str | None, progress: Callable[[str, int, int], None]) -> WindowFigures:
    from shipyard.monitoring.window import parse_window
    from shipyard.monitoring.window_load import load_window

    seconds = parse_window(window)
    state = cli_state()
    with state.services() as services:
        return load_window(
            services.settings.home,
            services.registry,
            name,
            seconds=seconds,
            price_per_core_hour=services.settings.price_per_core_hour,
            sensitive=sensitive,
            progress=progress,
        )


def _write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all."""
    directory = path.parent if str(path.parent) else Path(".")
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@click.command("report")
@click.argument("name")
@click.option("--window", "window", default="7d", show_default=True, help=WINDOW_HELP)
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="Where to write the HTML file.",
)
@click.option("--sensitive", help="The feedback attribute to break fairness down by (default the first given).")
def report(name: str, window: str, out: Path, sensitive: str | None) -> None:
    """Write an HTML report of NAME's (a model or a deployment) logged traffic: drift, data
    quality, performance, outcomes, fairness, over time. The file opens offline."""
    from shipyard.monitoring.report import render_report

    if out.parent != Path() and not out.parent.is_dir():
        raise InvalidRequest(f"directory {str(out.parent)!r} does not exist", hint="create it, or give another --out")
    with _steps(f"monitor report {name}") as progress:
        figures = _window(name, window, sensitive, progress)
        progress("writing the report", 1, 1)
        html = render_report(figures)
        _write(out, html)
    click.echo(f"wrote {out} ({human_size(len(html.encode()))}): {figures.total.requests} requests of {name}")


def _fmt(value: object) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@click.command("summary")
@click.argument("name")
@click.option("--window", "window", default="7d", show_default=True, help=WINDOW_HELP)
@click.option("--sensitive", help="The feedback attribute to break fairness down by (default the first given).")
@click.option("--json", "as_json", is_flag=True, help="Print the window's figures as JSON.")
def summary(name: str, window: str, sensitive: str | None, as_json: bool) -> None:
    """Summarize NAME's (a model or a deployment) logged traffic: requests, errors and latency
    by version and variant, and the monitored figures (drift, quality, performance)."""
    with _steps(f"monitor summary {name}") as progress:
        figures = _window(name, window, sensitive, progress)
    if as_json:
        print_json(figures.to_dict())
        return
    rows = [
        [
            f"v{t.version}" if t.version is not None else "—",
            t.variant or "—",
            t.requests,
            t.rows,
            t.errors,
            _fmt(t.error_rate),
            _fmt(t.latency_ms.get("p50")),
            _fmt(t.latency_ms.get("p95")),
        ]
        for t in [*figures.traffic, figures.total]
    ]
    rows[-1][0], rows[-1][1] = "all", ""
    head = ["version", "variant", "requests", "rows", "errors", "error rate", "p50 ms", "p95 ms"]
    from shipyard.monitoring.window import COLUMN_FIGURES, figures_by_column

    flat = {
        n: v
        for (_, n), v in figures.figures().items()
        if not n.startswith(("latency.", "traffic.", "fairness.overall.")) and not n.endswith(".std_error")
    }
    per_column, headline = figures_by_column(flat)
    renderables: list[object] = [table(f"{name}: traffic over the last {window}", head, rows)]
    if headline:
        renderables.append(table("figures", ["figure", "value"], [[n, _fmt(v)] for n, v in sorted(headline.items())]))
    if per_column:
        keys = [k for k in COLUMN_FIGURES if any(k in c for c in per_column.values())]
        renderables.append(
            table(
                "by input column",
                ["column", *(COLUMN_FIGURES[k] for k in keys)],
                [[column, *(_fmt(c.get(k)) for k in keys)] for column, c in per_column.items()],
            )
        )
    for note in figures.notes:
        renderables.append(Text(f"note: {note}", style="dim"))
    show(*renderables)
