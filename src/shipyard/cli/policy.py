"""``shipyard policy``: the governance policy in force (``show``), a new revision from a
YAML file (``set``), and every revision (``history``). Changing it is an admin's act:
locally, whoever owns the registry; over HTTP, the ``governance.admin`` scope."""

from __future__ import annotations

from pathlib import Path

import click

from shipyard.cli.context import cli_state
from shipyard.cli.output import print_json, show, table
from shipyard.errors import InvalidRequest

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
MAX_BYTES = 64 * 1024


@click.group()
def policy() -> None:
    """The governance policy: what each risk tier needs before production."""


@policy.command("show")
@click.option("--revision", type=click.IntRange(min=0), help="An earlier revision (0: the built-in default).")
@_JSON
def show_policy(revision: int | None, as_json: bool) -> None:
    """The policy in force, as YAML (with its revision)."""
    with cli_state().services() as services:
        stored = services.store.policies.current() if revision is None else services.store.policies.revision(revision)
    if as_json:
        print_json(stored.to_dict())
        return
    origin = "the built-in default" if stored.revision == 0 else f"set by {stored.actor} at {stored.created_at}"
    click.echo(f"# policy revision {stored.revision} ({origin})")
    click.echo(stored.text.rstrip("\n"))


@policy.command("set")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--reason", help="Why, for the audit trail.")
@_JSON
def set_policy(path: Path, reason: str | None, as_json: bool) -> None:
    """Check PATH (YAML) and make it the policy's next revision (audited)."""
    from shipyard.registry.sql.audit import local_actor

    if not path.is_file():
        raise InvalidRequest(f"policy file not found: {path}")
    if path.stat().st_size > MAX_BYTES:
        raise InvalidRequest(f"a policy is at most {MAX_BYTES} bytes")
    with cli_state().services() as services:
        stored = services.store.policies.set(path.read_bytes(), actor=local_actor(), reason=reason)
    if as_json:
        print_json(stored.to_dict())
        return
    click.echo(f"Policy revision {stored.revision} in force")


@policy.command("history")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@_JSON
def history(limit: int, as_json: bool) -> None:
    """Every revision, newest first."""
    with cli_state().services() as services:
        found = services.store.policies.history(limit=limit)
    if as_json:
        print_json({"revisions": [p.to_dict() for p in found]})
        return
    rows = [
        [
            str(p.revision),
            p.actor or "(built in)",
            p.created_at.strftime("%Y-%m-%d %H:%M:%S") if p.created_at else "",
            p.policy.default_tier,
            ", ".join(p.policy.protected_aliases),
            ", ".join(f"{t}: {r.approvals}" for t, r in p.policy.tiers.items()),
        ]
        for p in found
    ]
    show(table(None, ["revision", "by", "at", "default tier", "protected", "approvals"], rows))
