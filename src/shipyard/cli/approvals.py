"""``shipyard approvals``: ask for a version's approval, list requests and where a version
stands against the policy, approve, reject; and the governance flags an emergency rollback
leaves (``flags``, ``flags clear``).

Local commands act as the OS user (``user:<name>``, or ``$SHIPYARD_USER``), the identity the
registry records for local work; separation of duties compares it with the registrant.
"""

from __future__ import annotations

from typing import Any

import click

from shipyard.cli.context import cli_state
from shipyard.cli.output import print_json, show, table
from shipyard.errors import InvalidRequest

_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
_STATUSES = ("pending", "approved", "rejected", "expired")


@click.group()
def approvals() -> None:
    """Approval requests of model versions, and governance flags."""


def _version_ref(ref: str) -> tuple[str, int]:
    from shipyard.registry.refs import parse_ref

    parsed = parse_ref(ref)
    if parsed.version is None:
        raise InvalidRequest(f"name a version: NAME/VERSION, not {ref!r}", hint="for example iris/3")
    return parsed.name, parsed.version


@approvals.command("request")
@click.argument("ref", metavar="NAME/VERSION")
@click.option("-m", "--comment", required=True, help="What changed, and why it should go out.")
@click.option("--expires-in", "expires_in", type=int, metavar="DAYS", help="Days until the request expires.")
@_JSON
def request(ref: str, comment: str, expires_in: int | None, as_json: bool) -> None:
    """Ask approvers to approve NAME/VERSION."""
    from shipyard.registry.sql.audit import local_actor

    name, version = _version_ref(ref)
    with cli_state().services() as services:
        found = services.store.approvals.request(
            name, version, comment=comment, expires_in_days=expires_in, actor=local_actor()
        )
    if as_json:
        print_json(found)
        return
    click.echo(f"Approval request {found['id']} for {name}/{version} (expires {found['expires_at'][:10]})")


@approvals.command("list")
@click.argument("ref", required=False, metavar="[NAME[/VERSION]]")
@click.option("--status", type=click.Choice(_STATUSES), help="Only requests in this state.")
@click.option("--alias", default="production", show_default=True, help="The protected alias to check against.")
@click.option("--deployment", help="Check against this deployment's traffic instead of an alias.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@_JSON
def list_requests(
    ref: str | None, *, status: str | None, alias: str, deployment: str | None, limit: int, as_json: bool
) -> None:
    """Requests, newest first. With NAME/VERSION: where the version stands (tier, what it
    still needs), then its requests and votes."""
    from shipyard.registry.refs import parse_ref

    parsed = parse_ref(ref) if ref else None
    purpose = f"deployment:{deployment}" if deployment else f"alias:{alias}"
    with cli_state().services() as services:
        store = services.store
        gate = None
        if parsed is not None and parsed.version is not None:
            gate = store.approvals.status(parsed.name, parsed.version, purpose=purpose)
        found = store.approvals.list(
            name=parsed.name if parsed else None,
            version=parsed.version if parsed else None,
            status=status,
            limit=limit,
        )
    if as_json:
        print_json({"status": gate.to_dict(), "approvals": found} if gate is not None else {"approvals": found})
        return
    if gate is not None:
        verdict = "allowed" if gate.allowed else "missing: " + "; ".join(gate.missing)
        click.echo(f"{gate.model}/{gate.version} tier {gate.tier} for {gate.purpose}: {verdict}")
        click.echo(f"counting approvers: {', '.join(gate.approvers) or 'none'}")
    if not found:
        click.echo("No approval requests.")
        return
    show(table(None, ["id", "version", "status", "requested by", "votes", "expires", "comment"], _rows(found)))


def _rows(found: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for item in found:
        votes = ", ".join(f"{v['actor']}: {v['decision']}" for v in item["votes"]) or "-"
        expires = (item["expires_at"] or "")[:10]
        rows.append(
            [
                str(item["id"]),
                f"{item['model']}/{item['version']}",
                item["status"],
                item["requested_by"],
                votes,
                expires,
                item["comment"][:60],
            ]
        )
    return rows


@approvals.command("approve")
@click.argument("request_id", type=int, metavar="ID")
@click.option("-m", "--comment", default="", help="Why.")
@_JSON
def approve(request_id: int, comment: str, as_json: bool) -> None:
    """Approve request ID (never your own registration)."""
    _vote(request_id, "approve", comment, as_json)


@approvals.command("reject")
@click.argument("request_id", type=int, metavar="ID")
@click.option("-m", "--comment", default="", help="Why.")
@_JSON
def reject(request_id: int, comment: str, as_json: bool) -> None:
    """Reject request ID (it takes no more votes)."""
    _vote(request_id, "reject", comment, as_json)


def _vote(request_id: int, decision: str, comment: str, as_json: bool) -> None:
    from shipyard.registry.sql.audit import local_actor

    with cli_state().services() as services:
        store = services.store.approvals
        vote = store.approve if decision == "approve" else store.reject
        found = vote(request_id, comment=comment, actor=local_actor())
    if as_json:
        print_json(found)
        return
    click.echo(f"Request {found['id']} ({found['model']}/{found['version']}): {decision}d, now {found['status']}")


@approvals.group("flags", invoke_without_command=True)
@click.option("--all", "everything", is_flag=True, help="Cleared flags too.")
@_JSON
@click.pass_context
def flags(ctx: click.Context, everything: bool, as_json: bool) -> None:
    """Governance flags to review (emergency rollbacks); `flags clear ID --note` clears one."""
    if ctx.invoked_subcommand is not None:
        return
    with cli_state().services() as services:
        found = services.store.flags.list(include_cleared=everything)
    if as_json:
        print_json({"flags": [f.to_dict() for f in found]})
        return
    if not found:
        click.echo("No open governance flags." if not everything else "No governance flags.")
        return
    rows = [
        [
            str(f.id),
            f.kind,
            f.target,
            f.actor,
            f.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "open" if f.open else f"cleared by {f.cleared_by}",
            str(f.details.get("reason") or "")[:50],
        ]
        for f in found
    ]
    show(table(None, ["id", "kind", "target", "by", "at", "state", "reason"], rows))


@flags.command("clear")
@click.argument("flag_id", type=int, metavar="ID")
@click.option("--note", required=True, help="What the review found.")
@_JSON
def clear(flag_id: int, note: str, as_json: bool) -> None:
    """Clear flag ID after review (an admin's act; audited)."""
    from shipyard.registry.sql.audit import local_actor

    with cli_state().services() as services:
        flag = services.store.flags.clear(flag_id, note=note, actor=local_actor())
    if as_json:
        print_json(flag.to_dict())
        return
    click.echo(f"Cleared flag {flag.id} ({flag.kind} on {flag.target})")
