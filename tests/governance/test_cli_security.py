"""``shipyard init``, ``keys``, ``audit`` and the signature column of ``verify``, in-process."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from governance_support import raw_sql

from homes import open_home
from shipyard.cli.main import cli
from shipyard.governance.scopes import KEYS_ADMIN
from shipyard.registry.sql.tables import audit_log
from shipyard.serving.access import KeyAccess


def run(*args: str | os.PathLike[str]) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def one_line_error(result: Result, code: int) -> None:
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines and lines[0].startswith("error: "), result.stderr
    assert len(lines) <= 2 and "Traceback" not in result.stderr


def init_key(home: Path) -> dict[str, str]:
    result = run("init", "--json")
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_init_prints_the_first_admin_key_once(home: Path) -> None:
    result = run("init")
    assert result.exit_code == 0, result.stderr
    token = next(w for w in result.stdout.split() if w.startswith("shp_"))
    assert f"export SHIPYARD_API_KEY={token}" in result.stdout
    assert "only this once" in result.stdout
    assert (home / "signing.key").is_file() and (home / "registry.db").is_file()
    services = open_home(home)
    try:
        caller = asyncio.run(KeyAccess(services.keys).identify(f"Bearer {token}", source="local"))
    finally:
        services.close()
    assert caller.allows(KEYS_ADMIN)

    again = run("init")
    one_line_error(again, 4)
    assert "already has an admin key" in again.stderr and "shipyard keys create" in again.stderr
    assert "shp_" not in again.stdout + again.stderr


def test_init_json(home: Path) -> None:
    data = init_key(home)
    assert data["key"].startswith(f"shp_{data['id']}_")


def test_keys_create_list_revoke(home: Path) -> None:
    init_key(home)
    created = run("keys", "create", "ci", "--role", "predictor", "--role", "viewer", "--models", "iris, fraud-*",
                  "--expires", "30d", "--json")  # fmt: skip
    assert created.exit_code == 0, created.stderr
    key = json.loads(created.stdout)
    secret = key["key"].split("_", 2)[2]

    listed = run("keys", "list", "--json")
    assert listed.exit_code == 0
    assert secret not in listed.stdout and "hash" not in listed.stdout
    (row,) = [k for k in json.loads(listed.stdout) if k["id"] == key["id"]]
    assert row["state"] == "active" and row["expires_at"] is not None
    assert row["grants"] == [{"role": "predictor", "models": ["iris", "fraud-*"]},
                             {"role": "viewer", "models": ["iris", "fraud-*"]}]  # fmt: skip

    table = run("keys", "list")
    assert key["id"] in table.stdout and "predictor,viewer" in table.stdout and "iris,fraud-*" in table.stdout

    revoked = run("keys", "revoke", key["id"], "--reason", "rotated")
    assert revoked.exit_code == 0, revoked.stderr
    assert "revoked" in run("keys", "list").stdout
    one_line_error(run("keys", "revoke", key["id"]), 4)
    one_line_error(run("keys", "revoke", "000000000000"), 3)

    actions = [e["action"] for e in json.loads(run("audit", "list", "--json").stdout)]
    assert actions == ["key.create", "key.create", "key.revoke"]


@pytest.mark.parametrize(
    "args",
    [
        ["keys", "create", "ci", "--role", "root"],
        ["keys", "create", "ci", "--role", "admin", "--expires", "soon"],
        ["keys", "create", "ci", "--role", "admin", "--expires", "0d"],
        ["keys", "create", "ci", "--role", "admin", "--models", ""],
        ["keys", "create", "ci", "--role", "admin", "--models", " , "],
        ["keys", "create", "ci", "--role", "admin", "--models", "a\x1b[31m"],
        ["keys", "create", "ci", "--role", "admin", "--models", "a\r\nb"],
        ["keys", "create", "", "--role", "admin"],
        ["keys", "create", "bad\nname", "--role", "admin"],
        ["audit", "list", "--since", "yesterday"],
        ["audit", "verify", "--expect-head", "nonsense"],
    ],
    ids=["role", "duration", "zero-duration", "empty-models", "blank-models", "ansi-models", "crlf-models",
         "empty-name", "newline-name", "since", "checkpoint"],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(home: Path, args: list[str]) -> None:
    result = run(*args)
    one_line_error(result, 2)
    assert "\x1b" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [["keys", "create", "ci"], ["audit", "list", "--limit", "0"], ["audit", "export", "--format", "xml"]],
    ids=["no-role", "limit", "format"],
)
def test_usage_errors_exit_2(home: Path, args: list[str]) -> None:
    assert run(*args).exit_code == 2


def test_signing_public_prints_the_homes_key(home: Path) -> None:
    result = run("keys", "signing-public")
    assert result.exit_code == 0
    services = open_home(home)
    try:
        assert result.stdout == services.signer.public_pem()
    finally:
        services.close()


def test_audit_list_filters(home: Path) -> None:
    init_key(home)
    run("keys", "create", "ci", "--role", "viewer")
    assert len(json.loads(run("audit", "list", "--json", "--since", "1h").stdout)) == 2
    assert json.loads(run("audit", "list", "--json", "--until", "1h").stdout) == []
    assert len(json.loads(run("audit", "list", "--json", "--limit", "1").stdout)) == 1
    assert json.loads(run("audit", "list", "--json", "--action", "key.revoke").stdout) == []
    actor = json.loads(run("audit", "list", "--json").stdout)[0]["actor"]
    assert len(json.loads(run("audit", "list", "--json", "--actor", actor).stdout)) == 2
    table = run("audit", "list")
    assert "key.create" in table.stdout and actor in table.stdout
    assert "No audit entries." in run("audit", "list", "--action", "nothing").stdout


def test_audit_verify_and_tamper(home: Path) -> None:
    init_key(home)
    for name in ("a", "b", "c"):
        run("keys", "create", name, "--role", "viewer")
    ok = run("audit", "verify")
    assert ok.exit_code == 0, ok.stderr
    assert "intact: 4 entries" in ok.stdout
    checkpoint = ok.stdout.strip().split()[-1]
    assert checkpoint.startswith("4:")
    assert run("audit", "verify", "--expect-head", checkpoint).exit_code == 0
    as_json = json.loads(run("audit", "verify", "--json").stdout)
    assert as_json["ok"] and as_json["head"] == checkpoint

    with raw_sql(f"sqlite:///{home / 'registry.db'}") as conn:
        conn.execute(sa.delete(audit_log).where(audit_log.c.seq == 4))
    assert run("audit", "verify").exit_code == 0  # the tail cut alone is invisible...
    cut = run("audit", "verify", "--expect-head", checkpoint)
    one_line_error(cut, 6)  # ...but not against a checkpoint
    assert "entry 4" in cut.stderr and "truncated" in cut.stderr

    with raw_sql(f"sqlite:///{home / 'registry.db'}") as conn:
        conn.execute(sa.update(audit_log).where(audit_log.c.seq == 2).values(resource="key:000000000000"))
    broken = run("audit", "verify")
    one_line_error(broken, 6)
    assert "entry 2 (edited)" in broken.stderr
    report = run("audit", "verify", "--json")
    assert report.exit_code == 6
    assert json.loads(report.stdout)["bad_seq"] == 2


def test_audit_export(home: Path, tmp_path: Path) -> None:
    init_key(home)
    run("keys", "create", "ci", "--role", "viewer")
    jsonl = run("audit", "export")
    assert jsonl.exit_code == 0
    lines = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [e["seq"] for e in lines] == [1, 2] and lines[1]["prev_hash"] == lines[0]["hash"]

    as_csv = run("audit", "export", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert [r["action"] for r in rows] == ["key.create", "key.create"]
    assert json.loads(rows[1]["details"])["name"] == "ci"

    out = tmp_path / "audit.jsonl"
    written = run("audit", "export", "--output", out)
    assert written.exit_code == 0 and "Exported 2" in written.stderr
    assert out.read_text() == jsonl.stdout


def test_verify_reports_signatures(home: Path) -> None:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    x = np.random.default_rng(0).normal(size=(40, 2))
    services = open_home(home)
    try:
        services.registry.register("m", LogisticRegression().fit(x, x[:, 0] > 0), sample=x[:3], compile=False)
    finally:
        services.close()
    ok = run("verify", "--json")
    assert ok.exit_code == 0, ok.stderr
    (status,) = json.loads(ok.stdout)["signatures"]
    assert (status["model"], status["kind"], status["status"]) == ("m", "model", "signed")
    assert "signed" in run("verify").stdout

    with raw_sql(f"sqlite:///{home / 'registry.db'}") as conn:
        conn.execute(sa.text("UPDATE model_versions SET created_by = 'mallory'"))
    bad = run("verify")
    one_line_error(bad, 6)
    assert "m/1" in bad.stderr and "signature" in bad.stderr
