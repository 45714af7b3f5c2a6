"""``shipyard logs``: read the prediction log back (``query``), write it out (``export``), and
trace one logged decision to its version's lineage (``explain``).

Everything is read from this home's log (``$SHIPYARD_HOME/predlog``): the compacted Parquet
and the segments not compacted yet, open ones included (``monitoring/predlog/query.py``).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import click
from rich.panel import Panel
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table
from rich.text import Text

from shipyard.cli.context import cli_state
from shipyard.cli.output import console, print_json, short_sha, show, table, when
from shipyard.errors import InvalidRequest, NotFound

MAX_CELL = 60
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@click.group()
def logs() -> None:
    """Read the prediction log: query, export, explain."""


def _filters(fn: Any) -> Any:
    for option in reversed(
        (
            click.option("--model", help="Only predictions of this model."),
            click.option("--version", type=int, help="Only predictions of this version."),
            click.option("--deployment", help="Only predictions through this deployment."),
            click.option("--target", help="Only this target (a deployment's or model's name, as called)."),
            click.option("--since", help="From this time: -10m, -2h, -1d, ISO 8601 or Unix seconds."),
            click.option("--until", help="Before this time (same forms; default now)."),
            click.option("--request-id", help="Only this request."),
            click.option("--status", type=int, help="Only this HTTP status (200: answered)."),
        )
    ):
        fn = option(fn)
    return fn


def _where(options: dict[str, Any]) -> Any:
    from shipyard.cli.deploy import parse_moment
    from shipyard.monitoring.predlog.query import LogFilter

    now = time.time()
    since = parse_moment(options["since"], "--since", now) if options.get("since") else None
    until = parse_moment(options["until"], "--until", now) if options.get("until") else None
    if since is not None and until is not None and since >= until:
        raise InvalidRequest("--since must be before --until")
    return LogFilter(
        target=options.get("target"),
        model=options.get("model"),
        version=options.get("version"),
        deployment=options.get("deployment"),
        request_id=options.get("request_id"),
        status=options.get("status"),
        since=since,
        until=until,
    )


@logs.command("query")
@_filters
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=50, show_default=True, help="The latest N rows.")
@_JSON
def query(limit: int, as_json: bool, **options: Any) -> None:
    """Logged prediction rows (one per row of each request), oldest first."""
    from shipyard.monitoring.predlog.query import read_rows

    home = cli_state().settings().home
    rows = read_rows(home, _where(options), limit=limit).to_pylist()
    if as_json:
        print_json({"rows": rows, "count": len(rows)})
        return
    if not rows:
        click.echo("No logged predictions match.")
        return
    show(_rows_table(rows))


@logs.command("export")
@_filters
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), required=True, help="The file format.")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The file.")
def export(fmt: str, out: Path, **options: Any) -> None:
    """Write the matching rows to one Parquet or CSV file (vector outputs as JSON text in CSV)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    from shipyard.monitoring.predlog.query import iter_tables
    from shipyard.monitoring.predlog.table import concat

    home = cli_state().settings().home
    where = _where(options)
    err = console(stderr=True)
    bar = Progress(
        TextColumn("[bold]exporting"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} files"),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    with bar:
        task = bar.add_task("exporting", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        tables = list(iter_tables(home, where, progress=progress))
    data = concat(tables)
    if data.num_rows:
        data = data.sort_by([("time", "ascending"), ("row", "ascending")])
    partial = out.with_name(out.name + ".partial")
    if fmt == "parquet":
        pq.write_table(data, partial, compression="zstd")
    else:
        pcsv.write_csv(_flat(data), partial)
    partial.replace(out)
    click.echo(f"Exported {data.num_rows} rows ({len(tables)} sources) to {out}.")


@logs.command("explain")
@click.argument("request_id")
@_JSON
def explain(request_id: str, as_json: bool) -> None:
    """A logged prediction, its feedback, and its version's lineage: training data
    fingerprint, reference profile, code version, registered metrics, artifact digest."""
    from shipyard.monitoring.predlog.lookup import LogLookup
    from shipyard.registry.sql.feedback import check_request_id

    check_request_id(request_id)
    with cli_state().services() as services:
        record = LogLookup(services.settings.home).find(request_id)
        if record is None:
            raise NotFound(
                f"no logged prediction for request {request_id!r}",
                hint="`shipyard logs query` lists what the log holds (was the request sampled?)",
            )
        version = None
        if isinstance(record.get("version"), int):
            try:
                version = services.store.get_version(str(record["model"]), int(record["version"]))
            except NotFound:
                version = None
        feedback = services.store.feedback.for_request(request_id)
    lineage = _lineage(version)
    if as_json:
        print_json({"prediction": record, "feedback": feedback, "lineage": lineage})
        return
    show(*_explain_view(record, feedback, lineage))


def _lineage(version: Any) -> dict[str, Any] | None:
    if version is None:
        return None
    lin = version.lineage
    profile = lin.profile
    summary = None
    if profile:
        columns = profile.get("columns") or {}
        summary = {
            "rows": profile.get("rows"),
            "columns": len(columns),
            "types": {name: col.get("type") for name, col in columns.items()},
            "target": profile.get("target"),
        }
    return {
        "version": version.ref,
        "artifact_sha256": version.artifact.sha256,
        "flavor": version.flavor,
        "created_by": version.created_by,
        "created_at": version.created_at.isoformat(),
        "training_data": lin.training_data.to_dict() if lin.training_data else None,
        "reference_profile": summary,
        "code_version": lin.code_version,
        "metrics": dict(lin.metrics),
        "params": dict(lin.params),
        "environment": dict(lin.environment),
    }


# Past this many fields, a request of at most this many rows is shown transposed.
_WIDE_COLUMNS = 8
_TRANSPOSED_ROWS = 4


def _explain_view(record: dict[str, Any], feedback: list[dict[str, Any]], lineage: dict[str, Any] | None) -> list[Any]:
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold cyan", no_wrap=True)
    facts.add_column(overflow="fold")
    moment = record.get("time")
    items: list[tuple[str, str | Text]] = [
        ("time", _when(moment) + " UTC"),
        ("target", str(record.get("target"))),
        ("answered by", f"{record.get('model')}/{record.get('version')}"),
        (
            "deployment",
            f"{record.get('deployment')} (variant {record.get('variant')}, revision {record.get('revision')})",
        )
        if record.get("deployment")
        else ("deployment", "-"),
        ("protocol", str(record.get("protocol"))),
        ("caller", str(record.get("caller"))),
        ("key", str(record.get("key") or "-")),
        ("status", Text(str(record.get("status")), style="green" if record.get("status") == 200 else "red")),
        ("latency", f"{float(record.get('latency_ms') or 0):.2f} ms"),
        ("rows", str(record.get("rows"))),
    ]
    for key, value in items:
        facts.add_row(key, value)
    out: list[Any] = [Panel(facts, title=f"[bold]request {record.get('request_id')}[/bold]", title_align="left")]
    inputs, outputs = record.get("inputs") or {}, record.get("outputs") or {}
    n = int(record.get("rows") or 0)
    if n:
        labels = {int(r["row"]): r for r in feedback}
        columns = ["row", *(f"in.{c}" for c in inputs), *(f"out.{c}" for c in outputs), "feedback"]
        body = []
        for i in range(min(n, 50)):
            cells = [str(i)]
            cells += [_cell(_at(v, i)) for v in inputs.values()]
            cells += [_cell(_at(v, i)) for v in outputs.values()]
            cells.append(_feedback_cell(labels.get(i)))
            body.append(cells)
        if len(columns) > _WIDE_COLUMNS and len(body) <= _TRANSPOSED_ROWS:
            # A wide model reads better one field per line, one column per row.
            fields = [[name, *(cells[k] for cells in body)] for k, name in enumerate(columns) if k]
            out.append(table("rows", ["field", *(f"row {cells[0]}" for cells in body)], fields))
        else:
            out.append(table("rows", columns, body))
    if lineage is None:
        out.append(Text("lineage: the version is not in this registry", style="yellow"))
        return out
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column(overflow="fold")
    data = lineage["training_data"]
    profile = lineage["reference_profile"]
    rows: list[tuple[str, str]] = [
        ("artifact", f"sha256 {lineage['artifact_sha256']} ({lineage['flavor']})"),
        (
            "training data",
            f"sha256 {data['sha256']}, {data['rows']} rows, {len(data['columns'])} columns" if data else "-",
        ),
        (
            "reference profile",
            f"{profile['rows']} rows, {profile['columns']} columns"
            + (f", target {profile['target']}" if profile["target"] else "")
            if profile
            else "-",
        ),
        ("code version", lineage["code_version"] or "-"),
        ("metrics", ", ".join(f"{k}={v:.4g}" for k, v in lineage["metrics"].items()) or "-"),
        ("params", ", ".join(f"{k}={v}" for k, v in lineage["params"].items()) or "-"),
        ("environment", ", ".join(f"{k}={v}" for k, v in lineage["environment"].items()) or "-"),
        ("registered", f"{lineage['created_at']} by {lineage['created_by']}"),
    ]
    for key, value in rows:
        grid.add_row(key, value)
    out.append(
        Panel(
            grid,
            title=f"[bold]lineage of {lineage['version']}[/bold] ({short_sha(lineage['artifact_sha256'])})",
            title_align="left",
        )
    )
    return out


def _rows_table(rows: list[dict[str, Any]]) -> Table:
    """One line per row: when, which request and row, who answered, how, and its outputs in
    short (inputs and everything else: ``--json``)."""
    grid = Table(title=f"{len(rows)} logged prediction rows", title_justify="left", header_style="bold")
    widest = max(len(str(r.get("request_id"))) for r in rows)
    for name, width in (("time (UTC)", 14), ("request_id", widest), ("row", 3), ("answered by", 11), ("status", 6)):
        grid.add_column(name, no_wrap=True, min_width=width)
    grid.add_column("ms", no_wrap=True)
    grid.add_column("outputs", overflow="ellipsis", no_wrap=True, max_width=24)
    for r in rows:
        answered = f"{r.get('model')}/{r.get('version')}"
        if r.get("deployment"):
            answered = f"{r['deployment']}:{r.get('variant')} → {answered}"
        grid.add_row(
            _when(r.get("time"))[5:],
            str(r.get("request_id")),
            str(r.get("row")),
            answered,
            Text(str(r.get("status")), style="" if r.get("status") == 200 else "red"),
            f"{float(r.get('latency_ms') or 0):.1f}",
            _short(r, "out."),
        )
    return grid


def _short(row: dict[str, Any], prefix: str) -> str:
    return ", ".join(f"{k[len(prefix) :]}={_cell(v)}" for k, v in row.items() if k.startswith(prefix) and v is not None)


def _flat(data: Any) -> Any:
    """Nested (list) columns as JSON text, so CSV can hold them."""
    import pyarrow as pa

    for index, f in enumerate(data.schema):
        if pa.types.is_list(f.type) or pa.types.is_large_list(f.type) or pa.types.is_struct(f.type):
            text = [None if v is None else json.dumps(v) for v in data.column(index).to_pylist()]
            data = data.set_column(index, f.name, pa.array(text, type=pa.string()))
    return data


def _at(values: Any, i: int) -> Any:
    return values[i] if isinstance(values, list) and i < len(values) else values


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    text = "[" + ", ".join(_cell(v) for v in value) + "]" if isinstance(value, list) else str(value)
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def _feedback_cell(row: dict[str, Any] | None) -> str:
    if row is None:
        return "-"
    parts = []
    if row.get("label") is not None:
        parts.append(f"label={row['label']}")
    if row.get("value") is not None:
        parts.append(f"value={row['value']:g}")
    parts += [f"{k}={v:g}" for k, v in (row.get("outcomes") or {}).items()]
    parts += [f"{k}={v}" for k, v in (row.get("attributes") or {}).items()]
    return ", ".join(parts) or "-"


def _when(moment: Any) -> str:
    from datetime import UTC, datetime

    if not isinstance(moment, int | float) or not math.isfinite(moment):
        return "-"
    return when(datetime.fromtimestamp(moment, UTC))
