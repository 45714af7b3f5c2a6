"""``shipyard alerts``: the rules and their alerts, the history of firings and resolutions,
and where each notification went (``list``, ``history``, ``deliveries``), and ``check`` of
a rule file before a server loads it."""

from __future__ import annotations

from pathlib import Path

import click

from shipyard.cli.context import cli_state
from shipyard.cli.output import print_json, show, table


@click.group()
def alerts() -> None:
    """Alert rules, their state, history and deliveries."""


@alerts.command("check")
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def check(path: Path | None, as_json: bool) -> None:
    """Validate a rule file (default: the configured one); names the bad line and field."""
    from shipyard.monitoring.alerts import load_rules, rules_path

    settings = cli_state().settings()
    chosen = path or rules_path(settings)
    rules = load_rules(chosen, allow_private=settings.webhook_allow_private)
    if as_json:
        print_json({"file": str(chosen), "rules": len(rules.rules), "webhooks": sorted(rules.webhooks)})
        return
    click.echo(f"{chosen}: {len(rules.rules)} rule(s), {len(rules.webhooks)} webhook(s), valid.")


@alerts.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_alerts(as_json: bool) -> None:
    """Each rule, and its alert's state per target."""
    from shipyard.monitoring.alerts import rules_from_settings
    from shipyard.monitoring.alerts.view import overview

    with cli_state().services() as services:
        rules = rules_from_settings(services.settings, check_urls=False)
        entries = overview(rules, services.store.alerts.states())
    if as_json:
        print_json({"rules": entries})
        return
    if not entries:
        click.echo("No alert rules.")
        return
    rows = []
    for entry in entries:
        condition = "(removed from the file)" if entry["removed"] else f"{entry['target']}: {entry['condition']}"
        if not entry["alerts"]:
            rows.append([entry["rule"], condition, "", "", "", ""])
        for alert in entry["alerts"]:
            value = "" if alert["value"] is None else f"{alert['value']:g}"
            rows.append([entry["rule"], condition, alert["target"], alert["state"], value, alert["since"] or ""])
    show(table(None, ["rule", "condition", "target", "state", "value", "since"], rows))


@alerts.command("history")
@click.option("--rule", help="Only this rule.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(rule: str | None, limit: int, as_json: bool) -> None:
    """Firings and resolutions, newest first."""
    with cli_state().services() as services:
        events = services.store.alerts.events(rule=rule, limit=limit)
    if as_json:
        print_json([e.to_dict() for e in events])
        return
    if not events:
        click.echo("No alerts have fired.")
        return
    rows = [
        [str(e.id), e.at.strftime("%Y-%m-%d %H:%M:%S"), e.rule, e.target, e.kind, str(e.payload.get("summary", ""))]
        for e in events
    ]
    show(table(None, ["id", "at", "rule", "target", "event", "summary"], rows))


@alerts.command("deliveries")
@click.option("--event", "event_id", type=click.IntRange(1), help="Only this event's deliveries.")
@click.option("--status", type=click.Choice(["pending", "delivered", "failed"]), help="Only these.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def deliveries(event_id: int | None, status: str | None, limit: int, as_json: bool) -> None:
    """Where each notification went: attempts, last status and error, newest first."""
    with cli_state().services() as services:
        found = services.store.alerts.deliveries(event_id=event_id, status=status, limit=limit)
    if as_json:
        print_json([d.to_dict() for d in found])
        return
    if not found:
        click.echo("No deliveries.")
        return
    rows = [
        [
            str(d.id),
            str(d.event_id),
            d.channel,
            d.status,
            str(d.attempts),
            "" if d.last_status is None else str(d.last_status),
            (d.last_error or "")[:80],
        ]
        for d in found
    ]
    show(table(None, ["id", "event", "channel", "status", "attempts", "last", "error"], rows))
