"""``shipyard controls``: the serving controls of a model or deployment (review rules,
guardrails, fallback, PII marks, retention): ``list``, ``show``, ``set``, ``delete``.

``set TARGET -f controls.yaml`` replaces the document; ``--pii FIELD=MARK`` and
``--retention-days N`` change those parts of the current one. Every change is a new
revision, audited (``controls.set``); servers follow it within ``alias_poll_seconds``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import yaml

from shipyard.cli.context import cli_state
from shipyard.cli.output import print_json, show, table, when
from shipyard.errors import InvalidRequest, NotFound

_MARKS = ("drop", "hash", "keep")


@click.group()
def controls() -> None:
    """Serving controls per model or deployment: review, guardrails, fallback, PII, retention."""


@controls.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_controls(as_json: bool) -> None:
    """Every target that has controls, and what they set."""
    with cli_state().services() as services:
        found = services.store.controls.all()
    if as_json:
        print_json([found[t].to_dict() for t in sorted(found)])
        return
    if not found:
        click.echo("No controls are set.")
        return
    rows = []
    for target in sorted(found):
        stored = found[target]
        document = stored.controls.to_dict()
        parts = ", ".join(k for k in ("review", "guardrails", "fallback") if k in document)
        pii = ", ".join(f"{f}={m}" for f, m in sorted(stored.controls.pii.items()))
        days = stored.controls.retention_days
        rows.append(
            [target, str(stored.revision), parts, pii, "" if days is None else str(days), when(stored.updated_at)]
        )
    show(table(None, ["target", "rev", "parts", "pii", "retention days", "updated"], rows))


@controls.command("show")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_controls(target: str, as_json: bool) -> None:
    """TARGET's controls document (YAML, or JSON with --json)."""
    with cli_state().services() as services:
        stored = services.store.controls.get(target)
    if stored is None:
        raise NotFound(f"{target!r} has no controls", hint="set them: shipyard controls set TARGET -f controls.yaml")
    if as_json:
        print_json(stored.to_dict())
        return
    click.echo(f"# {stored.target}: revision {stored.revision}, by {stored.actor}, {when(stored.updated_at)}")
    click.echo(yaml.safe_dump(stored.controls.to_dict(), sort_keys=False, allow_unicode=True).rstrip())


@controls.command("set")
@click.argument("target")
@click.option(
    "-f", "--file", "path", type=click.Path(dir_okay=False, path_type=Path), help="A controls document (YAML)."
)
@click.option("--pii", "marks", multiple=True, metavar="FIELD=MARK", help="Mark a field drop, hash or keep.")
@click.option("--retention-days", type=click.IntRange(1, 36500), help="Purge data older than this.")
@click.option("--no-retention", is_flag=True, help="Remove the retention period.")
@click.option("--reason", help="Why, for the audit trail.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def set_controls(
    *,
    target: str,
    path: Path | None,
    marks: tuple[str, ...],
    retention_days: int | None,
    no_retention: bool,
    reason: str | None,
    as_json: bool,
) -> None:
    """Replace TARGET's controls (-f), or change its PII marks and retention."""
    if path is None and not marks and retention_days is None and not no_retention:
        raise InvalidRequest("say what to set: -f controls.yaml, --pii FIELD=MARK or --retention-days N")
    if retention_days is not None and no_retention:
        raise InvalidRequest("--retention-days and --no-retention contradict each other")
    with cli_state().services() as services:
        store = services.store.controls
        if path is not None:
            document = _read_document(path)
        else:
            current = store.get(target)
            document = current.controls.to_dict() if current is not None else {}
        if marks:
            document["pii"] = {**document.get("pii", {}), **dict(_mark(m) for m in marks)}
        if retention_days is not None:
            document["retention_days"] = retention_days
        if no_retention:
            document.pop("retention_days", None)
        stored = store.set(target, document, reason=reason)
    if as_json:
        print_json(stored.to_dict())
        return
    click.echo(f"Controls of {target} set: revision {stored.revision}.")


@controls.command("delete")
@click.argument("target")
@click.option("--reason", help="Why, for the audit trail.")
def delete_controls(target: str, reason: str | None) -> None:
    """Remove TARGET's controls."""
    with cli_state().services() as services:
        services.store.controls.delete(target, reason=reason)
    click.echo(f"Controls of {target} deleted.")


def _read_document(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InvalidRequest(f"{path.name}: no such file") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidRequest(f"{path.name}: cannot read it as UTF-8 text") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise InvalidRequest(f"{path.name}: not valid YAML{where}") from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise InvalidRequest(f"{path.name}: a controls document is a mapping")
    return document


def _mark(text: str) -> tuple[str, str]:
    field, sep, mark = text.partition("=")
    if not sep or not field or mark not in _MARKS:
        raise InvalidRequest(f"--pii takes FIELD=drop|hash|keep, not {text[:80]!r}")
    return field, mark
