"""``shipyard card``: a version's model card, generated from the registry with the narrative
fields on top: ``show``, ``edit`` (``--set``, ``--file`` or $EDITOR), ``export`` (md, html,
json), ``history`` (every revision), ``fairness`` (figures on reference data, stored on
the card)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson
import yaml
from rich.markdown import Markdown

from shipyard.cli.context import cli_state
from shipyard.cli.output import count_progress, print_json, show, table, when
from shipyard.errors import InvalidRequest
from shipyard.registry.card_render import FORMATS, render

if TYPE_CHECKING:
    from shipyard.bootstrap import Services

MAX_FIELDS_FILE = 2 * 1024 * 1024


@click.group()
def card() -> None:
    """Model cards: show, edit, export, history, fairness."""


def _version(services: Services, ref: str) -> tuple[str, int]:
    from shipyard.registry.refs import parse_ref

    record = services.registry.resolve(parse_ref(ref))
    return record.model, record.version


@card.command("show")
@click.argument("ref", metavar="NAME/VERSION")
@click.option("--revision", type=click.IntRange(min=1), help="Show an earlier narrative revision.")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
def show_card(ref: str, revision: int | None, as_json: bool) -> None:
    """Show the model card of NAME/VERSION (or NAME@ALIAS, or NAME: the latest)."""
    from shipyard.registry.cards import card_for

    with cli_state().services() as services:
        name, version = _version(services, ref)
        found = card_for(services.store, name, version, revision=revision)
    if as_json:
        print_json(found)
        return
    show(Markdown(render(found, "md")))


@card.command("export")
@click.argument("ref", metavar="NAME/VERSION")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="md", show_default=True, help="Output format.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE (default stdout).")
@click.option("--revision", type=click.IntRange(min=1), help="Export an earlier narrative revision.")
def export_card(ref: str, fmt: str, output: Path | None, revision: int | None) -> None:
    """Export the model card of NAME/VERSION as Markdown, HTML or JSON."""
    from shipyard.registry.cards import card_for

    with cli_state().services() as services:
        name, version = _version(services, ref)
        text = render(card_for(services.store, name, version, revision=revision), fmt)
    if output is None:
        click.echo(text, nl=False)
        return
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    click.echo(f"Wrote the card of {name}/{version} ({fmt}) to {output}", err=True)


@card.command("edit")
@click.argument("ref", metavar="NAME/VERSION")
@click.option("--set", "assignments", multiple=True, metavar="FIELD=TEXT", help="Set a field (repeat; empty clears).")
@click.option(
    "--file",
    "fields_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A YAML (or JSON) mapping of field to text.",
)
@click.option("--reason", help="Why, for the card's history and the audit trail.")
@click.option("--json", "as_json", is_flag=True, help="Print the new revision as JSON.")
def edit_card(
    ref: str, assignments: tuple[str, ...], fields_file: Path | None, reason: str | None, as_json: bool
) -> None:
    """Edit the narrative fields of NAME/VERSION's card (--set, --file, or $EDITOR without either)."""
    from shipyard.registry.cards import build_card, card_status, governance_of

    changes: dict[str, Any] = {}
    if fields_file is not None:
        changes.update(_read_fields(fields_file))
    changes.update(_assignments(assignments))
    with cli_state().services() as services:
        store = services.store
        name, version = _version(services, ref)
        if not changes and fields_file is None:
            changes = _from_editor(store.cards.latest(name, version).fields, store.cards.narrative_names())
            if not changes:
                click.echo(f"No change to the card of {name}/{version}.")
                return
        if not changes:
            raise InvalidRequest(f"{fields_file} sets no fields")
        revision = store.cards.edit(name, version, changes, reason=reason)
        status = card_status(
            build_card(
                store.get_model(name), store.get_version(name, version), revision, governance_of(store, name, version)
            )
        )
    if as_json:
        print_json({"revision": revision.to_dict(), "card": status})
        return
    if revision.changed:
        click.echo(f"{name}/{version} card revision {revision.revision}: changed {', '.join(revision.changed)}")
    else:
        click.echo(f"No change to the card of {name}/{version} (revision {revision.revision}).")
    _status_line(status)


@card.command("history")
@click.argument("ref", metavar="NAME/VERSION")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def card_history(ref: str, as_json: bool) -> None:
    """Every revision of NAME/VERSION's card, oldest first."""
    with cli_state().services() as services:
        name, version = _version(services, ref)
        revisions = services.store.cards.history(name, version)
    if as_json:
        print_json({"model": name, "version": version, "revisions": [r.to_dict() for r in revisions]})
        return
    if not revisions:
        click.echo(f"The card of {name}/{version} has no revisions yet: shipyard card edit {name}/{version}")
        return
    rows = [
        [
            str(r.revision),
            when(r.created_at) if r.created_at is not None else "-",
            r.actor or "-",
            ", ".join(r.changed) or "-",
            r.reason or "",
        ]
        for r in revisions
    ]
    show(table(f"card of {name}/{version}", ["revision", "at", "by", "changed", "reason"], rows))


