"""``shipyard deploy``: apply a deployment spec, list deployments, read their history.

Every apply that changes a spec is a new revision (who, when, why, from where); ``diff``
compares two revisions' canonical YAML. Serving them (status, promote, rollback, pause,
reports) comes with the serving side.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import click
from rich.text import Text

from shipyard.cli.context import cli_state
from shipyard.cli.output import console, print_json, show, table, when
from shipyard.errors import InvalidRequest
from shipyard.registry.deployment_types import Applied, Deployment, DeploymentRevision

MAX_SPEC_FILE_BYTES = 256 * 1024


@click.group()
def deploy() -> None:
    """Deployments: named endpoints whose traffic goes to one or more model versions."""


@deploy.command("apply")
@click.argument("spec_file", metavar="SPEC_FILE", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--reason", help="Why, for the deployment's history and the audit trail.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def apply(spec_file: Path, reason: str | None, as_json: bool) -> None:
    """Apply the deployment spec in SPEC_FILE (YAML): a new revision if it changed anything."""
    from shipyard.registry.sql.audit import local_actor
    from shipyard.rollout.service import apply_spec

    text = _read_spec(spec_file)
    with cli_state().services() as services:
        applied = apply_spec(
            services.store, text, actor=local_actor(), source="local", reason=reason, source_name=spec_file.name
        )
    if as_json:
        print_json(applied.to_dict())
        return
    _say_applied(applied)


@deploy.command("list")
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted deployments.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_deployments(include_deleted: bool, as_json: bool) -> None:
    """Every deployment: name, state, current revision, last change."""
    with cli_state().services() as services:
        records = services.store.deployments.list(include_deleted=include_deleted)
        current = {d.name: services.store.deployments.revision(d.name, d.current_revision) for d in records}
    if as_json:
        print_json([{**d.to_dict(), "spec": current[d.name].spec} for d in records])
        return
    if not records:
        click.echo("No deployments. Apply one with `shipyard deploy apply SPEC_FILE`.")
        return
    rows = [[d.name, d.state, d.current_revision, _variants(current[d.name]), when(d.updated_at)] for d in records]
    show(table(None, ["name", "state", "revision", "variants", "updated"], rows))


@deploy.command("history")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(name: str, as_json: bool) -> None:
    """Every revision of deployment NAME, oldest first: who, when, from where, why."""
    with cli_state().services() as services:
        deployment = services.store.deployments.get(name)
        revisions = services.store.deployments.history(name)
    if as_json:
        print_json({"deployment": deployment.to_dict(), "revisions": [r.to_dict() for r in revisions]})
        return
    rows = [
        [
            f"{r.revision}{' *' if r.revision == deployment.current_revision else ''}",
            when(r.created_at),
            r.created_by,
            r.source,
            _variants(r),
            r.reason or "",
        ]
        for r in revisions
    ]
    title = f"{deployment.name} ({deployment.state}; * current)"
    show(table(title, ["revision", "applied", "by", "from", "variants", "reason"], rows))


@deploy.command("show")
@click.argument("name")
@click.option("--revision", "number", type=int, help="A past revision (default: the current one).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_deployment(name: str, number: int | None, as_json: bool) -> None:
    """Deployment NAME and its spec (the current revision, or --revision N)."""
    from shipyard.rollout.service import spec_yaml

    with cli_state().services() as services:
        deployment = services.store.deployments.get(name)
        revision = services.store.deployments.revision(
            name, number if number is not None else deployment.current_revision
        )
    if as_json:
        print_json({"deployment": deployment.to_dict(), "revision": revision.to_dict()})
        return
    click.echo(f"deployment {deployment.name}: {deployment.state}, revision {deployment.current_revision} current")
    click.echo(
        f"revision {revision.revision}: applied {when(revision.created_at)} by {revision.created_by}"
        f" from {revision.source}" + (f" ({revision.reason})" if revision.reason else "")
    )
    click.echo("")
    click.echo(spec_yaml(revision.spec_json), nl=False)


@deploy.command("diff")
@click.argument("name")
@click.argument("rev1", type=int)
@click.argument("rev2", type=int)
def diff(name: str, rev1: int, rev2: int) -> None:
    """A unified diff of the canonical YAML of revisions REV1 and REV2 of NAME."""
    from shipyard.rollout.service import spec_yaml

    with cli_state().services() as services:
        old = services.store.deployments.revision(name, rev1)
        new = services.store.deployments.revision(name, rev2)
    lines = list(
        difflib.unified_diff(
            spec_yaml(old.spec_json).splitlines(keepends=True),
            spec_yaml(new.spec_json).splitlines(keepends=True),
            fromfile=f"{name} revision {rev1}",
            tofile=f"{name} revision {rev2}",
        )
    )
    if not lines:
        click.echo(f"revisions {rev1} and {rev2} of {name} have the same spec")
        return
    out = console()
    for line in lines:
        out.print(Text(line.rstrip("\n"), style=_diff_style(line)), soft_wrap=True)


@deploy.command("delete")
@click.argument("name")
@click.option("--reason", help="Why, for the audit trail.")
def delete(name: str, reason: str | None) -> None:
    """Delete deployment NAME (its history is kept; applying NAME again continues it)."""
    from shipyard.registry.sql.audit import local_actor

    with cli_state().services() as services:
        deployment = services.store.deployments.delete(name, actor=local_actor(), source="local", reason=reason)
    click.echo(f"Deleted deployment {deployment.name} (its {deployment.current_revision} revision(s) are kept).")


def _read_spec(path: Path) -> str:
    if not path.is_file():
        raise InvalidRequest(f"spec file not found: {path}", hint="check the path")
    if path.stat().st_size > MAX_SPEC_FILE_BYTES:
        raise InvalidRequest(f"{path.name}: a spec file is at most {MAX_SPEC_FILE_BYTES} bytes")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"{path.name}: a spec is UTF-8 text") from exc
    except OSError as exc:
        raise InvalidRequest(f"cannot read spec file {path}: {exc.strerror}") from exc


def _say_applied(applied: Applied) -> None:
    d: Deployment = applied.deployment
    if applied.changed:
        click.echo(
            f"Applied deployment {d.name}: revision {applied.revision.revision} ({_variants(applied.revision)})."
        )
    else:
        click.echo(f"Deployment {d.name} unchanged: revision {applied.revision.revision} has this spec already.")


def _variants(revision: DeploymentRevision) -> str:
    parts = []
    for name, variant in dict(revision.spec.get("variants", {})).items():
        weight = variant.get("weight")
        extra = f" {weight}%" if weight is not None else ""
        parts.append(f"{name}={variant.get('model')} ({variant.get('role')}{extra})")
    return ", ".join(parts)


def _diff_style(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    return ""
