"""A spec against a real registry: variants resolve, signatures agree, deployment names."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from homes import open_home
from shipyard.bootstrap import Services
from shipyard.errors import AliasNotFound, InvalidSpec, ModelNotFound, NotFound, VersionNotFound
from shipyard.rollout import check_variants, parse_spec, signature_differences
from shipyard.schema.signature import FieldSpec, Signature


def frame(columns: dict[str, str], n: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            c: rng.normal(size=n).astype(d) if d.startswith("float") else rng.integers(0, 5, n).astype(d)
            for c, d in columns.items()
        }
    )


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    svc = open_home(tmp_path_factory.mktemp("home"))
    base = {"x0": "float64", "x1": "float64", "x2": "float64", "x3": "float64"}
    other = {"x0": "float64", "x1": "float64", "x3": "int64", "x7": "float64"}
    for name, columns, count in [("fraud", base, 2), ("wide", other, 1)]:
        for i in range(count):
            X = frame(columns, seed=i)
            y = (np.arange(len(X)) % 2).astype(np.int64)
            svc.registry.register(name, LogisticRegression(max_iter=200).fit(X, y), sample=X.head(5))
    svc.store.set_alias("fraud", "production", 1)
    yield svc
    svc.close()


def exists(svc: Services):  # type: ignore[no-untyped-def]
    def model_exists(name: str) -> bool:
        try:
            svc.store.get_model(name)
        except NotFound:
            return False
        return True

    return model_exists


SPEC = """\
deployment: fraud
variants:
  stable: {model: fraud@production, role: primary}
  candidate: {model: fraud/2, role: canary, weight: 10}
"""


def test_compatible_variants_resolve(services: Services) -> None:
    versions = check_variants(parse_spec(SPEC), services.registry.resolve, model_exists=exists(services))
    assert list(versions) == ["stable", "candidate"]
    assert versions["stable"].ref == "fraud/1" and versions["candidate"].ref == "fraud/2"


def test_incompatible_signatures_name_the_columns(services: Services) -> None:
    spec = parse_spec(SPEC.replace("fraud/2", "wide/1"))
    with pytest.raises(InvalidSpec) as info:
        check_variants(spec, services.registry.resolve, model_exists=exists(services))
    message = info.value.message
    assert message.startswith("variants stable and candidate differ in columns: ")
    assert "x2 (missing in candidate)" in message
    assert "x3 (float64 vs int64)" in message
    assert "x7 (missing in stable)" in message
    assert info.value.details["field"] == "variants.candidate.model"


@pytest.mark.parametrize(
    ("ref", "error"),
    [("nosuch/1", ModelNotFound), ("fraud/9", VersionNotFound), ("fraud@staging", AliasNotFound)],
)
def test_unknown_model_version_or_alias(services: Services, ref: str, error: type[NotFound]) -> None:
    spec = parse_spec(SPEC.replace("fraud/2", ref))
    with pytest.raises(error) as info:
        check_variants(spec, services.registry.resolve, model_exists=exists(services))
    assert info.value.message.startswith(f"variant candidate ({ref}): ")
    assert info.value.details["variant"] == "candidate"
    assert info.value.http_status == 404


def test_a_deployment_named_like_a_model_none_of_its_variants_serves(services: Services) -> None:
    spec = parse_spec(SPEC.replace("fraud@production", "wide/1").replace("fraud/2", "wide/1"))
    with pytest.raises(InvalidSpec) as info:
        check_variants(spec, services.registry.resolve, model_exists=exists(services))
    assert "a model is named fraud too" in info.value.message
    assert info.value.details["field"] == "deployment"
    # Named otherwise, the same variants are fine.
    renamed = parse_spec(
        SPEC.replace("deployment: fraud", "deployment: fraud-wide")
        .replace("fraud@production", "wide/1")
        .replace("fraud/2", "wide/1")
    )
    assert set(check_variants(renamed, services.registry.resolve, model_exists=exists(services))) == {
        "stable",
        "candidate",
    }


def test_a_sticky_field_must_be_an_input(services: Services) -> None:
    text = (
        "deployment: exp\nvariants:\n"
        "  a: {model: fraud/1, role: arm, weight: 50}\n  b: {model: fraud/2, role: arm, weight: 50}\n"
        "experiment: {sticky_key: {field: FIELD}, metric: conversion, min_detectable_effect: 0.02}\n"
    )
    assert check_variants(
        parse_spec(text.replace("FIELD", "x0")), services.registry.resolve, model_exists=exists(services)
    )
    with pytest.raises(InvalidSpec) as info:
        check_variants(
            parse_spec(text.replace("FIELD", "user")), services.registry.resolve, model_exists=exists(services)
        )
    assert info.value.details["field"] == "experiment.sticky_key.field"


def cols(*fields: FieldSpec) -> Signature:
    return Signature(kind="columns", inputs=fields)


def test_compatibility_rules() -> None:
    f64, f32, i64, u8 = (FieldSpec("x", d) for d in ("float64", "float32", "int64", "uint8"))
    assert signature_differences(cols(f64), cols(f32)) == []
    assert signature_differences(cols(i64), cols(u8)) == []
    assert signature_differences(cols(FieldSpec("s", "string")), cols(FieldSpec("s", "bytes"))) == []
    assert signature_differences(cols(f64), cols(FieldSpec("x", "float64", nullable=True))) == []
    assert signature_differences(cols(f64), cols(i64)) == ["x (float64 vs int64)"]
    assert signature_differences(cols(FieldSpec("x", "bool")), cols(u8)) == ["x (bool vs uint8)"]
    a, b = FieldSpec("a", "float64"), FieldSpec("b", "float64")
    assert signature_differences(cols(a, b), cols(b, a)) == ["order (a, b vs b, a)"]
    t1 = Signature(kind="tensors", inputs=(FieldSpec("t", "float32", (-1, 3, 4)),))
    t2 = Signature(kind="tensors", inputs=(FieldSpec("t", "float64", (-1, -1, 4)),))
    t3 = Signature(kind="tensors", inputs=(FieldSpec("t", "float32", (-1, 5, 4)),))
    assert signature_differences(t1, t2) == []
    assert signature_differences(t1, t3) == ["t (shape [-1, 3, 4] vs [-1, 5, 4])"]
    assert signature_differences(cols(FieldSpec("t", "float32")), t1)[0] == "kind (columns vs tensors)"
