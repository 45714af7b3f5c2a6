"""The gates and approvals through the real CLI (click's runner, in-process): for each tier
the alias gate (`models alias`) and the deployment gate (`deploy apply`), approvals with
separation of duties, the policy, tiers, emergency rollback and flags, and bad inputs (one
line on stderr, the error's exit code)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from policy_support import build_home, complete_high_in, frame, skops_file, spec

from shipyard.cli.main import cli

Run = Callable[..., Result]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("policy-cli") / "home"
    build_home(home)
    return home


@pytest.fixture
def home(tmp_path: Path, template: Path) -> Path:
    shutil.copytree(template, tmp_path / "home")
    return tmp_path / "home"


@pytest.fixture
def run(home: Path) -> Run:
    runner = CliRunner()

    def invoke(*args: object, user: str = "alice") -> Result:
        env = {"SHIPYARD_USER": user, "SHIPYARD_HOME": str(home)}
        return runner.invoke(cli, ["--home", str(home), *map(str, args)], env=env, catch_exceptions=False)

    return invoke


def refused(result: Result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.output, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def ask(run: Run, ref: str) -> int:
    result = run("approvals", "request", ref, "-m", "ready to go", "--json")
    assert result.exit_code == 0, result.stderr
    return int(json.loads(result.output)["id"])


def test_alias_gate_per_tier(run: Run, home: Path) -> None:
    # minimal: nothing needed.
    assert run("models", "alias", "low", "production", "1").exit_code == 0
    # limited: one approval by someone other than the registrant.
    line = refused(run("models", "alias", "mid", "production", "1"), 13)
    assert line == "error: mid/1 (tier limited) cannot take mid@production: missing: 1 more approval (has 0 of 1)"
    number = ask(run, "mid/1")
    line = refused(run("approvals", "approve", number, user="alice"), 11)
    assert "separation of duties" in line
    assert run("approvals", "approve", number, "-m", "lgtm", user="bob").exit_code == 0
    assert "voted on approval request" in refused(run("approvals", "approve", number, user="bob"), 4)
    assert run("models", "alias", "mid", "production", "1").exit_code == 0
    # high: everything; the refusal lists it.
    line = refused(run("models", "alias", "top", "production", "1"), 13)
    assert "missing: 2 more approvals (has 0 of 2); model card fields intended_use" in line
    assert "a fairness report" in line and "a human-review rule" in line
    complete_high_in(home, "top", 1)
    number = ask(run, "top/1")
    run("approvals", "approve", number, user="bob")
    assert "(has 1 of 2)" in refused(run("models", "alias", "top", "production", "1"), 13)
    run("approvals", "approve", number, user="carol")
    assert run("models", "alias", "top", "production", "1").exit_code == 0
    listed = json.loads(run("approvals", "list", "top/1", "--json").output)
    assert listed["status"]["allowed"] and listed["status"]["approvers"] == ["bob", "carol"]
    assert listed["approvals"][0]["status"] == "approved"
    table = run("approvals", "list", "top/1").output
    assert "tier high for alias:production: allowed" in table and "bob: approve" in table


def test_deployment_gate_per_tier(run: Run, home: Path, tmp_path: Path) -> None:
    def apply(name: str, text: str) -> Result:
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        return run("deploy", "apply", path)

    assert apply("d-low", spec("d-low", "low/1", "low/2", weight=50)).exit_code == 0
    assert apply("d-shadow", spec("d-shadow", "low/1", shadow="top/1")).exit_code == 0  # shadows are free
    line = refused(apply("d-mid", spec("d-mid", "low/1", "mid/1", weight=10)), 13)
    assert line.startswith("error: variant cand: mid/1 (tier limited) cannot take deployment 'd-mid'")
    run("approvals", "approve", ask(run, "mid/1"), user="bob")
    assert apply("d-mid", spec("d-mid", "low/1", "mid/1", weight=10)).exit_code == 0
    line = refused(apply("d-top", spec("d-top", "top/2")), 13)
    assert "variant stable: top/2 (tier high)" in line
    complete_high_in(home, "top", 2)
    number = ask(run, "top/2")
    run("approvals", "approve", number, user="bob")
    run("approvals", "approve", number, user="key:ci")
    assert apply("d-top", spec("d-top", "top/2")).exit_code == 0
    status = json.loads(run("approvals", "list", "top/2", "--deployment", "d-top", "--json").output)["status"]
    assert status["purpose"] == "deployment:d-top" and status["allowed"]


def test_policy_tiers_and_registration(run: Run, tmp_path: Path) -> None:
    shown = run("policy", "show")
    assert shown.exit_code == 0 and "# policy revision 0 (the built-in default)" in shown.output
    assert "protected_aliases: [production]" in shown.output
    path = tmp_path / "policy.yaml"
    path.write_text("protected_aliases: [production, gold]\ntiers: {limited: {approvals: 2}}\n")
    assert run("policy", "set", path, "--reason", "stricter", user="admin").output.strip() == (
        "Policy revision 1 in force"
    )
    history = json.loads(run("policy", "history", "--json").output)["revisions"]
    assert [r["revision"] for r in history] == [1, 0] and history[0]["actor"] == "user:admin"
    assert "gold" in run("policy", "history").output
    assert json.loads(run("policy", "show", "--revision", "0", "--json").output)["default"] is True
    assert "(has 0 of 2)" in refused(run("models", "alias", "mid", "gold", "1"), 13)
    # Tiers: shown, set by an admin, given at registration of a new model.
    assert run("models", "tier", "low").output.strip() == "low: tier minimal (the policy's default)"
    assert run("models", "tier", "low", "high", "--reason", "reassessed", user="admin").exit_code == 0
    assert json.loads(run("models", "tier", "low", "--json").output) == {
        "model": "low",
        "risk_tier": "high",
        "tier_set": True,
    }
    x, _ = frame()
    sample = tmp_path / "sample.csv"
    x.iloc[:5].to_csv(sample, index=False)
    model = skops_file(tmp_path)
    done = run("models", "register", "newm", model, "--sample", sample, "--tier", "high", "--pii", "email=hash",
               "--no-compile", "--json")  # fmt: skip
    assert done.exit_code == 0, done.stderr
    assert json.loads(run("models", "tier", "newm", "--json").output)["risk_tier"] == "high"
    again = run("models", "register", "newm", model, "--sample", sample, "--tier", "minimal", "--no-compile")
    assert "an admin changes tiers" in refused(again, 11)
    bad_pii = run("models", "register", "newm", model, "--sample", sample, "--pii", "phone=hash", "--no-compile")
    assert "does not have" in refused(bad_pii, 2)


def test_emergency_rollback_and_flags(run: Run) -> None:
    run("models", "alias", "low", "production", "1")
    run("models", "alias", "low", "production", "2")
    done = run("models", "rollback", "low@production", "--reason", "errors spiking", user="oncall")
    assert done.exit_code == 0, done.stderr
    assert "low@production → 1 (was 2); emergency rollback, flag 1 to review" in done.output
    flags = json.loads(run("approvals", "flags", "--json").output)["flags"]
    assert [(f["kind"], f["target"], f["actor"]) for f in flags] == [
        ("emergency_rollback", "low@production", "user:oncall")
    ]
    assert "errors spiking" in run("approvals", "flags").output
    cleared = run("approvals", "flags", "clear", "1", "--note", "checked", user="admin")
    assert cleared.exit_code == 0 and "Cleared flag 1" in cleared.output
    assert run("approvals", "flags").output.strip() == "No open governance flags."
    everything = json.loads(run("approvals", "flags", "--all", "--json").output)["flags"]
    assert everything[0]["cleared_by"] == "user:admin" and everything[0]["note"] == "checked"
    assert "cleared" in run("approvals", "flags", "--all").output
    assert "cleared already" in refused(run("approvals", "flags", "clear", "1", "--note", "x"), 4)
    # A high-tier rollback goes through whatever the policy says.
    to = json.loads(run("models", "rollback", "low@production", "--to", "2", "--json").output)
    assert to["version"] == 2 and to["emergency"] is True


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (("approvals", "request", "mid", "-m", "x"), 2, "name a version"),
        (("approvals", "request", "mid/1", "-m", " "), 2, "needs a comment"),
        (("approvals", "request", "mid/1", "-m", "x", "--expires-in", "0"), 2, "expiry"),
        (("approvals", "request", "mid/9", "-m", "x"), 3, "no version 9"),
        (("approvals", "request", "ghost/1", "-m", "x"), 3, "not found"),
        (("approvals", "approve", "42"), 3, "no approval request 42"),
        (("approvals", "reject", "0"), 2, "positive whole number"),
        (("approvals", "list", "mid@x"), 0, None),
        (("approvals", "list", "bad name!"), 2, "invalid"),
        (("approvals", "flags", "clear", "7", "--note", "x"), 3, "no governance flag 7"),
        (("models", "rollback", "low"), 2, "name an alias"),
        (("models", "rollback", "low@production"), 2, "no earlier version"),
        (("models", "tier", "ghost"), 3, "not found"),
        (("policy", "set", "missing.yaml"), 2, "not found"),
        (("policy", "show", "--revision", "5"), 3, "no revision 5"),
    ],
)
def test_bad_inputs(run: Run, args: tuple[str, ...], code: int, text: str | None) -> None:
    result = run(*args)
    if code == 0:
        assert result.exit_code == 0, result.stderr
        return
    assert text is not None and text in refused(result, code)


def test_bad_policy_files(run: Run, tmp_path: Path) -> None:
    for body, words in (
        ("tiers: {high: {approvals: lots}}\n", "tiers.high.approvals"),
        ("tiers: [\n", "not valid YAML"),
        ("default_tier: extreme\n", "default_tier"),
    ):
        path = tmp_path / "p.yaml"
        path.write_text(body)
        assert words in refused(run("policy", "set", path), 2)
    assert json.loads(run("policy", "show", "--json").output)["revision"] == 0
    big = tmp_path / "big.yaml"
    big.write_text("#" * 70_000)
    assert "at most" in refused(run("policy", "set", big), 2)
    # click's own usage errors: exit 2.
    assert run("models", "tier", "low", "extreme").exit_code == 2
    assert run("approvals", "approve", "one").exit_code == 2
    assert run("approvals", "request", "mid/1").exit_code == 2  # -m is required
