"""How the CLI shows things: rich tables and panels for people, JSON for programs, a
progress bar for long byte counts, and the one-line error format.

Consoles are built per call rather than at import: the output stream may be swapped (tests,
redirection) and rich decides about color and width from the stream it is given. Without
a terminal there is no color and no progress bar, and lines are not wrapped at 80 columns.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

UNSAFE = "UNSAFE"
"""Marks versions whose format runs code on load (pickle): visible wherever versions are listed."""

_WIDE = 120


def console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    terminal = stream.isatty()
    return Console(
        file=stream,
        stderr=stderr,
        highlight=False,
        width=None if terminal else _WIDE,
        no_color=not terminal,
        force_terminal=False if not terminal else None,
    )


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def show(*renderables: Any) -> None:
    out = console()
    for item in renderables:
        out.print(item)


def table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, header: bool = True) -> Table:
    grid = Table(title=title, title_justify="left", header_style="bold", show_header=header)
    for name in columns:
        grid.add_column(name, overflow="fold")
    for row in rows:
        grid.add_row(*(cell if isinstance(cell, Text) else Text(str(cell)) for cell in row))
    return grid


def unsafe_mark(unsafe: bool) -> Text:
    return Text(UNSAFE, style="bold red") if unsafe else Text("")


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def short_sha(sha256: str) -> str:
    return sha256[:8] + "…"


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def error_line(message: str, hint: str | None) -> None:
    """The one-line error (plus its hint) on stderr; plain text, nothing rich to misparse."""
    click.echo(f"error: {_one_line(message)}", err=True)
    if hint:
        click.echo(f"hint: {_one_line(hint)}", err=True)


def _one_line(text: str) -> str:
    return " ".join(text.split())


@contextmanager
def byte_progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A progress bar over ``total`` bytes on stderr; yields the ``progress(bytes_done)`` callback."""
    err = console(stderr=True)
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=total)

        def update(done: int) -> None:
            bar.update(task, completed=done)

        yield update


@contextmanager
def count_progress(description: str, total: int) -> Iterator[Callable[[], None]]:
    """A progress bar over ``total`` items on stderr; yields ``advance()``."""
    err = console(stderr=True)
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with bar:
        task = bar.add_task(description, total=total)

        def advance() -> None:
            bar.advance(task)

        yield advance
