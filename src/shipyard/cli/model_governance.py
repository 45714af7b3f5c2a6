"""``shipyard models tier`` (a model's risk tier: an admin's change, audited) and
``shipyard models rollback NAME@ALIAS [--to V]`` (the emergency rollback of an alias:
never gated, audited as an emergency and flagged for review). Added to the ``models``
group by ``cli/models.py``."""

from __future__ import annotations

import click

from shipyard.cli.context import cli_state
from shipyard.cli.output import print_json
from shipyard.errors import InvalidRequest


@click.command("tier")
@click.argument("name")
@click.argument("tier", required=False, type=click.Choice(["minimal", "limited", "high"]))
@click.option("--reason", help="Why, for the audit trail.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def tier(name: str, tier: str | None, reason: str | None, as_json: bool) -> None:
    """Show model NAME's risk tier, or set it to TIER (minimal, limited, high)."""
    from shipyard.registry.refs import check_model_name
    from shipyard.registry.sql.audit import local_actor

    check_model_name(name)
    with cli_state().services() as services:
        if tier is None:
            model = services.store.get_model(name)
        else:
            model = services.store.set_tier(name, tier, actor=local_actor(), reason=reason)
    if as_json:
        print_json({"model": model.name, "risk_tier": model.risk_tier, "tier_set": model.tier_set})
        return
    origin = "" if model.tier_set else " (the policy's default)"
    click.echo(f"{model.name}: tier {model.risk_tier}{origin}")


@click.command("rollback")
@click.argument("ref", metavar="NAME@ALIAS")
@click.option("--to", "to_version", type=int, metavar="V", help="The version to go back to (default: the one before).")
@click.option("--reason", help="Why (recorded in the audit trail and on the flag).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def rollback(ref: str, to_version: int | None, reason: str | None, as_json: bool) -> None:
    """Emergency rollback of NAME@ALIAS: always allowed, audited, flagged for review."""
    from shipyard.registry.refs import parse_ref
    from shipyard.registry.sql.audit import local_actor

    parsed = parse_ref(ref)
    if parsed.alias is None:
        raise InvalidRequest(f"name an alias: NAME@ALIAS, not {ref!r}", hint="for example iris@production")
    with cli_state().services() as services:
        done = services.store.rollback_alias(
            parsed.name, parsed.alias, to=to_version, actor=local_actor(), reason=reason
        )
    if as_json:
        print_json(done)
        return
    click.echo(
        f"{parsed.name}@{parsed.alias} → {done['version']} (was {done['previous']}); emergency rollback, "
        f"flag {done['flag']} to review (shipyard approvals flags)"
    )


COMMANDS = (tier, rollback)
