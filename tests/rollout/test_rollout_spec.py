"""The deployment spec: the issue's examples as written, and every refusal naming its field and line."""

from __future__ import annotations

import json

import pytest

from deployment_specs import FRAUD_SPEC, RANKER_SPEC
from shipyard.errors import InvalidRequest, InvalidSpec
from shipyard.registry.refs import ModelRef
from shipyard.rollout import DeploymentSpec, parse_spec

# Both examples of issue 7, verbatim.
FRAUD, RANKER = FRAUD_SPEC, RANKER_SPEC


def refused(text: str) -> InvalidSpec:
    with pytest.raises(InvalidSpec) as info:
        parse_spec(text, source="spec.yaml")
    err = info.value
    assert isinstance(err, InvalidRequest)
    assert err.http_status == 400 and err.exit_code == 2 and err.code == "invalid_spec"
    assert err.message.startswith("spec.yaml")
    return err


def assert_names(err: InvalidSpec, field: str | None, line: int | None) -> None:
    assert err.details["field"] == field
    assert err.details["line"] == line
    if field is not None:
        assert field in err.message
    if line is not None:
        assert f"line {line}" in err.message


# -- accepted -----------------------------------------------------------------------------


def test_the_canary_example_is_accepted_as_written() -> None:
    spec = parse_spec(FRAUD)
    assert spec.name == "fraud"
    assert list(spec.variants) == ["stable", "candidate", "shadowed"]
    assert spec.primary == "stable"
    assert list(spec.canaries) == ["candidate"] and list(spec.shadows) == ["shadowed"] and not spec.arms
    assert spec.primary_weight == 90
    assert spec.variants["stable"].ref == ModelRef("fraud", alias="production")
    assert spec.variants["candidate"].ref == ModelRef("fraud", version=4)
    assert spec.variants["shadowed"].sample_rate == 1.0
    assert spec.strategy == "canary"
    assert spec.analysis is not None
    assert spec.analysis.steps == (10, 25, 50, 100)
    assert spec.analysis.bake_seconds == 300 and spec.analysis.min_requests == 200
    assert spec.analysis.gates.max_p99_ratio == 1.5 and spec.analysis.gates.min_agreement == 0.95


def test_the_experiment_example_is_accepted_as_written() -> None:
    spec = parse_spec(RANKER)
    assert spec.strategy == "experiment"
    assert spec.primary is None and list(spec.arms) == ["a", "b"]
    assert spec.experiment is not None
    assert spec.experiment.sticky_key.header == "X-User-Id" and spec.experiment.sticky_key.field is None
    assert spec.experiment.metric == "conversion"
    assert (spec.experiment.min_detectable_effect, spec.experiment.alpha, spec.experiment.power) == (0.02, 0.05, 0.8)


@pytest.mark.parametrize("text", [FRAUD, RANKER])
def test_canonical_form_round_trips(text: str) -> None:
    spec = parse_spec(text)
    data = spec.to_dict()
    assert json.loads(spec.canonical_json()) == data
    again = DeploymentSpec.from_dict(data)
    assert again == spec
    assert again.canonical_json() == spec.canonical_json()
    # JSON is YAML: the canonical text parses back to the same spec.
    assert parse_spec(spec.canonical_json()) == spec
    assert parse_spec(spec.to_yaml()) == spec


def test_canonical_json_is_stable() -> None:
    spec = parse_spec(FRAUD)
    assert spec.canonical_json() == parse_spec(FRAUD.replace("weight: 10", "weight: 10.0")).canonical_json()
    assert list(spec.to_dict()) == ["deployment", "strategy", "description", "variants", "analysis"]
    assert spec.to_dict()["variants"]["candidate"] == {"model": "fraud/4", "role": "canary", "weight": 10}


def test_defaults_and_inferred_strategies() -> None:
    only = parse_spec("deployment: m\nvariants:\n  main: {model: m, role: primary}\n")
    assert only.strategy == "canary" and only.primary_weight == 100
    shadow = parse_spec(
        "deployment: m\nvariants:\n  main: {model: m, role: primary}\n  s: {model: m/2, role: shadow}\n"
    )
    assert shadow.strategy == "shadow" and shadow.variants["s"].sample_rate == 1.0
    blue = parse_spec(
        "deployment: m\nstrategy: bluegreen\nvariants:\n"
        "  blue: {model: m/1, role: primary}\n  green: {model: m/2, role: canary, weight: 0}\n"
    )
    assert blue.strategy == "bluegreen" and blue.primary_weight == 100
    field = parse_spec(RANKER.replace("{header: X-User-Id}", "{field: user_id}"))
    assert field.experiment is not None and field.experiment.sticky_key.field == "user_id"


