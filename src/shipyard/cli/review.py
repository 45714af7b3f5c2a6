"""``shipyard review``: the human review queue (``list``, ``show``, ``claim``, ``decide``),
here (this home's registry, as the local user) or on a server (``--url``, with a key that
has ``reviews.write``, through the SDK)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from shipyard.cli.context import cli_state
from shipyard.cli.output import print_json, show, table
from shipyard.errors import InvalidRequest

F = TypeVar("F", bound=Callable[..., Any])
STATUSES = ("open", "pending", "claimed", "decided", "expired", "all")


def _remote_options(command: F) -> F:
    command = click.option("--json", "as_json", is_flag=True, help="Print JSON.")(command)
    command = click.option(
        "--api-key-file",
        type=click.Path(exists=True, dir_okay=False, readable=True),
        metavar="PATH",
        help="With --url: read the API key from PATH (default: $SHIPYARD_API_KEY).",
    )(command)
    return click.option("--url", help="Work on the server at URL instead of this home's registry.")(command)


class _Queue:
    """The same four operations, on this home's registry or through a server."""

    def __init__(self, local: Any = None, client: Any = None) -> None:
        self._local = local
        self._client = client

    def list(self, status: str | None, target: str | None, limit: int) -> list[dict[str, Any]]:
        if self._client is not None:
            found: list[dict[str, Any]] = self._client.list_reviews(status=status, target=target, limit=limit)
            return found
        return [t.to_dict() for t in self._local.reviews.list(status=status, target=target, limit=limit)]

    def get(self, ticket: str) -> dict[str, Any]:
        if self._client is not None:
            found: dict[str, Any] = self._client.get_review(ticket)
            return found
        return dict(self._local.reviews.get(ticket).to_dict())

    def claim(self, ticket: str) -> dict[str, Any]:
        if self._client is not None:
            claimed: dict[str, Any] = self._client.claim_review(ticket)
            return claimed
        return dict(self._local.reviews.claim(ticket).to_dict())

    def decide(self, ticket: str, action: str, outputs: dict[str, Any] | None, comment: str | None) -> dict[str, Any]:
        if self._client is not None:
            decided: dict[str, Any] = self._client.decide_review(ticket, action, outputs=outputs, comment=comment)
            return decided
        return dict(self._local.reviews.decide(ticket, action, outputs=outputs, comment=comment).to_dict())


@contextmanager
def _queue(url: str | None, api_key_file: str | None) -> Iterator[_Queue]:
    if url is not None:
        from shipyard.cli.predict import read_api_key_file
        from shipyard.sdk.client import Client

        with Client(url, api_key=read_api_key_file(api_key_file)) as client:
            yield _Queue(client=client)
        return
    with cli_state().services() as services:
        yield _Queue(local=services.store)


@click.group()
def review() -> None:
    """Predictions held for human review: list, show, claim, decide."""


@review.command("list")
@click.option("--status", default="open", show_default=True, help=f"One of {', '.join(STATUSES)}.")
@click.option("--target", help="Only this model or deployment.")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True)
@_remote_options
def list_reviews(
    *, status: str, target: str | None, limit: int, url: str | None, api_key_file: str | None, as_json: bool
) -> None:
    """The queue, oldest first."""
    if status not in STATUSES:
        raise InvalidRequest(f"--status is one of {', '.join(STATUSES)}, not {status[:40]!r}")
    with _queue(url, api_key_file) as queue:
        tickets = queue.list(None if status == "all" else status, target, limit)
    if as_json:
        print_json({"tickets": tickets})
        return
    if not tickets:
        click.echo("No review tickets." if status == "all" else f"No {status} review tickets.")
        return
    rows = [
        [
            t["ticket"],
            t["status"],
            f"{t['model']}/{t['version']}",
            t.get("target", t["model"]),
            ", ".join(t.get("reasons", [])),
            _short_time(t["deadline"]),
            t.get("claimed_by") or "",
        ]
        for t in tickets
    ]
    grid = table(None, ["ticket", "status", "version", "target", "reasons", "deadline (UTC)", "claimed by"], rows)
    grid.columns[0].no_wrap = True  # a ticket id is copied whole
    grid.columns[0].min_width = len(tickets[0]["ticket"])
    show(grid)


@review.command("show")
@click.argument("ticket")
@_remote_options
def show_review(ticket: str, url: str | None, api_key_file: str | None, as_json: bool) -> None:
    """One ticket: why it was held, the inputs, the proposed answer, the decision."""
    with _queue(url, api_key_file) as queue:
        found = queue.get(ticket)
    if as_json:
        print_json(found)
        return
    _print_ticket(found)


