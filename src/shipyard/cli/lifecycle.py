"""``shipyard models deprecate|retire|reinstate|archive|restore NAME/V``: a version's lifecycle
(``docs/lifecycle.md``). Each prints one line (or the record with ``--json``) and is audited
as the local user."""

from __future__ import annotations

import click

from shipyard.cli import views
from shipyard.cli.context import cli_state
from shipyard.cli.output import print_json
from shipyard.errors import InvalidName
from shipyard.registry.types import ModelVersion

_JSON = click.option("--json", "as_json", is_flag=True, help="Print the version's record as JSON.")
_REASON = click.option("--reason", metavar="TEXT", help="Why, for the audit trail.")


def _version_ref(ref: str) -> tuple[str, int]:
    from shipyard.registry.refs import parse_ref

    parsed = parse_ref(ref)
    if parsed.version is None:
        raise InvalidName(f"{ref!r} names no version", hint="give NAME/VERSION, e.g. fraud/3")
    return parsed.name, parsed.version


def _done(record: ModelVersion, as_json: bool) -> None:
    if as_json:
        print_json(record.to_dict())
    else:
        click.echo(views.lifecycle_line(record))


@click.command()
@click.argument("ref", metavar="NAME/VERSION")
@click.option("--sunset", metavar="DATE", help="When it will stop answering: 2027-03-01 or an ISO 8601 time.")
@click.option("--successor", metavar="REF", help="What to use instead: NAME/VERSION or NAME@ALIAS.")
@_REASON
@_JSON
def deprecate(ref: str, sunset: str | None, successor: str | None, reason: str | None, as_json: bool) -> None:
    """Deprecate a version: it keeps answering, with Deprecation and Sunset headers."""
    from shipyard.registry.lifecycle import parse_when

    name, version = _version_ref(ref)
    when = parse_when(sunset, what="--sunset") if sunset is not None else None
    with cli_state().services() as services:
        record = services.store.lifecycle.deprecate(name, version, sunset_at=when, successor=successor, reason=reason)
    _done(record, as_json)


@click.command()
@click.argument("ref", metavar="NAME/VERSION")
@click.option("--successor", metavar="REF", help="What to use instead (default: the one its deprecation named).")
@click.option("--archive", "archive_too", is_flag=True, help="Also move its artifacts to archive storage.")
@_REASON
@_JSON
def retire(ref: str, successor: str | None, archive_too: bool, reason: str | None, as_json: bool) -> None:
    """Retire a version: it answers 410 naming its successor, and cannot be served or aliased."""
    name, version = _version_ref(ref)
    with cli_state().services() as services:
        record = services.store.lifecycle.retire(name, version, successor=successor, reason=reason)
        if archive_too:
            record = services.registry.archiver.archive_retired(name, version, reason=reason)
    _done(record, as_json)


@click.command()
@click.argument("ref", metavar="NAME/VERSION")
@_REASON
@_JSON
def reinstate(ref: str, reason: str | None, as_json: bool) -> None:
    """Make a deprecated or retired version active again (restore it first if archived)."""
    name, version = _version_ref(ref)
    with cli_state().services() as services:
        record = services.store.lifecycle.reinstate(name, version, reason=reason)
    _done(record, as_json)


@click.command()
@click.argument("ref", metavar="NAME/VERSION")
@_REASON
@_JSON
def archive(ref: str, reason: str | None, as_json: bool) -> None:
    """Move a retired version's artifacts to archive storage."""
    name, version = _version_ref(ref)
    with cli_state().services() as services:
        record = services.registry.archiver.archive(name, version, reason=reason)
    _done(record, as_json)


@click.command()
@click.argument("ref", metavar="NAME/VERSION")
@_REASON
@_JSON
def restore(ref: str, reason: str | None, as_json: bool) -> None:
    """Bring an archived version's artifacts back (digests checked); it stays retired."""
    name, version = _version_ref(ref)
    with cli_state().services() as services:
        record = services.registry.archiver.restore(name, version, reason=reason)
    _done(record, as_json)


COMMANDS = (deprecate, retire, reinstate, archive, restore)