def test_specs_are_frozen() -> None:
    spec = parse_spec(FRAUD)
    with pytest.raises(Exception):
        spec.deployment = "other"  # type: ignore[misc]


# -- refused: the list (the pure ones) -------------------------------------------


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_yaml_that_is_not_a_mapping(text: str) -> None:
    err = refused(text)
    assert "mapping" in err.message
    assert_names(err, None, 1)


def test_an_empty_spec() -> None:
    err = refused("")
    assert "mapping" in err.message and "empty" in err.message


def test_arm_weights_that_do_not_sum() -> None:
    err = refused(
        RANKER.replace("b: {model: ranker/2, role: arm, weight: 50}", "b: {model: ranker/2, role: arm, weight: 40}")
    )
    assert "sum to 90, not 100" in err.message
    assert_names(err, "variants.b.weight", 4)


def test_canary_weights_over_100() -> None:
    text = FRAUD.replace("  shadowed:", "  other: {model: fraud/6, role: canary, weight: 95}\n  shadowed:")
    err = refused(text)
    assert "sum to 105, over 100" in err.message
    assert_names(err, "variants.other.weight", 5)


def test_a_weight_over_100() -> None:
    err = refused(FRAUD.replace("weight: 10", "weight: 110"))
    assert_names(err, "variants.candidate.weight", 4)


def test_an_unknown_role() -> None:
    err = refused(FRAUD.replace("role: canary", "role: canery"))
    assert "unknown role 'canery'" in err.message and "primary, canary, shadow, arm" in err.message
    assert_names(err, "variants.candidate.role", 4)


def test_two_primaries() -> None:
    err = refused(FRAUD.replace("role: shadow, sample: 1.0", "role: primary"))
    assert "two primaries: stable and shadowed" in err.message
    assert_names(err, "variants.shadowed.role", 5)


# -- refused: the other rules -------------------------------------------------------------


def test_no_primary_with_canaries() -> None:
    err = refused(FRAUD.replace("role: primary", "role: shadow"))
    assert "no primary" in err.message
    assert_names(err, "variants.candidate.role", 4)


@pytest.mark.parametrize(
    ("old", "new", "field", "line"),
    [
        ("bake_seconds: 300", "bake_secs: 300", "analysis.bake_secs", 8),
        ("role: primary}", "role: primary, wieght: 3}", "variants.stable.wieght", 3),
        ("deployment: fraud", "deployment: fraud\ncolour: blue", "colour", 2),
        ("max_p99_ratio: 1.5", "max_p99: 1.5", "analysis.gates.max_p99", 10),
    ],
)
def test_unknown_keys(old: str, new: str, field: str, line: int) -> None:
    err = refused(FRAUD.replace(old, new))
    assert "unknown key" in err.message and "expected one of" in err.message
    assert_names(err, field, line)


def test_arms_mixed_with_a_primary() -> None:
    text = RANKER.replace("  b: {model", "  main: {model: ranker/1, role: primary}\n  b: {model")
    err = refused(text)
    assert "arms cannot be mixed" in err.message
    assert_names(err, "variants.main.role", 4)


def test_arms_without_an_experiment() -> None:
    err = refused(RANKER.split("experiment:", maxsplit=1)[0])
    assert "arms need an experiment block" in err.message
    assert_names(err, "experiment", 3)


def test_an_experiment_without_arms() -> None:
    err = refused(FRAUD + "experiment: {sticky_key: {header: X-User}, metric: m, min_detectable_effect: 0.1}\n")
    assert "needs arms" in err.message
    assert_names(err, "experiment", 11)


@pytest.mark.parametrize("sticky", ["{}", "{header: X-A, field: b}", "{cookie: x}"])
def test_a_sticky_key_without_exactly_one_source(sticky: str) -> None:
    err = refused(RANKER.replace("{header: X-User-Id}", sticky))
    assert err.details["field"].startswith("experiment.sticky_key")
    assert err.details["line"] == 5


