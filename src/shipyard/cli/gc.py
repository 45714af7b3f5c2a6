"""``shipyard gc``: remove what crashes left behind (orphan blobs, stale temporaries)."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import click

from shipyard.cli.context import cli_state
from shipyard.cli.output import human_size, print_json, short_sha, show, table
from shipyard.errors import InvalidRequest

if TYPE_CHECKING:  # registry.gc imports SQLAlchemy: only when the command runs
    from shipyard.registry.gc import Leftover, Leftovers

_DURATION = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``15m``, ``1h``, ``2d`` → seconds."""
    match = _DURATION.match(text)
    if match is None:
        raise InvalidRequest(f"invalid duration {text[:40]!r}", hint="use a number with s, m, h or d: 30m, 1h, 2d")
    return float(match[1]) * _UNITS[match[2]]


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def _label(item: Leftover) -> str:
    return {"orphan_blob": "orphan blob", "store_temp": "store temp", "scratch": "stale scratch"}[item.kind]


def _name(item: Leftover) -> str:
    return short_sha(item.name) if item.kind == "orphan_blob" else item.name


def leftover_rows(items: list[Leftover], *, dry_run: bool) -> list[list[object]]:
    from rich.text import Text

    now = time.time()
    rows: list[list[object]] = []
    for item in items:
        if item.removed:
            status = Text("removed", style="green")
        elif item.kept is not None:
            status = Text(f"kept ({item.kept})", style="dim")
        else:
            status = Text("would remove" if dry_run else "found", style="yellow")
        rows.append([_label(item), _name(item), human_size(item.size), _age(max(0.0, now - item.modified)), status])
    return rows


LEFTOVER_COLUMNS = ["kind", "name", "size", "age", "status"]


def _summary(found: Leftovers, *, dry_run: bool) -> str:
    actionable = found.actionable
    size = human_size(sum(item.size for item in actionable))
    kept = len(found.items) - len(actionable)
    tail = f"; {kept} kept (too recent or in use)" if kept else ""
    if dry_run:
        return f"Would remove {len(actionable)} leftover(s), {size}{tail}."
    return f"Removed {len(found.removed)} leftover(s), {size}{tail}."


@click.command()
@click.option("--dry-run", is_flag=True, help="Show what would be removed, remove nothing.")
@click.option(
    "--grace",
    default="1h",
    show_default=True,
    help="Keep anything younger than this (30m, 1h, 2d): a registration may still need it.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def gc(dry_run: bool, grace: str, as_json: bool) -> None:
    """Remove orphan blobs and stale temporary files left by crashes.

    Never removes a blob a model version references, nor one a registration in progress
    has written, nor anything younger than --grace.
    """
    from shipyard.fs.scratch import scratch_root
    from shipyard.registry.gc import collect

    grace_seconds = parse_duration(grace or "1h")
    with cli_state().services() as services:
        found = collect(
            services.store,
            services.artifacts,
            scratch_root(services.settings.home),
            grace_seconds=grace_seconds,
            dry_run=dry_run,
        )
    if as_json:
        print_json({"dry_run": dry_run, "grace_seconds": grace_seconds, **found.to_dict()})
        return
    if found.items:
        show(table(None, LEFTOVER_COLUMNS, leftover_rows(found.items, dry_run=dry_run)))
        click.echo(_summary(found, dry_run=dry_run))
    else:
        click.echo("Nothing to collect.")
