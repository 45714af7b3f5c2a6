"""``shipyard audit``: list, verify and export the tamper-evident audit trail."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import click

from shipyard.cli.context import cli_state
from shipyard.cli.output import print_json, show, table
from shipyard.errors import IntegrityError, InvalidRequest
from shipyard.governance.chain import AuditEntry, parse_checkpoint
from shipyard.governance.keys import parse_duration

CSV_COLUMNS = (
    "seq",
    "at",
    "actor",
    "source",
    "action",
    "resource",
    "outcome",
    "reason",
    "details",
    "prev_hash",
    "hash",
    "mac",
)


@click.group()
def audit() -> None:
    """Read and check the audit trail."""


def _moment(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time (UTC unless it says otherwise) or a duration ago (30m, 12h, 7d)."""
    if text is None:
        return None
    try:
        ago = parse_duration(text)
    except InvalidRequest:
        ago = None
    if ago is not None:
        return datetime.now(UTC) - ago
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(
            f"{option} must be an ISO time or a duration ago, got {text[:40]!r}",
            hint="e.g. 2026-11-29T12:00 or 12h",
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@audit.command("list")
@click.option("--since", help="From this time (ISO 8601) or this long ago (30m, 12h, 7d).")
@click.option("--until", help="Before this time (ISO 8601) or this long ago.")
@click.option("--actor", help="Only this actor (key:ID or user:NAME).")
@click.option("--action", help="Only this action (e.g. alias.set, key.create).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_entries(
    *, since: str | None, until: str | None, actor: str | None, action: str | None, limit: int, as_json: bool
) -> None:
    """Audit entries, oldest first."""
    from shipyard.registry.sql.audit import AuditFilter

    filters = AuditFilter(
        since=_moment(since, "--since"), until=_moment(until, "--until"), actor=actor, action=action, limit=limit
    )
    with cli_state().services() as services:
        entries = services.store.audit.list(filters)
    if as_json:
        print_json([e.to_dict() for e in entries])
        return
    if not entries:
        click.echo("No audit entries.")
        return
    rows = [
        [
            str(e.seq),
            e.at.strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.source,
            e.action,
            e.resource,
            e.outcome,
            e.reason or "",
        ]
        for e in entries
    ]
    show(table(None, ["seq", "at", "actor", "source", "action", "resource", "outcome", "reason"], rows))


@audit.command("verify")
@click.option(
    "--expect-head", metavar="SEQ:HASH", help="A checkpoint from an earlier verify: entry SEQ must still have HASH."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify_chain(expect_head: str | None, as_json: bool) -> None:
    """Check the hash chain (and HMACs, with audit_hmac_key): name the first bad entry.

    A chain cannot show entries cut from its end; keep the printed checkpoint and pass it
    back with --expect-head to catch that."""
    try:
        checkpoint = parse_checkpoint(expect_head) if expect_head is not None else None
    except ValueError as exc:
        raise InvalidRequest(f"invalid --expect-head: {exc}") from exc
    with cli_state().services() as services:
        report = services.store.audit.verify(expect_head=checkpoint)
    if as_json:
        print_json(report.to_dict())
    if not report.ok:
        raise IntegrityError(
            f"audit trail broken at entry {report.bad_seq} ({report.problem}): {report.reason}",
            hint="restore the registry database from a backup and compare; entries before it are intact",
        )
    if not as_json:
        click.echo(f"Audit trail intact: {report.checked} entries.")
        if report.checkpoint:
            click.echo(f"Head checkpoint (keep it; pass it to --expect-head later): {report.checkpoint}")


@audit.command("export")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout.")
def export(fmt: str, output: Path | None) -> None:
    """Every entry with its hashes, for archiving or another system."""
    with cli_state().services() as services:
        if output is None:
            count = _write(services.store.audit.iter_all(), fmt, sys.stdout)
        else:
            with output.open("w", encoding="utf-8", newline="") as fh:
                count = _write(services.store.audit.iter_all(), fmt, fh)
    if output is not None:
        click.echo(f"Exported {count} audit entries to {output}.", err=True)


def _write(entries: Iterator[AuditEntry], fmt: str, out: IO[str]) -> int:
    count = 0
    writer = csv.writer(out) if fmt == "csv" else None
    if writer is not None:
        writer.writerow(CSV_COLUMNS)
    for entry in entries:
        data = entry.to_dict()
        if writer is not None:
            data["details"] = json.dumps(data["details"], sort_keys=True)
            writer.writerow([data[c] for c in CSV_COLUMNS])
        else:
            out.write(json.dumps(data, sort_keys=True) + "\n")
        count += 1
    return count
