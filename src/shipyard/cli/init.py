"""``shipyard init``: the home, its registry and signing key, and the first admin key."""

from __future__ import annotations

import click

from shipyard.cli.context import cli_state
from shipyard.cli.keys import print_key
from shipyard.errors import Conflict


@click.command()
@click.option("--json", "as_json", is_flag=True, help='Print {"key": ..., "id": ...} as JSON.')
def init(as_json: bool) -> None:
    """Set up SHIPYARD_HOME and create the first admin key (printed once)."""
    from shipyard.governance.keys import make_grants
    from shipyard.registry.sql.audit import local_actor

    with cli_state().services() as services:
        if services.keys.has_admin_key():
            raise Conflict(
                "this registry already has an admin key",
                hint="create more keys with `shipyard keys create NAME --role ROLE`",
            )
        record, token = services.keys.create("admin", make_grants(["admin"]), created_by=local_actor())
        home = services.settings.home
    if not as_json:
        click.echo(f"Initialised {home}.")
    print_key(record, token, as_json=as_json)
