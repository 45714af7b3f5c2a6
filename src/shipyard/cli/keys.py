"""``shipyard keys``: create, list and revoke API keys; show the artifact-signing public key."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from shipyard.cli.context import cli_state
from shipyard.cli.output import print_json, show, table, when
from shipyard.governance.keys import KeyRecord, check_key_name, make_grants, parse_duration
from shipyard.governance.scopes import ROLES, parse_patterns


@click.group()
def keys() -> None:
    """Manage API keys (shown once at creation, stored only as a hash)."""


@keys.command("create")
@click.argument("name")
@click.option(
    "--role", "roles", multiple=True, required=True, metavar="ROLE", help=f"One of {', '.join(ROLES)} (repeat)."
)
@click.option("--models", "models", default="*", show_default=True, help="Model-name globs, comma-separated.")
@click.option("--expires", default="never", show_default=True, help="Lifetime: 30d, 12h, 90m or never.")
@click.option("--json", "as_json", is_flag=True, help="Print the key and its id as JSON.")
def create(name: str, roles: tuple[str, ...], models: str, expires: str, as_json: bool) -> None:
    """Create a key NAME with the given roles; the key is printed once, never again."""
    from shipyard.registry.sql.audit import local_actor

    check_key_name(name)
    grants = make_grants(roles, parse_patterns(models) if models.strip() else ())
    lifetime = parse_duration(expires)
    expires_at = datetime.now(UTC) + lifetime if lifetime is not None else None
    with cli_state().services() as services:
        record, token = services.keys.create(name, grants, expires_at=expires_at, created_by=local_actor())
    print_key(record, token, as_json=as_json)


def print_key(record: KeyRecord, token: str, *, as_json: bool) -> None:
    """Show a new key once, with how to use it."""
    if as_json:
        print_json({"key": token, "id": record.id, "name": record.name})
        return
    click.echo(f"Created API key {record.id} ({record.name}): {_roles(record)} on {_models(record)}")
    click.echo("")
    click.echo(f"    {token}")
    click.echo("")
    click.echo("Store it now: it is shown only this once (Shipyard keeps only its hash). To use it:")
    click.echo(f"    export SHIPYARD_API_KEY={token}")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_keys(as_json: bool) -> None:
    """Every key: id, name, roles, models, dates and state (never a secret or its hash)."""
    with cli_state().services() as services:
        records = services.keys.list()
    now = datetime.now(UTC)
    if as_json:
        print_json([r.to_dict(now) for r in records])
        return
    if not records:
        click.echo("No API keys. Create the first admin key with `shipyard init`.")
        return
    rows = [
        [
            r.id,
            r.name,
            _roles(r),
            _models(r),
            when(r.created_at),
            when(r.expires_at) if r.expires_at else "never",
            when(r.last_used_at) if r.last_used_at else "-",
            r.state(now),
        ]
        for r in records
    ]
    show(table(None, ["id", "name", "roles", "models", "created", "expires", "last used", "state"], rows))


@keys.command("revoke")
@click.argument("key_id", metavar="ID")
@click.option("--reason", help="Why, for the audit trail.")
def revoke(key_id: str, reason: str | None) -> None:
    """Revoke the key ID (servers stop accepting it within key_cache_seconds)."""
    from shipyard.registry.sql.audit import local_actor

    with cli_state().services() as services:
        record = services.keys.revoke(key_id, actor=local_actor(), reason=reason)
    click.echo(f"Revoked API key {record.id} ({record.name}).")


@keys.command("signing-public")
def signing_public() -> None:
    """Print the public key (PEM) that verifies this home's artifact signatures."""
    with cli_state().services() as services:
        click.echo(services.signer.public_pem(), nl=False)


def _roles(record: KeyRecord) -> str:
    return ",".join(dict.fromkeys(g.role for g in record.grants))


def _models(record: KeyRecord) -> str:
    return ",".join(dict.fromkeys(p for g in record.grants for p in g.models))