@card.command("fairness")
@click.argument("ref", metavar="NAME/VERSION")
@click.option("--data", "data_file", required=True, metavar="FILE", help="Reference data (CSV, parquet, JSON).")
@click.option("--label", "label", required=True, metavar="COL", help="The column of true labels.")
@click.option(
    "--sensitive", "sensitive", required=True, multiple=True, metavar="COL", help="A sensitive column (repeat)."
)
@click.option("--prediction", metavar="COL", help="A column of predictions (default: predict with the version).")
@click.option("--pos-label", help="The favourable label (JSON scalar; default 1 for 0/1 labels).")
@click.option("--reason", help="Why, for the card's history and the audit trail.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored figures as JSON.")
def card_fairness(
    *,
    ref: str,
    data_file: str,
    label: str,
    sensitive: tuple[str, ...],
    prediction: str | None,
    pos_label: str | None,
    reason: str | None,
    as_json: bool,
) -> None:
    """Compute fairness figures of NAME/VERSION on reference data and store them on its card."""
    from shipyard.cli.inputs import read_table
    from shipyard.monitoring.fairness import fairness_report

    frame = read_table(data_file, what="reference data")
    if not hasattr(frame, "columns"):
        raise InvalidRequest("--data needs named columns (CSV, parquet or JSON), not a .npy array")
    needed = [label, *sensitive, *([prediction] if prediction else [])]
    absent = [c for c in needed if c not in frame.columns]
    if absent:
        shown = ", ".join(str(c) for c in list(frame.columns)[:12])
        raise InvalidRequest(f"the reference data has no column {absent[0]!r}", hint=f"its columns: {shown}")
    if len(frame) == 0:
        raise InvalidRequest("the reference data has no rows")
    with cli_state().services() as services:
        name, version = _version(services, ref)
        if prediction is not None:
            predicted = frame[prediction].to_numpy()
        else:
            predicted = _predict(services, name, version, frame.drop(columns=[label, *sensitive]))
        report = fairness_report(
            frame[label].to_numpy(),
            predicted,
            frame[list(sensitive)] if len(sensitive) > 1 else frame[sensitive[0]].to_numpy(),
            pos_label=None if pos_label is None else _scalar(pos_label),
        )
        figures = {
            "data": Path(data_file).name,
            "data_sha256": _sha256(Path(data_file)),
            "rows": len(frame),
            "label": label,
            "sensitive": list(sensitive),
            "predictions": prediction or f"{name}/{version}",
            "computed_at": datetime.now(UTC).isoformat(),
            "report": orjson.loads(orjson.dumps(report.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY, default=str)),
        }
        revision = services.store.cards.record_fairness(name, version, figures, reason=reason)
    if as_json:
        print_json(revision.to_dict())
        return
    click.echo(f"{name}/{version} card revision {revision.revision}: fairness on {figures['rows']} rows")
    summary = figures["report"]
    rows = [
        [key.replace("_", " "), _fmt(summary.get(key))]
        for key in (
            "demographic_parity_difference",
            "demographic_parity_ratio",
            "equalized_odds_difference",
            "equalized_odds_ratio",
        )
    ]
    show(table("fairness", ["figure", "value"], rows))


def _predict(services: Services, name: str, version: int, features: Any) -> Any:
    record = services.store.get_version(name, version)
    loaded = services.registry.load_version(record)
    rows = len(features)
    step = 10_000
    parts = []
    with count_progress(f"predicting {name}/{version}", (rows + step - 1) // step) as advance:
        for start in range(0, rows, step):
            outputs = loaded.predict_array(features.iloc[start : start + step])
            if "predict" not in outputs:
                raise InvalidRequest(f"{name}/{version} has no 'predict' output; give --prediction COL")
            parts.append(outputs["predict"])
            advance()
    import numpy as np

    return np.concatenate(parts)


def _read_fields(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InvalidRequest(f"fields file not found: {path}")
    if path.stat().st_size > MAX_FIELDS_FILE:
        raise InvalidRequest(f"{path.name} is larger than {MAX_FIELDS_FILE} bytes")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"{path.name} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InvalidRequest(f"{path.name} must be a mapping of card field to text")
    return data


def _assignments(items: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidRequest(f"--set takes FIELD=TEXT, got {item[:40]!r}")
        out[key.strip()] = value
    return out


_EDITOR_HEAD = (
    "# Edit the narrative fields of this model card (YAML). An empty field is cleared.\n"
    "# Lines starting with # are ignored. Save and close to record a new revision.\n"
)


def _from_editor(current: Any, names: tuple[str, ...]) -> dict[str, str]:
    document = {name: str(current.get(name, "")) for name in names}
    text = _EDITOR_HEAD + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    edited = click.edit(text, extension=".yaml")
    if edited is None:
        return {}
    try:
        data = yaml.safe_load(edited)
    except yaml.YAMLError as exc:
        raise InvalidRequest(f"the edited card is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise InvalidRequest("the edited card must be a mapping of field to text")
    changes: dict[str, str] = {}
    for key, value in data.items():
        text = "" if value is None else value if isinstance(value, str) else str(value)
        if text != document.get(str(key)):
            changes[str(key)] = text
    return changes


def _status_line(status: dict[str, Any]) -> None:
    if status["complete"]:
        click.echo("Card complete for its tier.")
    else:
        click.echo(f"Still missing: {', '.join(status['missing'])}")


def _scalar(text: str) -> Any:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, (str, int, float, bool)) else text


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
