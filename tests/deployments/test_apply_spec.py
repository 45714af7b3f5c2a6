"""``rollout.service.apply_spec`` against a registry with real models: the issue's two
examples are accepted as written; bad specs are refused and leave no revision behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from deployment_support import build_examples

from deployment_specs import FRAUD_SPEC, RANKER_SPEC
from homes import open_home
from shipyard.bootstrap import Services
from shipyard.errors import InvalidSpec, ShipyardError
from shipyard.registry.sql.audit import AuditFilter
from shipyard.rollout.service import apply_spec, spec_yaml


@pytest.fixture(scope="module")
def example_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("examples")
    build_examples(home)
    return home


@pytest.fixture
def services(example_home: Path, tmp_path: Path) -> Iterator[Services]:
    # A copy per test: each starts with the models and no deployment.
    import shutil

    home = tmp_path / "home"
    shutil.copytree(example_home, home)
    svc = open_home(home)
    yield svc
    svc.close()


def test_the_issue_examples_are_accepted_as_written(services: Services) -> None:
    fraud = apply_spec(services.store, FRAUD_SPEC, actor="user:alice", source="cli", reason="canary v4")
    assert fraud.changed and fraud.revision.revision == 1 and fraud.deployment.name == "fraud"
    assert fraud.revision.spec_yaml == FRAUD_SPEC
    assert fraud.revision.spec["variants"]["candidate"] == {"model": "fraud/4", "role": "canary", "weight": 10}
    ranker = apply_spec(services.store, RANKER_SPEC, actor="user:bob")
    assert ranker.changed and ranker.revision.spec["experiment"]["sticky_key"] == {"header": "X-User-Id"}
    assert [d.name for d in services.store.deployments.list()] == ["fraud", "ranker"]
    # The same spec, reformatted: no new revision.
    again = apply_spec(services.store, FRAUD_SPEC.replace("# used by", "# for"), actor="user:alice")
    assert not again.changed and again.revision.revision == 1
    changed = apply_spec(services.store, FRAUD_SPEC.replace("weight: 10", "weight: 25"), actor="user:alice")
    assert changed.changed and changed.revision.revision == 2
    assert "weight: 25" in spec_yaml(changed.revision.spec_json)
    assert services.store.audit.verify().ok


BAD_SPECS = {
    "unknown model": (
        FRAUD_SPEC.replace("fraud/5", "nosuch/1"),
        InvalidSpec,
        "variant shadowed .nosuch/1.: model .nosuch. not found",
    ),
    "unknown version": (FRAUD_SPEC.replace("fraud/5", "fraud/9"), InvalidSpec, "shadowed"),
    "unknown alias": (FRAUD_SPEC.replace("fraud@production", "fraud@nope"), InvalidSpec, "stable"),
    "incompatible signatures": (FRAUD_SPEC.replace("fraud/5", "other/1"), InvalidSpec, "differ in columns"),
    "named like a model it does not serve": (
        RANKER_SPEC.replace("ranker/1", "fraud/1").replace("ranker/2", "fraud/2"),
        InvalidSpec,
        "none of the variants serves it",
    ),
    "weights that do not sum": (RANKER_SPEC.replace("weight: 50}\n  b", "weight: 40}\n  b"), InvalidSpec, "line"),
    "an unknown role": (FRAUD_SPEC.replace("role: shadow", "role: ghost"), InvalidSpec, "unknown role"),
    "two primaries": (FRAUD_SPEC.replace("role: canary, weight: 10", "role: primary"), InvalidSpec, "two primaries"),
    "not a mapping": ("- just\n- a list\n", InvalidSpec, "mapping"),
    "bad YAML": ("deployment: [oops\n", InvalidSpec, "not valid YAML"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS), ids=list(BAD_SPECS))
def test_bad_specs_are_refused_and_nothing_is_stored(services: Services, case: str) -> None:
    text, error, words = BAD_SPECS[case]
    apply_spec(services.store, RANKER_SPEC)
    before = services.store.audit.list(AuditFilter(limit=None))
    with pytest.raises(error, match=words) as caught:
        apply_spec(services.store, text)
    assert isinstance(caught.value, ShipyardError)
    assert [d.name for d in services.store.deployments.list(include_deleted=True)] == ["ranker"]
    assert [r.revision for r in services.store.deployments.history("ranker")] == [1]
    assert services.store.audit.list(AuditFilter(limit=None)) == before


def test_the_path_name_must_match_the_spec(services: Services) -> None:
    with pytest.raises(InvalidSpec, match="names 'fraud', not 'other'"):
        apply_spec(services.store, FRAUD_SPEC, expect_name="other")
    assert services.store.deployments.list(include_deleted=True) == []
