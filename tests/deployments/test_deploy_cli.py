"""``shipyard deploy``: apply, list, history, show, diff and delete, and bad inputs as one
line with the error tree's exit code."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from deployment_support import build_examples

from deployment_specs import FRAUD_SPEC, RANKER_SPEC
from shipyard.cli.main import cli

Runner = Callable[..., Result]


@pytest.fixture(scope="module")
def example_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cli-examples")
    build_examples(home)
    return home


@pytest.fixture
def run(example_home: Path, home: Path) -> Runner:
    import shutil

    shutil.copytree(example_home, home)
    runner = CliRunner()

    def invoke(*args: str | Path) -> Result:
        return runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_apply_list_history_show_diff_delete(run: Runner, tmp_path: Path) -> None:
    spec = write(tmp_path, "fraud.yaml", FRAUD_SPEC)
    result = run("deploy", "apply", spec, "--reason", "canary v4")
    assert result.exit_code == 0, result.output
    assert "Applied deployment fraud: revision 1" in result.output
    again = run("deploy", "apply", spec, "--json")
    assert again.exit_code == 0 and json.loads(again.output)["changed"] is False
    write(tmp_path, "fraud.yaml", FRAUD_SPEC.replace("weight: 10", "weight: 25"))
    second = run("deploy", "apply", spec, "--json")
    assert json.loads(second.output)["revision"]["revision"] == 2
    assert run("deploy", "apply", write(tmp_path, "ranker.yaml", RANKER_SPEC)).exit_code == 0

    listed = run("deploy", "list")
    assert listed.exit_code == 0 and "fraud" in listed.output and "ranker" in listed.output
    assert "fraud/4" in listed.output and "25%" in listed.output
    as_json = json.loads(run("deploy", "list", "--json").output)
    assert [(d["name"], d["current_revision"]) for d in as_json] == [("fraud", 2), ("ranker", 1)]

    history = run("deploy", "history", "fraud")
    assert history.exit_code == 0 and "canary v4" in history.output and "local" in history.output
    revisions = json.loads(run("deploy", "history", "fraud", "--json").output)["revisions"]
    assert [r["revision"] for r in revisions] == [1, 2]
    assert revisions[0]["reason"] == "canary v4" and revisions[0]["spec_yaml"] == FRAUD_SPEC

    shown = run("deploy", "show", "fraud")
    assert "revision 2" in shown.output and "weight: 25" in shown.output
    old = json.loads(run("deploy", "show", "fraud", "--revision", "1", "--json").output)
    assert old["revision"]["spec"]["variants"]["candidate"]["weight"] == 10

    diff = run("deploy", "diff", "fraud", "1", "2")
    assert diff.exit_code == 0, diff.output
    assert "--- fraud revision 1" in diff.output and "+++ fraud revision 2" in diff.output
    assert "-    weight: 10" in diff.output and "+    weight: 25" in diff.output
    same = run("deploy", "diff", "fraud", "2", "2")
    assert "same spec" in same.output

    deleted = run("deploy", "delete", "fraud", "--reason", "done")
    assert deleted.exit_code == 0 and "Deleted deployment fraud" in deleted.output
    assert [d["name"] for d in json.loads(run("deploy", "list", "--json").output)] == ["ranker"]
    assert "deleted" in run("deploy", "list", "--all").output
    assert len(json.loads(run("deploy", "history", "fraud", "--json").output)["revisions"]) == 2


BAD = {
    "missing file": (["deploy", "apply", "nope.yaml"], 2, "spec file not found"),
    "bad YAML": (["deploy", "apply", "{bad}"], 2, "not valid YAML"),
    "not a mapping": (["deploy", "apply", "{list}"], 2, "mapping"),
    "unknown model": (["deploy", "apply", "{unknown}"], 2, "nosuch"),
    "incompatible": (["deploy", "apply", "{incompatible}"], 2, "differ in columns"),
    "unknown deployment (history)": (["deploy", "history", "nope"], 3, "deployment 'nope' not found"),
    "unknown deployment (show)": (["deploy", "show", "nope"], 3, "deployment 'nope' not found"),
    "unknown deployment (delete)": (["deploy", "delete", "nope"], 3, "deployment 'nope' not found"),
    "unknown revision (diff)": (["deploy", "diff", "ranker", "1", "7"], 3, "no revision 7"),
    "unknown revision (show)": (["deploy", "show", "ranker", "--revision", "9"], 3, "no revision 9"),
    "bad name": (["deploy", "history", "../x"], 2, "invalid model name"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_inputs_are_one_line_errors(run: Runner, tmp_path: Path, case: str) -> None:
    assert run("deploy", "apply", write(tmp_path, "ranker.yaml", RANKER_SPEC)).exit_code == 0
    files = {
        "{bad}": write(tmp_path, "bad.yaml", "deployment: [oops\n"),
        "{list}": write(tmp_path, "list.yaml", "- a\n- b\n"),
        "{unknown}": write(tmp_path, "unknown.yaml", FRAUD_SPEC.replace("fraud/5", "nosuch/1")),
        "{incompatible}": write(tmp_path, "incompatible.yaml", FRAUD_SPEC.replace("fraud/5", "other/1")),
    }
    args, code, words = BAD[case]
    result = run(*[files.get(a, a) for a in args])
    assert result.exit_code == code, (result.output, result.stderr)
    assert result.stderr.startswith("error: ") and words in result.stderr
    assert "Traceback" not in result.stderr
    assert len([line for line in result.stderr.splitlines() if line.startswith("error:")]) == 1
    assert [d["name"] for d in json.loads(run("deploy", "list", "--all", "--json").output)] == ["ranker"]