def test_a_weight_on_a_primary_or_shadow() -> None:
    err = refused(FRAUD.replace("role: primary}", "role: primary, weight: 90}"))
    assert "takes no weight" in err.message
    assert_names(err, "variants.stable.weight", 3)
    err = refused(FRAUD.replace("role: shadow, sample: 1.0", "role: shadow, weight: 5"))
    assert_names(err, "variants.shadowed.weight", 5)


def test_a_sample_on_a_canary() -> None:
    err = refused(FRAUD.replace("weight: 10}", "weight: 10, sample: 0.5}"))
    assert "only a shadow takes a sample" in err.message
    assert_names(err, "variants.candidate.sample", 4)


def test_a_canary_without_weight() -> None:
    err = refused(FRAUD.replace(", weight: 10}", "}"))
    assert_names(err, "variants.candidate.weight", 4)


@pytest.mark.parametrize(
    ("old", "new", "field", "line"),
    [
        ("sample: 1.0", "sample: 1.5", "variants.shadowed.sample", 5),
        ("[10, 25, 50, 100]", "[10, 5, 100]", "analysis.steps", 7),
        ("[10, 25, 50, 100]", "[10, 50]", "analysis.steps", 7),
        ("bake_seconds: 300", "bake_seconds: 0", "analysis.bake_seconds", 8),
        ("min_requests: 200", "min_requests: 0", "analysis.min_requests", 9),
        ("max_error_rate: 0.01", "max_error_rate: 2", "analysis.gates.max_error_rate", 10),
        ("min_agreement: 0.95", "min_agreement: yes", "analysis.gates.min_agreement", 10),
        ("weight: 10", "weight: '10'", "variants.candidate.weight", 4),
        ("fraud/4", "../etc", "variants.candidate.model", 4),
        ("deployment: fraud", "deployment: ../fraud", "deployment", 1),
        ("  candidate:", "  'bad name':", "variants.bad name", 4),
    ],
)
def test_values_out_of_range(old: str, new: str, field: str, line: int) -> None:
    assert_names(refused(FRAUD.replace(old, new)), field, line)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("alpha: 0.05", "alpha: 0.6", "experiment.alpha"),
        ("power: 0.8", "power: 0.4", "experiment.power"),
        ("min_detectable_effect: 0.02", "min_detectable_effect: 0", "experiment.min_detectable_effect"),
        ("{header: X-User-Id}", "{header: 'X User'}", "experiment.sticky_key.header"),
    ],
)
def test_experiment_values_out_of_range(old: str, new: str, field: str) -> None:
    assert_names(refused(RANKER.replace(old, new)), field, 5)


def test_a_strategy_that_contradicts_the_roles() -> None:
    err = refused("strategy: experiment\n" + FRAUD)
    assert_names(err, "strategy", 1)
    err = refused("strategy: rolling\n" + FRAUD)
    assert "unknown strategy" in err.message
    assert_names(err, "strategy", 1)


def test_duplicate_keys_and_aliases_and_bad_yaml() -> None:
    err = refused(FRAUD.replace("  candidate:", "  stable:"))
    assert "duplicate key 'stable'" in err.message
    assert_names(err, "variants.stable", 4)
    err = refused(FRAUD + "x: &a 1\ny: *a\n")
    assert "aliases" in err.message and err.details["line"] == 12
    err = refused("deployment: [\n")
    assert "not valid YAML" in err.message and err.details["line"] == 2


def test_from_dict_refuses_without_lines() -> None:
    data = parse_spec(FRAUD).to_dict()
    data["variants"]["candidate"]["role"] = "boss"
    with pytest.raises(InvalidSpec) as info:
        DeploymentSpec.from_dict(data)
    assert info.value.details["field"] == "variants.candidate.role" and info.value.details["line"] is None
    with pytest.raises(InvalidSpec):
        DeploymentSpec.from_dict([1, 2])


def test_yaml_1_1_booleans_stay_names() -> None:
    spec = parse_spec(
        "deployment: m\nvariants:\n  on: {model: m/1, role: primary}\n  off: {model: m/2, role: shadow, sample: 0}\n"
    )
    assert list(spec.variants) == ["on", "off"]
    assert parse_spec(spec.to_yaml()) == spec


def test_control_characters_are_refused_as_bad_yaml_not_a_crash() -> None:
    # Found by the OpenAPI fuzzer: PyYAML's reader raises while the loader is being built.
    with pytest.raises(InvalidSpec, match="not valid YAML"):
        parse_spec("\x1edeployment: x\n")
