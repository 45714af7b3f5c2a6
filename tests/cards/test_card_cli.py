"""``shipyard card show|edit|export|history|fairness`` and ``shipyard models show NAME/V``
through the real CLI (click's runner in-process, one subprocess), on a real home: outputs,
files written, revisions kept, and one-line errors with the error's exit code."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from card_support import FULL_NARRATIVE, reference_csv, register_clf
from click.testing import CliRunner, Result

from homes import open_home
from shipyard.bootstrap import Services
from shipyard.cli.main import cli


@pytest.fixture
def backend() -> str:
    return "sqlite"


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "home"
    svc = open_home(path)
    try:
        register_clf(svc)
    finally:
        svc.close()
    yield path


def run(home: Path, *args: str | os.PathLike[str], env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    return runner.invoke(cli, ["--home", str(home), *map(str, args)], catch_exceptions=False, env=env)


def opened(home: Path) -> Services:
    return open_home(home)


def failed(result: Result, code: int, needle: str) -> None:
    assert result.exit_code == code, (result.exit_code, result.output)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: ") and needle in lines[0], result.stderr
    assert len([line for line in lines if line.startswith("error: ")]) == 1


def test_edit_with_set_then_history_and_show(home: Path) -> None:
    done = run(
        home, "card", "edit", "clf/1", "--set", "intended_use=Ranking", "--set", "risks=Bias = unfair", "--reason", "v1"
    )
    assert done.exit_code == 0, done.output
    assert "clf/1 card revision 1: changed intended_use, risks" in done.output
    cleared = run(home, "card", "edit", "clf/1", "--set", "risks=")
    assert "revision 2: changed risks" in cleared.output
    same = run(home, "card", "edit", "clf/1", "--set", "intended_use=Ranking")
    assert "No change" in same.output
    history = json.loads(run(home, "card", "history", "clf/1", "--json").output)
    assert [(r["revision"], r["changed"], r["reason"]) for r in history["revisions"]] == [
        (1, ["intended_use", "risks"], "v1"),
        (2, ["risks"], None),
    ]
    assert history["revisions"][0]["fields"]["risks"] == "Bias = unfair"
    table = run(home, "card", "history", "clf/1")
    assert "intended_use, risks" in table.output and "v1" in table.output
    card = json.loads(run(home, "card", "show", "clf/1", "--json").output)
    assert card["narrative"] == {"intended_use": "Ranking"} and card["revision"] == 2
    old = json.loads(run(home, "card", "show", "clf/1", "--json", "--revision", "1").output)
    assert old["narrative"]["risks"] == "Bias = unfair"
    shown = run(home, "card", "show", "clf")  # NAME: the latest version
    assert shown.exit_code == 0 and "Model card: clf/1" in shown.output and "Ranking" in shown.output


def test_edit_from_a_yaml_file(home: Path, tmp_path: Path) -> None:
    fields = tmp_path / "fields.yaml"
    fields.write_text(yaml.safe_dump(FULL_NARRATIVE), encoding="utf-8")
    done = run(home, "card", "edit", "clf/1", "--file", fields, "--set", "users=Analysts", "--json")
    assert done.exit_code == 0, done.output
    body = json.loads(done.output)
    assert body["revision"]["fields"] == {**FULL_NARRATIVE, "users": "Analysts"}  # --set wins over the file
    assert body["card"]["complete"] is True


def test_edit_in_the_editor(home: Path, tmp_path: Path) -> None:
    script = tmp_path / "editor.py"
    script.write_text(
        "import sys, yaml\n"
        "path = sys.argv[1]\n"
        "doc = yaml.safe_load(open(path))\n"
        "assert 'intended_use' in doc and 'caveats' in doc\n"
        "doc['limitations'] = 'Edited in the editor'\n"
        "open(path, 'w').write(yaml.safe_dump(doc))\n",
        encoding="utf-8",
    )
    editor = tmp_path / "editor.sh"
    editor.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{script}" "$@"\n', encoding="utf-8")
    editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
    done = run(home, "card", "edit", "clf/1", env={"EDITOR": str(editor), "VISUAL": str(editor)})
    assert done.exit_code == 0, done.output
    assert "changed limitations" in done.output
    untouched = tmp_path / "noop.sh"
    untouched.write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    untouched.chmod(untouched.stat().st_mode | stat.S_IXUSR)
    nothing = run(home, "card", "edit", "clf/1", env={"EDITOR": str(untouched), "VISUAL": str(untouched)})
    assert nothing.exit_code == 0 and "No change" in nothing.output


@pytest.mark.parametrize("fmt", ["md", "html", "json"])
def test_export_to_a_file_and_to_stdout(home: Path, tmp_path: Path, fmt: str) -> None:
    run(home, "card", "edit", "clf/1", "--set", "risks=<b>bias</b>")
    out = tmp_path / f"card.{fmt}"
    done = run(home, "card", "export", "clf/1", "--format", fmt, "-o", out)
    assert done.exit_code == 0, done.output
    text = out.read_text(encoding="utf-8")
    printed = run(home, "card", "export", "clf/1", "--format", fmt).stdout
    assert _stable(printed, fmt) == _stable(text, fmt)
    assert "<b>bias</b>" not in text or fmt == "json"
    if fmt == "json":
        assert json.loads(text)["narrative"]["risks"] == "<b>bias</b>"
    if fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and "&lt;b&gt;bias&lt;/b&gt;" in text
    assert not list(tmp_path.glob(".*.tmp"))


def _stable(text: str, fmt: str) -> object:
    """The export without the moment it was generated."""
    if fmt == "json":
        return {k: v for k, v in json.loads(text).items() if k != "generated_at"}
    return [line for line in text.splitlines() if "Generated" not in line]


def test_fairness_is_computed_and_stored(home: Path, tmp_path: Path) -> None:
    data = reference_csv(tmp_path / "ref.csv")
    done = run(home, "card", "fairness", "clf/1", "--data", data, "--label", "label", "--sensitive", "sex", "--json")
    assert done.exit_code == 0, done.output
    stored = json.loads(done.output)
    fairness = stored["fairness"]
    assert fairness["rows"] == 200 and fairness["sensitive"] == ["sex"] and fairness["predictions"] == "clf/1"
    groups = fairness["report"]["groups"]
    assert sorted(g["group"] for g in groups) == ["F", "M"] and sum(g["count"] for g in groups) == 200
    assert 0 <= fairness["report"]["demographic_parity_difference"] <= 1
    assert len(fairness["data_sha256"]) == 64
    table = run(home, "card", "fairness", "clf/1", "--data", data, "--label", "label", "--sensitive", "sex",
                "--prediction", "label")  # fmt: skip
    assert table.exit_code == 0 and "demographic parity difference" in table.output
    card = json.loads(run(home, "card", "show", "clf/1", "--json").output)
    assert card["fairness"]["predictions"] == "label"
    assert card["fairness"]["report"]["equalized_odds_difference"] == 0  # perfect predictions


def test_models_show_has_the_governance_view(home: Path) -> None:
    svc = opened(home)
    try:
        svc.store.set_tier("clf", "high", actor="admin")
        svc.store.controls.set(
            "clf", {"review": {"rules": [{"kind": "classes", "classes": [1]}]}, "pii": {"a": "hash"}}
        )
        svc.store.set_alias("clf", "staging", 1)
    finally:
        svc.close()
    body = json.loads(run(home, "models", "show", "clf/1", "--json").output)
    governance = body["governance"]
    assert governance["tier"] == "high" and governance["tier_set"] is True
    assert governance["card"]["missing"] == ["intended_use", "out_of_scope_use", "limitations", "risks", "fairness"]
    assert any("approval" in m for m in governance["gate"]["missing"])
    assert governance["pii"] == {"a": "hash"} and governance["aliases"] == ["staging"]
    text = run(home, "models", "show", "clf/1").output
    assert "governance of clf/1" in text and "high" in text
    assert "classes 1" in text and "a: hash" in text and "still missing" in text
    via_alias = json.loads(run(home, "models", "show", "clf@staging", "--json").output)
    assert via_alias["governance"]["ref"] == "clf/1"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (["card", "edit", "clf/1", "--set", "novalue"], 2, "--set takes FIELD=TEXT"),
        (["card", "edit", "clf/1", "--set", "=x"], 2, "--set takes FIELD=TEXT"),
        (["card", "edit", "clf/1", "--set", "bogus=x"], 2, "unknown card field 'bogus'"),
        (["card", "edit", "clf/1", "--set", "fairness=x"], 2, "computed figures"),
        (["card", "edit", "clf/1", "--file", "/nonexistent/fields.yaml"], 2, "fields file not found"),
        (["card", "edit", "clf/9", "--set", "risks=x"], 3, "no version 9"),
        (["card", "edit", "nope/1", "--set", "risks=x"], 3, "not found"),
        (["card", "edit", "../x/1", "--set", "risks=x"], 2, ""),
        (["card", "show", "clf/1", "--revision", "5"], 3, "no revision 5"),
        (["card", "history", "clf@nowhere"], 3, "no alias"),
        (["card", "export", "clf/9"], 3, "no version 9"),
    ],
)
def test_bad_inputs_fail_in_one_line(home: Path, args: list[str], code: int, needle: str) -> None:
    failed(run(home, *args), code, needle)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("risks: [unclosed", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("risks: 3\n", "must be text, not int"),
        ("{}\n", "sets no fields"),
    ],
)
def test_bad_fields_files(home: Path, tmp_path: Path, content: str, needle: str) -> None:
    path = tmp_path / "fields.yaml"
    path.write_text(content, encoding="utf-8")
    failed(run(home, "card", "edit", "clf/1", "--file", path), 2, needle)


def test_bad_fairness_inputs(home: Path, tmp_path: Path) -> None:
    data = reference_csv(tmp_path / "ref.csv")
    failed(
        run(home, "card", "fairness", "clf/1", "--data", data, "--label", "nope", "--sensitive", "sex"),
        2,
        "no column 'nope'",
    )
    failed(
        run(home, "card", "fairness", "clf/1", "--data", data, "--label", "label", "--sensitive", "zz"),
        2,
        "no column 'zz'",
    )
    failed(
        run(home, "card", "fairness", "clf/1", "--data", tmp_path / "none.csv", "--label", "l", "--sensitive", "s"),
        2,
        "not found",
    )
    empty = tmp_path / "empty.csv"
    empty.write_text("a,b,c,label,sex\n", encoding="utf-8")
    failed(
        run(home, "card", "fairness", "clf/1", "--data", empty, "--label", "label", "--sensitive", "sex"), 2, "no rows"
    )
    missing = run(home, "card", "fairness", "clf/1", "--data", data)
    assert missing.exit_code == 2 and "--label" in missing.output
    assert json.loads(run(home, "card", "history", "clf/1", "--json").output)["revisions"] == []


def test_the_real_command_line(home: Path) -> None:
    import subprocess

    env = {**os.environ, "SHIPYARD_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "shipyard", "card", "edit", "clf/1", "--set", "risks=x", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["revision"]["revision"] == 1
    bad = subprocess.run(
        [sys.executable, "-m", "shipyard", "card", "edit", "clf/1", "--set", "bogus=x"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown card field 'bogus'")
