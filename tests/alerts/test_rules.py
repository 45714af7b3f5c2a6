"""The rule file: what it accepts, and every kind of refusal naming its line and field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from shipyard.errors import ConfigError
from shipyard.monitoring.alerts import load_rules, parse_rules
from shipyard.monitoring.alerts.rules import parse_duration

GOOD = """\
webhooks:
  ops:
    url: https://93.184.215.14/hooks/shipyard
    secret_env: OPS_SECRET
    attempts: 3
retrain:
  fraud-retrain:
    command: [python, retrain.py, --model, fraud]
    timeout: 10m
  via-hook:
    webhook: ops
rules:
  - name: fraud-drift
    target: fraud*
    figure: drift.share
    op: ">"
    threshold: 0.3
    window: 1h
    for: 10m
    severity: critical
    notify: [ops, log]
    retrain: fraud-retrain
  - name: latency
    target: iris
    figure: latency.p99_ms
    op: ">="
    threshold: 250
"""


def refusal(text: str, **kwargs: bool) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse_rules(textwrap.dedent(text), source="alerts.yaml", **kwargs)
    return caught.value


def test_a_good_file_is_read_whole() -> None:
    rules = parse_rules(GOOD)
    drift, latency = rules.rules
    assert (drift.name, drift.target, drift.figure, drift.op, drift.threshold) == (
        "fraud-drift",
        "fraud*",
        "drift.share",
        ">",
        0.3,
    )
    assert (drift.window, drift.for_, drift.severity, drift.notify, drift.retrain) == (
        3600.0,
        600.0,
        "critical",
        ["ops", "log"],
        "fraud-retrain",
    )
    assert drift.matches("fraud-eu") and not drift.matches("iris")
    assert latency.notify == ["log"] and latency.for_ == 0 and latency.window == 3600
    assert rules.webhooks["ops"].attempts == 3 and rules.retrain["fraud-retrain"].timeout == 600
    assert rules.retrain["via-hook"].webhook == "ops"


def test_an_empty_file_has_no_rules() -> None:
    assert parse_rules("").rules == []


def test_durations() -> None:
    assert [parse_duration(v) for v in ("250ms", "90s", "10m", "1h", "7d", 30)] == [0.25, 90, 600, 3600, 604800, 30]
    for bad in ("ten minutes", "-5m", "1y", True, "400d"):
        with pytest.raises(ValueError):
            parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [
        ("rules:\n  - name: a\n    target: x\n   figure: [\n", None, None, "not valid YAML"),
        ("- just\n- a list\n", 1, None, "is a mapping"),
        (
            "rules:\n  - name: a\n    target: x\n    figure: drift.share\n    op: '>'\n"
            "    threshold: 1\n    colour: red\n",
            7,
            "rules.0.colour",
            "Extra inputs",
        ),
        (
            "rules:\n  - name: a\n    target: x\n    figure: drift.share\n    op: '=>'\n    threshold: 1\n",
            5,
            "rules.0.op",
            "'>'",
        ),
        (
            "rules:\n  - name: a\n    target: x\n    figure: drift.share\n    op: '>'\n    threshold: 1\n"
            "    for: soon\n",
            7,
            "rules.0.for",
            "not a duration",
        ),
        (
            "rules:\n  - name: a\n    target: x\n    figure: drift.share\n    op: '>'\n    threshold: .nan\n",
            6,
            "rules.0.threshold",
            "finite",
        ),
        (
            "rules:\n  - name: a\n    target: x\n    figure: share\n    op: '>'\n    threshold: 1\n",
            4,
            "rules.0.figure",
            "family.name",
        ),
        (
            "rules:\n  - name: a\n    target: 'x y'\n    figure: drift.share\n    op: '>'\n    threshold: 1\n",
            3,
            "rules.0.target",
            "pattern",
        ),
        (
            "rules:\n  - name: a\n    target: x\n    figure: drift.share\n    op: '>'\n    threshold: 1\n"
            "    notify: [log, pager]\n",
            7,
            "rules.0.notify.1",
            "'pager'",
        ),
        (
            "rules:\n  - name: a\n    target: x\n    figure: drift.share\n    op: '>'\n    threshold: 1\n"
            "  - name: a\n    target: y\n    figure: drift.share\n    op: '>'\n    threshold: 1\n",
            7,
            "rules.1.name",
            "used twice",
        ),
        ("retrain:\n  r:\n    command: python retrain.py\n", 3, "retrain.r.command", "never a shell string"),
        ("retrain:\n  r:\n    timeout: 5m\n", 2, "retrain.r", "either command: or webhook:"),
        ("retrain:\n  r:\n    webhook: nowhere\n", 3, "retrain.r.webhook", "no webhook"),
        (
            "retrain:\n  r:\n    command: [x]\nrules:\n  - name: a\n    target: x\n    figure: latency.p99_ms\n"
            "    op: '>'\n    threshold: 1\n    retrain: r\n",
            10,
            "rules.0.retrain",
            "drift.* and performance.*",
        ),
        (
            "rules:\n  - name: a\n    target: x\n    figure: drift.share\n    op: '>'\n    threshold: 1\n"
            "    retrain: r\n",
            7,
            "rules.0.retrain",
            "no retraining hook",
        ),
        ("webhooks:\n  ops:\n    url: https://93.184.215.14/x\n", 2, "webhooks.ops.secret_env", "Field required"),
        (
            "webhooks:\n  ops:\n    url: https://93.184.215.14/x\n    secret_env: 'not a name'\n",
            4,
            "webhooks.ops.secret_env",
            "pattern",
        ),
    ],
)
def test_bad_files_are_refused_naming_line_and_field(
    text: str, line: int | None, field: str | None, words: str
) -> None:
    error = refusal(text)
    assert words in error.message, error.message
    if line is not None:
        assert f"alerts.yaml, line {line}" in error.message
    if field is not None:
        assert f"field {field}:" in error.message


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:9/x", "loopback"),
        ("http://localhost:9/x", "loopback"),
        ("http://[::1]/x", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("https://10.1.2.3/x", "private"),
        ("https://192.168.0.10/x", "private"),
        ("https://[::ffff:10.0.0.1]/x", "private"),
        ("http://0.0.0.0/x", "unspecified"),
        ("http://100.64.0.1/x", "non-global"),
        ("http://224.0.0.1/x", "non-global"),
        ("ftp://93.184.215.14/x", "http or https"),
        ("file:///etc/passwd", "http or https"),
        ("https:///nohost", "names a host"),
        ("https://93.184.215.14:0/x", "port"),
        ("https://user:pass@93.184.215.14/x", "no user or password"),
        ("http://93.184.215.14/x#frag", "fragment"),
    ],
)
def test_webhook_urls_to_non_global_addresses_are_refused_by_default(url: str, words: str) -> None:
    text = f"webhooks:\n  ops:\n    url: '{url}'\n    secret_env: S\n"
    error = refusal(text)
    assert words in error.message and "line 3" in error.message and "webhooks.ops.url" in error.message


def test_private_urls_pass_when_allowed() -> None:
    text = "webhooks:\n  ops:\n    url: http://127.0.0.1:9/x\n    secret_env: S\n"
    assert parse_rules(text, allow_private=True).webhooks["ops"].url == "http://127.0.0.1:9/x"
    # Never another scheme, even then.
    assert "http or https" in refusal(text.replace("http:", "gopher:"), allow_private=True).message


def test_load_rules_names_a_missing_or_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no alert rule file"):
        load_rules(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"\xff\xfe rules")
    with pytest.raises(ConfigError, match="cannot read"):
        load_rules(bad)
    good = tmp_path / "alerts.yaml"
    good.write_text(GOOD)
    assert len(load_rules(good).rules) == 2
