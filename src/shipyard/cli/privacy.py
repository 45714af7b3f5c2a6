"""``shipyard retention run`` and ``shipyard erase``: purge data past each target's
retention, and erase one subject from the prediction log, feedback and review tickets.
Both print what they removed (a table, or ``--json``)."""

from __future__ import annotations

import click

from shipyard.cli.context import cli_state
from shipyard.cli.output import console, print_json, show, table
from shipyard.errors import InvalidRequest


@click.group()
def retention() -> None:
    """Retention: prediction logs, feedback and review tickets older than a target's retention_days."""


@retention.command("run")
@click.option("--dry-run", is_flag=True, help="Count what would be purged; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def run(dry_run: bool, as_json: bool) -> None:
    """Purge now every target's data past its retention_days (see `shipyard controls`)."""
    from shipyard.fs.pii_key import settings_pii_key
    from shipyard.monitoring.retention import run_retention
    from shipyard.registry.sql.audit import local_actor

    with cli_state().services() as services, console(stderr=True).status("purging past retention"):
        settings = services.settings
        report = run_retention(
            settings.home, services.store, actor=local_actor(), dry_run=dry_run, pii_key=settings_pii_key(settings)
        )
    if as_json:
        print_json(report.to_dict())
        return
    if report.locked:
        click.echo("Another process is running retention; nothing done.")
        return
    if not report.targets:
        click.echo("No target has retention_days set.")
        return
    rows = [
        [t.target, str(t.days), t.before.strftime("%Y-%m-%d %H:%M"), str(t.log_rows), str(t.feedback), str(t.reviews)]
        for t in report.targets
    ]
    verb = "would purge" if dry_run else "purged"
    show(table(f"retention ({verb})", ["target", "days", "before", "log rows", "feedback", "reviews"], rows))


@click.command()
@click.option("--key", help="The subject's prediction key (X-Prediction-Key).")
@click.option("--field", help="An input field (or feedback attribute) holding the subject's value.")
@click.option("--value", help="The value of --field to erase (text; numbers match too).")
@click.option("--reason", help="Why, for the audit trail.")
@click.option("--dry-run", is_flag=True, help="Count what would be erased; change nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def erase(
    *, key: str | None, field: str | None, value: str | None, reason: str | None, dry_run: bool, as_json: bool
) -> None:
    """Erase one subject from the prediction log, feedback and review tickets (audited)."""
    from shipyard.fs.pii_key import settings_pii_key
    from shipyard.monitoring.erasure import Subject, erase_subject
    from shipyard.registry.sql.audit import local_actor

    if field is not None and value is None:
        raise InvalidRequest("--field needs --value")
    if value is not None and field is None:
        raise InvalidRequest("--value goes with --field")
    subject = Subject.parse(key=key, field=field, value=value)
    with cli_state().services() as services, console(stderr=True).status("erasing"):
        settings = services.settings
        report = erase_subject(
            settings.home,
            services.store,
            subject,
            pii_key=settings_pii_key(settings),
            actor=local_actor(),
            reason=reason,
            dry_run=dry_run,
        )
    if as_json:
        print_json(report.to_dict())
        return
    named = "key" if report.kind == "key" else f"field {report.field}"
    rows = [
        ["prediction rows", str(report.log_rows)],
        ["rows in open segments (dropped at compaction)", str(report.pending_rows)],
        ["feedback facts", str(report.feedback)],
        ["review tickets", str(report.reviews)],
    ]
    verb = "would erase" if dry_run else "erased"
    show(table(f"{verb}: subject by {named} (hmac {report.subject_hash[:16]}…)", ["what", "count"], rows))
