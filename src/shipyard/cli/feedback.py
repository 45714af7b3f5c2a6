"""``shipyard feedback``: ground truth, outcomes and attributes for a logged prediction, here
(this home's log and registry) or on a server (``--url``, through ``Client.feedback``)."""

from __future__ import annotations

import math
from typing import Any

import click
import orjson

from shipyard.cli.context import cli_state
from shipyard.cli.output import print_json
from shipyard.errors import InvalidRequest


@click.command()
@click.argument("request_id", required=False)
@click.option("--key", help="Name the prediction by the X-Prediction-Key its caller sent instead.")
@click.option("--caller", help="Locally, with --key: whose key it is (e.g. key:0123456789ab).")
@click.option("--row", type=click.IntRange(min=0), help="The row of the request (default 0).")
@click.option("--label", help='The true label (JSON scalar: 1, true, "1"; anything else is a string).')
@click.option("--value", help="The true value (a regression's ground truth).")
@click.option("--outcome", "outcomes", multiple=True, metavar="NAME=NUMBER", help="A business outcome (repeat).")
@click.option("--attribute", "attributes", multiple=True, metavar="NAME=VALUE", help="A sensitive attribute (repeat).")
@click.option("--url", help="Send it to the server at URL instead of recording it here.")
@click.option(
    "--api-key-file",
    type=click.Path(exists=True, dir_okay=False, readable=True),
    metavar="PATH",
    help="With --url: read the API key from PATH (default: $SHIPYARD_API_KEY).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def feedback(
    *,
    request_id: str | None,
    key: str | None,
    caller: str | None,
    row: int | None,
    label: str | None,
    value: str | None,
    outcomes: tuple[str, ...],
    attributes: tuple[str, ...],
    url: str | None,
    api_key_file: str | None,
    as_json: bool,
) -> None:
    """Record feedback for the logged prediction REQUEST_ID (its X-Request-Id), or --key."""
    if (request_id is None) == (key is None):
        raise InvalidRequest("give REQUEST_ID or --key (one of them)")
    parsed_label = None if label is None else _scalar(label)
    parsed_value = None if value is None else _number(value, "--value")
    parsed_outcomes = {n: _number(v, f"--outcome {n}") for n, v in _pairs(outcomes, "--outcome")}
    parsed_attributes = {n: _scalar(v) for n, v in _pairs(attributes, "--attribute")}
    if url is not None:
        from shipyard.cli.predict import read_api_key_file
        from shipyard.sdk.client import Client

        with Client(url, api_key=read_api_key_file(api_key_file)) as client:
            result = client.feedback(
                request_id,
                key=key,
                row=row,
                label=parsed_label,
                value=parsed_value,
                outcomes=parsed_outcomes,
                attributes=parsed_attributes,
            )
    else:
        from shipyard.monitoring.feedback import Item
        from shipyard.registry.sql.feedback import Feedback

        given = Feedback(label=parsed_label, value=parsed_value, outcomes=parsed_outcomes, attributes=parsed_attributes)
        result = _record_here(Item(request_id, key, row or 0, given), caller)
    if as_json:
        print_json(result)
        return
    verb = "Recorded" if result.get("created") else "Already recorded"
    said = _said(result)
    click.echo(
        f"{verb}: {said} for request {result['request_id']} row {result['row']} "
        f"({result['target']}, {result['model']}/{result['version']})."
    )


def _record_here(item: Any, caller: str | None) -> dict[str, Any]:
    from shipyard.fs.pii_key import settings_pii_key
    from shipyard.monitoring.feedback import FeedbackRecorder
    from shipyard.monitoring.predlog.lookup import LogLookup
    from shipyard.registry.sql.audit import local_actor
    from shipyard.registry.sql.feedback import check_feedback, check_request_id

    if item.key is not None and caller is None:
        raise InvalidRequest("with --key, say whose key it is: --caller key:<id> (or use --url)")
    if item.request_id is not None:
        check_request_id(item.request_id)
    check_feedback(item.feedback, label_kind=None)
    with cli_state().services() as services:
        recorder = FeedbackRecorder(
            services.store, LogLookup(services.settings.home), pii_key=settings_pii_key(services.settings)
        )
        result = recorder.record(item, caller=caller or "", recorded_by=local_actor())
    return result.to_dict()


def _said(result: dict[str, Any]) -> str:
    parts = []
    if result.get("label") is not None:
        parts.append(f"label={result['label']}")
    if result.get("value") is not None:
        parts.append(f"value={result['value']:g}")
    parts += [f"{k}={v:g}" for k, v in (result.get("outcomes") or {}).items()]
    parts += [f"{k}={v}" for k, v in (result.get("attributes") or {}).items()]
    return ", ".join(parts) or "nothing"


def _pairs(items: tuple[str, ...], option: str) -> list[tuple[str, str]]:
    found = []
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise InvalidRequest(f"{option} takes NAME=VALUE, got {item[:40]!r}")
        found.append((name.strip(), text))
    return found


def _scalar(text: str) -> Any:
    """A JSON scalar when ``text`` is one (1, 2.5, true, "1"), else ``text`` as a string."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, str | int | float | bool) else text


def _number(text: str, option: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise InvalidRequest(f"{option} is a number, got {text[:40]!r}") from None
    if not math.isfinite(number):
        raise InvalidRequest(f"{option} is a finite number, got {text[:40]!r}")
    return number
