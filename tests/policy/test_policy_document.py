"""The policy document (pure): the default, parsing, every kind of bad input naming its
field, and what is missing given the facts."""

from __future__ import annotations

import pytest

from shipyard.errors import InvalidRequest
from shipyard.governance.policy import (
    DEFAULT_POLICY,
    DEFAULT_POLICY_TEXT,
    Facts,
    Threshold,
    check_tier,
    missing,
    normalise_actor,
    parse_policy,
)


def test_the_default_is_the_issue_example() -> None:
    assert DEFAULT_POLICY.default_tier == "minimal"
    assert DEFAULT_POLICY.protected_aliases == ("production",)
    assert DEFAULT_POLICY.approval_expiry_days == 90
    assert DEFAULT_POLICY.requirements("minimal").empty
    limited = DEFAULT_POLICY.requirements("limited")
    assert limited.approvals == 1 and limited.separation_of_duties
    high = DEFAULT_POLICY.requirements("high")
    assert high.approvals == 2 and high.separation_of_duties and high.fairness_report and high.review_rule
    assert "intended_use" in high.card_fields and "owners" in high.card_fields
    assert parse_policy(DEFAULT_POLICY_TEXT) == DEFAULT_POLICY


def test_a_custom_policy() -> None:
    policy = parse_policy(
        "default_tier: limited\nprotected_aliases: [production, gold]\napproval_expiry_days: 7\n"
        "tiers:\n  limited: {approvals: 2, separation_of_duties: false}\n"
        "  high: {metrics: {accuracy: 0.9, log_loss: {max: 0.5}}}\n"
    )
    assert policy.default_tier == "limited" and policy.protects("gold") and not policy.protects("staging")
    assert not policy.requirements("limited").separation_of_duties
    # A tier left out keeps the default's requirements (leaving a line out never loosens the gate).
    assert policy.requirements("minimal").empty
    assert parse_policy("default_tier: high\n").tiers == DEFAULT_POLICY.tiers
    assert parse_policy("tiers: {high: {}}\n").requirements("high").empty
    bounds = policy.requirements("high").metrics
    assert bounds["accuracy"] == Threshold(0.9, None) and bounds["log_loss"] == Threshold(None, 0.5)
    assert parse_policy(parse_policy_text(policy.to_dict())) == policy


def parse_policy_text(document: object) -> str:
    import yaml

    return str(yaml.safe_dump(document))


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("- a list", None),
        ("default_tier: extreme", "default_tier"),
        ("protected_aliases: production", "protected_aliases"),
        ("protected_aliases: ['9lives']", "protected_aliases.0"),
        ("protected_aliases: [1]", "protected_aliases.0"),
        ("approval_expiry_days: 0", "approval_expiry_days"),
        ("approval_expiry_days: true", "approval_expiry_days"),
        ("approval_expiry_days: 100000", "approval_expiry_days"),
        ("tiers: [high]", "tiers"),
        ("tiers: {extreme: {}}", "tiers.extreme"),
        ("tiers: {high: 3}", "tiers.high"),
        ("tiers: {high: {approvals: -1}}", "tiers.high.approvals"),
        ("tiers: {high: {approvals: 2.5}}", "tiers.high.approvals"),
        ("tiers: {high: {approvals: 99}}", "tiers.high.approvals"),
        ("tiers: {high: {votes: 2}}", "tiers.high.votes"),
        ("tiers: {high: {separation_of_duties: maybe}}", "tiers.high.separation_of_duties"),
        ("tiers: {high: {fairness_report: 1}}", "tiers.high.fairness_report"),
        ("tiers: {high: {card_fields: risks}}", "tiers.high.card_fields"),
        ("tiers: {high: {card_fields: ['Risks!']}}", "tiers.high.card_fields.0"),
        ("tiers: {high: {metrics: [accuracy]}}", "tiers.high.metrics"),
        ("tiers: {high: {metrics: {accuracy: high}}}", "tiers.high.metrics.accuracy"),
        ("tiers: {high: {metrics: {accuracy: .nan}}}", "tiers.high.metrics.accuracy"),
        ("tiers: {high: {metrics: {accuracy: {above: 1}}}}", "tiers.high.metrics.accuracy"),
        ("tiers: {high: {metrics: {accuracy: {min: 2, max: 1}}}}", "tiers.high.metrics.accuracy"),
        ("surprise: 1", "surprise"),
    ],
)
def test_bad_policies_name_the_field(text: str, field: str | None) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_policy(text)
    assert caught.value.http_status == 400
    if field is not None:
        assert caught.value.details["field"] == field
        assert field in caught.value.message


def test_bad_yaml_and_sizes() -> None:
    with pytest.raises(InvalidRequest, match="not valid YAML"):
        parse_policy("tiers: {high: [")
    with pytest.raises(InvalidRequest, match="at most"):
        parse_policy("#" * 70_000)
    with pytest.raises(InvalidRequest, match="UTF-8"):
        parse_policy(b"\xff\xfe")


def test_what_is_missing() -> None:
    high = DEFAULT_POLICY.requirements("high")
    assert missing(high, Facts(approvers=["bob"], card_gaps=["risks"])) == [
        "1 more approval (has 1 of 2)",
        "model card fields risks",
        "a fairness report on the reference data (shipyard card fairness)",
        "a human-review rule in the serving controls",
    ]
    assert missing(high, Facts(approvers=["bob", "bob", "carol"], fairness_report=True, review_rule=True)) == []
    policy = parse_policy("tiers: {high: {metrics: {accuracy: 0.9, log_loss: {max: 0.5}}}}")
    needs = policy.requirements("high")
    assert missing(needs, Facts(metrics={"accuracy": 0.8})) == [
        "metric accuracy (0.8 < 0.9)",
        "metric log_loss (not recorded)",
    ]
    assert missing(needs, Facts(metrics={"accuracy": 0.95, "log_loss": 0.7})) == ["metric log_loss (0.7 > 0.5)"]
    assert missing(needs, Facts(metrics={"accuracy": 0.9, "log_loss": 0.5})) == []


def test_identities_and_tiers() -> None:
    assert normalise_actor("user:alice") == normalise_actor("alice") == "alice"
    assert normalise_actor("key:abc123") == "key:abc123"
    assert check_tier("high") == "high"
    for bad in ("HIGH", "", None, 3):
        with pytest.raises(InvalidRequest, match="unknown risk tier"):
            check_tier(bad)