@review.command("claim")
@click.argument("ticket")
@_remote_options
def claim_review(ticket: str, url: str | None, api_key_file: str | None, as_json: bool) -> None:
    """Claim a pending ticket (nobody else can decide it then)."""
    with _queue(url, api_key_file) as queue:
        claimed = queue.claim(ticket)
    if as_json:
        print_json(claimed)
        return
    click.echo(f"Claimed {claimed['ticket']} ({claimed['model']}/{claimed['version']}) as {claimed.get('claimed_by')}.")


@review.command("decide")
@click.argument("ticket")
@click.argument("action")
@click.option(
    "--predict",
    "predicts",
    multiple=True,
    metavar="VALUE",
    help='override: the answer of a row (repeat, one per row; JSON scalar: 1, true, "1").',
)
@click.option("--outputs", "outputs_text", metavar="JSON", help='override: {"predict": [...], ...} (or @file.json).')
@click.option("--comment", help="Why (kept with the decision and in the audit trail).")
@_remote_options
def decide_review(
    *,
    ticket: str,
    action: str,
    predicts: tuple[str, ...],
    outputs_text: str | None,
    comment: str | None,
    url: str | None,
    api_key_file: str | None,
    as_json: bool,
) -> None:
    """Decide TICKET: ACTION is approve (the proposed answer stands) or override (with
    --predict per row, or --outputs)."""
    if action not in ("approve", "override"):
        raise InvalidRequest(f"ACTION is approve or override, not {action[:40]!r}")
    outputs = _outputs(predicts, outputs_text)
    if action == "approve" and outputs is not None:
        raise InvalidRequest("approve takes no --predict or --outputs (the proposed answer stands)")
    if action == "override" and outputs is None:
        raise InvalidRequest("override needs the answer: --predict VALUE per row, or --outputs JSON")
    with _queue(url, api_key_file) as queue:
        decided = queue.decide(ticket, action, outputs, comment)
    if as_json:
        print_json(decided)
        return
    click.echo(
        f"Decided {decided['ticket']}: {decided.get('decision')} by {decided.get('decided_by')}; "
        f"answer {_compact(decided.get('outputs'))}."
    )


def _outputs(predicts: tuple[str, ...], text: str | None) -> dict[str, Any] | None:
    if predicts and text is not None:
        raise InvalidRequest("give --predict or --outputs, not both")
    if predicts:
        return {"predict": [_scalar(p) for p in predicts]}
    if text is None:
        return None
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise InvalidRequest(f"cannot read --outputs file {text[1:]!r}: {exc.strerror}") from None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise InvalidRequest('--outputs is JSON such as {"predict": ["a", "b"]}') from None
    if not isinstance(value, dict) or not value:
        raise InvalidRequest('--outputs is a JSON object such as {"predict": ["a", "b"]}')
    return value


def _scalar(text: str) -> Any:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, str | int | float | bool) else text


def _print_ticket(t: dict[str, Any]) -> None:
    lines = [
        ("ticket", t["ticket"]),
        ("status", t["status"]),
        ("target", t.get("target", "")),
        ("version", f"{t['model']}/{t['version']}"),
        ("deployment", t.get("deployment") or ""),
        ("request id", t["request_id"]),
        ("caller", t.get("caller", "")),
        ("reasons", ", ".join(t.get("reasons", []))),
        ("created", t["created_at"]),
        ("deadline", t["deadline"]),
        ("claimed by", t.get("claimed_by") or ""),
        ("inputs", _compact(t.get("inputs"))),
        ("proposed", _compact(t.get("proposed"))),
        ("fallback", _compact(t.get("fallback"))),
    ]
    if t.get("decision"):
        lines += [
            ("decision", t["decision"]),
            ("decided by", t.get("decided_by") or ""),
            ("decided at", t.get("decided_at") or ""),
            ("answer", _compact(t.get("outputs"))),
            ("comment", t.get("comment") or ""),
        ]
    show(table(None, ["field", "value"], [[k, v] for k, v in lines], header=False))


def _compact(value: Any) -> str:
    if value is None:
        return "-"
    text = orjson.dumps(value).decode()
    return text if len(text) <= 400 else text[:399] + "…"


def _short_time(text: str) -> str:
    """``MM-DD HH:MM:SS`` of an ISO time (UTC)."""
    return text.replace("T", " ")[5:19]
