"""``shipyard review list|show|claim|decide``: here (this home's registry, as the local user)
and on a server (``--url`` with a reviewer's key), the SDK's poll, and every bad input as
one line on stderr with the error's exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from review_support import open_ticket, subject

from live_server import LiveServer
from shipyard.cli.main import cli
from shipyard.sdk.client import Client


def run(home: Path, *args: str, user: str = "rita") -> Result:
    return CliRunner().invoke(
        cli, ["--home", str(home), "review", *args], env={"SHIPYARD_USER": user, "COLUMNS": "250"}
    )


def _one_error_line(result: Result, says: str) -> None:
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    assert says in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def _key_file(tmp_path: Path, token: str) -> str:
    path = tmp_path / "key.txt"
    path.write_text(token + "\n")
    return str(path)


def test_round_trip_here(server: LiveServer, keys: dict[str, str]) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-cli-local", rows=2)
    listed = run(server.home, "list", "--target", "txt")
    assert listed.exit_code == 0, listed.stderr
    assert ticket.id in listed.stdout and "low_confidence" in listed.stdout
    as_json = json.loads(run(server.home, "list", "--json", "--status", "pending").stdout)
    assert ticket.id in [t["ticket"] for t in as_json["tickets"]]
    shown = run(server.home, "show", ticket.id)
    assert shown.exit_code == 0 and "yes" in shown.stdout and "req-cli-local" in shown.stdout
    claimed = run(server.home, "claim", ticket.id)
    assert claimed.exit_code == 0, claimed.stderr
    assert "user:rita" in claimed.stdout
    decided = run(
        server.home, "decide", ticket.id, "override", "--predict", "no", "--predict", "yes", "--comment", "ok"
    )
    assert decided.exit_code == 0, decided.stderr
    assert "override" in decided.stdout and "user:rita" in decided.stdout
    final = json.loads(run(server.home, "show", ticket.id, "--json").stdout)
    assert final["status"] == "decided" and final["outputs"] == {"predict": ["no", "yes"]}
    assert final["comment"] == "ok"
    # The caller sees it through the server, with the SDK.
    with Client(server.url, api_key=keys["predictor"]) as client:
        polled = client.wait_for_review(ticket.id, timeout=5, poll=0.1)
    assert polled["status"] == "decided" and polled["outputs"] == {"predict": ["no", "yes"]}


def test_round_trip_through_a_server(server: LiveServer, keys: dict[str, str], tmp_path: Path) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-cli-remote")
    remote = ["--url", server.url, "--api-key-file", _key_file(tmp_path, keys["reviewer"])]
    listed = run(server.home, "list", *remote, "--json")
    assert listed.exit_code == 0, listed.stderr
    assert ticket.id in [t["ticket"] for t in json.loads(listed.stdout)["tickets"]]
    assert run(server.home, "claim", ticket.id, *remote).exit_code == 0
    decided = run(server.home, "decide", ticket.id, "approve", *remote, "--json")
    assert decided.exit_code == 0, decided.stderr
    body = json.loads(decided.stdout)
    assert body["decision"] == "approve" and body["decided_by"] == subject(keys["reviewer"])
    # The SDK: the predictor polls; a reviewer lists, claims and decides.
    with Client(server.url, api_key=keys["predictor"]) as client:
        assert client.get_review(ticket.id)["outputs"]["predict"] == ["yes"]
    other = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-sdk")
    with Client(server.url, api_key=keys["reviewer"]) as client:
        assert other.id in [t["ticket"] for t in client.list_reviews(target="txt")]
        assert client.claim_review(other.id)["status"] == "claimed"
        done = client.decide_review(other.id, "override", outputs={"predict": ["no"]}, comment="sdk")
        assert done["outputs"] == {"predict": ["no"]} and done["comment"] == "sdk"


def test_a_real_child_process(server: LiveServer) -> None:
    env = {**os.environ, "SHIPYARD_HOME": str(server.home)}
    done = subprocess.run(
        [sys.executable, "-m", "shipyard", "review", "list", "--status", "all", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout)["tickets"], list)


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("decide", "{t}", "reject"), 2, "ACTION is approve or override"),
        (("decide", "{t}", "override"), 2, "override needs the answer"),
        (("decide", "{t}", "approve", "--predict", "no"), 2, "approve takes no"),
        (("decide", "{t}", "override", "--outputs", "{nope"), 2, "--outputs is JSON"),
        (("decide", "{t}", "override", "--outputs", "[1]"), 2, "JSON object"),
        (("decide", "{t}", "override", "--outputs", "@/nonexistent/x.json"), 2, "cannot read"),
        (("decide", "{t}", "override", "--predict", "a", "--outputs", "{}"), 2, "not both"),
        (("decide", "{t}", "override", "--predict", "a", "--predict", "b"), 2, "1 value"),
        (("decide", "{t}", "override", "--outputs", '{"score": ["a"]}'), 2, "not one of the ticket's outputs"),
        (("show", "rv_" + "B" * 24), 3, "no review ticket"),
        (("claim", "nope"), 3, "no review ticket"),
        (("decide", "rv_" + "C" * 24, "approve"), 3, "no review ticket"),
        (("list", "--status", "maybe"), 2, "--status is one of"),
        (("list", "--target", "../etc"), 2, "invalid model name"),
    ],
)
def test_bad_input_is_one_line_and_an_exit_code(
    server: LiveServer, keys: dict[str, str], args: tuple[str, ...], code: int, says: str
) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-cli-bad")
    result = run(server.home, *(a.replace("{t}", ticket.id) for a in args))
    assert result.exit_code == code, (result.stdout, result.stderr)
    _one_error_line(result, says)


def test_claim_by_another_and_deciding_twice_exit_4(server: LiveServer, keys: dict[str, str]) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-cli-409")
    assert run(server.home, "claim", ticket.id, user="rita").exit_code == 0
    taken = run(server.home, "claim", ticket.id, user="bob")
    assert taken.exit_code == 4
    _one_error_line(taken, "claimed by user:rita")
    assert run(server.home, "decide", ticket.id, "approve", user="bob").exit_code == 4
    assert run(server.home, "decide", ticket.id, "approve", user="rita").exit_code == 0
    twice = run(server.home, "decide", ticket.id, "approve", user="rita")
    assert twice.exit_code == 4
    _one_error_line(twice, "already decided")


def test_remote_scopes_and_unknown_tickets(server: LiveServer, keys: dict[str, str], tmp_path: Path) -> None:
    ticket = open_ticket(server.home, caller=subject(keys["predictor"]), request_id="req-cli-scope")
    as_predictor = ["--url", server.url, "--api-key-file", _key_file(tmp_path, keys["predictor"])]
    refused = run(server.home, "decide", ticket.id, "approve", *as_predictor)
    assert refused.exit_code == 11, refused.stderr
    _one_error_line(refused, "reviews.write")
    assert run(server.home, "list", *as_predictor).exit_code == 11
    # The predictor may show (poll) its own ticket through the CLI too.
    shown = run(server.home, "show", ticket.id, *as_predictor, "--json")
    assert shown.exit_code == 0 and json.loads(shown.stdout)["status"] == "pending"
    as_reviewer = ["--url", server.url, "--api-key-file", _key_file(tmp_path, keys["reviewer"])]
    missing = run(server.home, "show", "rv_" + "D" * 24, *as_reviewer)
    assert missing.exit_code == 3
    _one_error_line(missing, "no review ticket")
