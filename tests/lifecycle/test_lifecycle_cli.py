"""``shipyard models deprecate|retire|reinstate|archive|restore`` and ``models show``, and
``shipyard serve`` refusing a retired version: one-line errors with their exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result
from lifecycle_support import register_fraud

from shipyard.cli.main import cli


def shipyard(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_the_lifecycle_commands(home: Path) -> None:
    register_fraud(home, count=3)  # production -> 3

    done = shipyard("models", "deprecate", "fraud/1", "--sunset", "2099-03-01", "--successor", "fraud/3",
                    "--reason", "old features")  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == "fraud/1: deprecated, sunset 2099-03-01T00:00:00+00:00, successor fraud/3"
    shown = shipyard("models", "show", "fraud/1")
    assert (
        "deprecated" in shown.stdout and "2099-03-01T00:00:00+00:00" in shown.stdout and "old features" in shown.stdout
    )
    table = shipyard("models", "show", "fraud")
    assert "deprecated" in table.stdout and "active" in table.stdout

    done = shipyard("models", "retire", "fraud/1", "--archive", "--json")
    assert done.exit_code == 0, done.output
    record = json.loads(done.stdout)
    assert record["lifecycle"] == "retired" and record["archived_at"] and record["successor"] == "fraud/3"
    assert "retired, archived" in shipyard("models", "show", "fraud").stdout

    refused = shipyard("serve", "fraud/1")
    assert refused.exit_code == 12
    assert refused.stderr.splitlines()[0] == "error: fraud/1 is retired and archived; use fraud/3"
    assert refused.stdout == ""

    refused = shipyard("models", "reinstate", "fraud/1")
    assert refused.exit_code == 4 and "restore its artifacts" in refused.stderr
    done = shipyard("models", "restore", "fraud/1")
    assert done.exit_code == 0
    assert done.stdout.strip() == "fraud/1: retired, sunset 2099-03-01T00:00:00+00:00, successor fraud/3"
    refused = shipyard("serve", "fraud/1")
    assert refused.exit_code == 12 and refused.stderr.splitlines() == ["error: fraud/1 is retired; use fraud/3"]
    done = shipyard("models", "reinstate", "fraud/1", "--reason", "needed")
    assert done.exit_code == 0 and done.stdout.strip() == "fraud/1: active"

    done = shipyard("models", "retire", "fraud/2")
    assert done.exit_code == 0
    done = shipyard("models", "archive", "fraud/2")
    assert done.exit_code == 0 and "artifacts archived" in done.stdout


def test_cli_refusals_are_one_line_with_an_exit_code(home: Path) -> None:
    register_fraud(home, count=2)  # production -> 2
    cases = [
        (("models", "deprecate", "fraud/1", "--sunset", "2001-01-01"), 2, "is in the past"),
        (("models", "deprecate", "fraud/1", "--sunset", "someday"), 2, "is not a date"),
        (("models", "deprecate", "fraud/1", "--successor", "fraud/7"), 2, "has no version 7"),
        (("models", "deprecate", "fraud", "--successor", "fraud/2"), 2, "names no version"),
        (("models", "deprecate", "fraud/9"), 3, "has no version 9"),
        (("models", "retire", "fraud/2"), 4, "fraud@production points at it"),
        (("models", "archive", "fraud/1"), 4, "only a retired version"),
        (("models", "restore", "fraud/1"), 4, "not archived"),
        (("models", "reinstate", "fraud/1"), 4, "active already"),
    ]
    for args, code, part in cases:
        result = shipyard(*args)
        assert result.exit_code == code, (args, result.output)
        assert result.stderr.startswith("error: ") and part in result.stderr.splitlines()[0], (args, result.stderr)
    assert shipyard("models", "retire", "fraud/1", "--successor", "fraud@production").exit_code == 0
    result = shipyard("models", "alias", "fraud", "canary", "1")
    assert result.exit_code == 4
    assert "fraud/1 is retired: fraud@canary cannot point at it" in result.stderr.splitlines()[0]


def test_retire_with_a_failed_archive_says_it_is_retired_all_the_same(home: Path) -> None:
    register_fraud(home, count=2)
    (home / "artifacts" / "archive").write_bytes(b"not a directory")  # the archive area cannot be made
    result = shipyard("models", "retire", "fraud/1", "--archive")
    assert result.exit_code == 9, result.output
    assert result.stderr.startswith("error: fraud/1 is retired, but archiving its artifacts failed: ")
    record = json.loads(shipyard("models", "show", "fraud/1", "--json").stdout)
    assert record["lifecycle"] == "retired" and record["archived_at"] is None
