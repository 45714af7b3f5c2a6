"""The registry store's behaviour, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime, timedelta

import pytest
from registry_sql_support import draft, full_draft

from shipyard.errors import (
    AliasNotFound,
    Conflict,
    InvalidName,
    InvalidRequest,
    ModelNotFound,
    VersionNotFound,
)
from shipyard.registry.refs import ModelRef, parse_ref
from shipyard.registry.sql import RegistryStore
from shipyard.registry.types import ArtifactRef, Lineage

# -- models ---------------------------------------------------------------------------------


def test_create_get_and_list_models(store: RegistryStore) -> None:
    before = datetime.now(UTC)
    created = store.create_model("iris", description="flowers", owner="alice", tags={"team": "ds"})
    store.create_model("boston")

    assert created.name == "iris"
    assert (created.description, created.owner, dict(created.tags)) == ("flowers", "alice", {"team": "ds"})
    assert created.latest_version is None
    assert dict(created.aliases) == {}
    assert created.created_at.tzinfo is not None and created.created_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=5) <= created.created_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert store.get_model("iris") == created
    assert [m.name for m in store.list_models()] == ["boston", "iris"]


def test_create_model_twice_is_a_conflict(store: RegistryStore) -> None:
    store.create_model("iris")
    with pytest.raises(Conflict, match="already exists"):
        store.create_model("iris")


def test_ensure_model_gets_or_creates(store: RegistryStore) -> None:
    first = store.ensure_model("iris", description="d", owner="alice")
    again = store.ensure_model("iris", description="ignored", owner="bob")
    assert again == first
    assert (again.description, again.owner) == ("d", "alice")


def test_update_model_changes_only_what_is_given(store: RegistryStore) -> None:
    created = store.create_model("iris", description="old", owner="alice")
    updated = store.update_model("iris", description="new")
    assert (updated.description, updated.owner) == ("new", "alice")
    assert updated.updated_at >= created.updated_at
    assert store.update_model("iris", owner="bob").owner == "bob"
    assert store.get_model("iris").description == "new"


def test_model_tags_set_overwrite_delete(store: RegistryStore) -> None:
    store.create_model("iris")
    store.set_model_tag("iris", "team", "a")
    store.set_model_tag("iris", "team", "b")
    store.set_model_tag("iris", "stage", "dev")
    assert dict(store.get_model("iris").tags) == {"team": "b", "stage": "dev"}
    store.delete_model_tag("iris", "team")
    store.delete_model_tag("iris", "never-set")
    assert dict(store.get_model("iris").tags) == {"stage": "dev"}


def test_list_models_carries_latest_and_aliases(store: RegistryStore) -> None:
    store.add_version("iris", draft())
    store.add_version("iris", draft())
    store.set_alias("iris", "prod", 1)
    store.create_model("empty")
    by_name = {m.name: m for m in store.list_models()}
    assert by_name["iris"].latest_version == 2
    assert dict(by_name["iris"].aliases) == {"prod": 1}
    assert by_name["empty"].latest_version is None


# -- versions -------------------------------------------------------------------------------


def test_add_version_numbers_from_one_per_model(store: RegistryStore) -> None:
    assert [store.add_version("a", draft()).version for _ in range(3)] == [1, 2, 3]
    assert store.add_version("b", draft()).version == 1
    assert [v.version for v in store.list_versions("a")] == [1, 2, 3]
    assert store.latest_version("a").version == 3
    assert store.get_model("a").latest_version == 3


def test_add_version_creates_the_model_with_its_owner(store: RegistryStore) -> None:
    store.add_version("iris", draft(), owner="alice")
    assert store.get_model("iris").owner == "alice"
    store.add_version("iris", draft(), owner="bob")
    assert store.get_model("iris").owner == "alice"


def test_every_field_round_trips(store: RegistryStore) -> None:
    store.add_version("iris", draft())
    full = full_draft(parent_version=1)
    added = store.add_version("iris", full, owner="alice")
    loaded = store.get_version("iris", 2)

    assert loaded == added
    for field in dataclasses.fields(full):
        assert getattr(loaded, field.name) == getattr(full, field.name), field.name
    assert loaded.model == "iris" and loaded.version == 2
    assert loaded.created_at.tzinfo is not None and loaded.created_at.utcoffset() == timedelta(0)
    assert loaded.aliases == ()
    assert json.loads(json.dumps(loaded.to_dict())) == loaded.to_dict()


def test_nan_metrics_survive(store: RegistryStore) -> None:
    store.add_version("iris", draft(lineage=Lineage(metrics={"auc": float("nan"), "inf": float("inf")})))
    metrics = store.get_version("iris", 1).lineage.metrics
    assert math.isnan(metrics["auc"]) and metrics["inf"] == float("inf")


def test_unstorable_json_is_the_callers_error(store: RegistryStore) -> None:
    with pytest.raises(InvalidRequest, match="flavor_metadata"):
        store.add_version("iris", draft(flavor_metadata={"x": object()}))
    with pytest.raises(ModelNotFound):
        store.get_model("iris")


def test_parent_version_must_exist(store: RegistryStore) -> None:
    with pytest.raises(VersionNotFound):
        store.add_version("iris", draft(parent_version=3))


def test_versions_are_immutable(store: RegistryStore) -> None:
    first = store.add_version("iris", full_draft())
    store.add_version("iris", draft(description="second"))
    store.set_version_tag("iris", 1, "reviewed", "yes")
    store.set_alias("iris", "prod", 1)
    store.update_model("iris", description="changed")
    store.set_model_tag("iris", "team", "x")

    again = store.get_version("iris", 1)
    assert dataclasses.replace(again, tags=first.tags, aliases=first.aliases) == first
    assert dict(again.tags) == {**first.tags, "reviewed": "yes"}
    assert again.aliases == ("prod",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        again.description = "edited"  # type: ignore[misc]
    # Tags are the only part of a version any method changes.
    mutators = {n for n in dir(store) if n.startswith(("update", "set_", "delete", "edit", "replace"))}
    assert {n for n in mutators if "version" in n} == {"set_version_tag", "delete_version_tag"}


def test_version_tags_set_overwrite_delete(store: RegistryStore) -> None:
    store.add_version("iris", draft(tags={"a": "1"}))
    store.set_version_tag("iris", 1, "a", "2")
    store.set_version_tag("iris", 1, "b", "3")
    assert dict(store.get_version("iris", 1).tags) == {"a": "2", "b": "3"}
    store.delete_version_tag("iris", 1, "a")
    assert dict(store.get_version("iris", 1).tags) == {"b": "3"}


def test_iter_artifacts_lists_every_version(store: RegistryStore) -> None:
    store.add_version("a", draft(artifact=ArtifactRef("1" * 64, 1, "one")))
    store.add_version("b", draft(artifact=ArtifactRef("2" * 64, 2, "two")))
    store.add_version("a", draft(artifact=ArtifactRef("3" * 64, 3, "three")))
    assert list(store.iter_artifacts()) == [
        ("a", 1, ArtifactRef("1" * 64, 1, "one")),
        ("b", 1, ArtifactRef("2" * 64, 2, "two")),
        ("a", 2, ArtifactRef("3" * 64, 3, "three")),
    ]


# -- aliases and resolve --------------------------------------------------------------------


def test_alias_set_move_delete(store: RegistryStore) -> None:
    for _ in range(3):
        store.add_version("iris", draft())
    store.set_alias("iris", "prod", 1)
    store.set_alias("iris", "canary", 3)
    assert store.aliases("iris") == {"canary": 3, "prod": 1}
    assert store.get_version("iris", 1).aliases == ("prod",)

    store.set_alias("iris", "prod", 2)
    assert store.aliases("iris") == {"canary": 3, "prod": 2}
    assert store.get_version("iris", 1).aliases == ()
    assert store.get_version("iris", 2).aliases == ("prod",)
    assert dict(store.get_model("iris").aliases) == {"canary": 3, "prod": 2}

    store.delete_alias("iris", "prod")
    assert store.aliases("iris") == {"canary": 3}
    with pytest.raises(AliasNotFound):
        store.delete_alias("iris", "prod")


def test_alias_needs_an_existing_version(store: RegistryStore) -> None:
    store.add_version("iris", draft())
    with pytest.raises(VersionNotFound):
        store.set_alias("iris", "prod", 2)
    with pytest.raises(ModelNotFound):
        store.set_alias("nope", "prod", 1)
    assert store.aliases("iris") == {}


@pytest.mark.parametrize(
    ("ref", "expected"),
    [("iris", 3), ("iris@prod", 2), ("iris/1", 1), (ModelRef("iris", alias="prod"), 2), (ModelRef("iris", 3), 3)],
    ids=["latest", "alias", "version", "ref-alias", "ref-version"],
)
def test_resolve_each_ref_kind(store: RegistryStore, ref: str | ModelRef, expected: int) -> None:
    for _ in range(3):
        store.add_version("iris", draft())
    store.set_alias("iris", "prod", 2)
    resolved = store.resolve(parse_ref(ref) if isinstance(ref, str) else ref)
    assert (resolved.model, resolved.version) == ("iris", expected)
    assert store.resolve(ref) == resolved


@pytest.mark.parametrize(
    ("ref", "error"),
    [
        ("ghost", ModelNotFound),
        ("ghost@prod", ModelNotFound),
        ("ghost/1", ModelNotFound),
        ("iris@prod", AliasNotFound),
        ("iris/9", VersionNotFound),
        ("empty", VersionNotFound),
    ],
    ids=["model", "model-alias", "model-version", "alias", "version", "no-versions"],
)
def test_resolve_not_found(store: RegistryStore, ref: str, error: type[Exception]) -> None:
    store.add_version("iris", draft())
    store.create_model("empty")
    with pytest.raises(error):
        store.resolve(parse_ref(ref))


def test_not_found_errors(store: RegistryStore) -> None:
    with pytest.raises(ModelNotFound):
        store.get_model("ghost")
    with pytest.raises(ModelNotFound):
        store.list_versions("ghost")
    with pytest.raises(ModelNotFound):
        store.aliases("ghost")
    with pytest.raises(ModelNotFound):
        store.update_model("ghost", description="x")
    with pytest.raises(ModelNotFound):
        store.set_model_tag("ghost", "k", "v")
    store.create_model("iris")
    with pytest.raises(VersionNotFound):
        store.get_version("iris", 1)
    with pytest.raises(VersionNotFound):
        store.latest_version("iris")
    with pytest.raises(VersionNotFound):
        store.set_version_tag("iris", 1, "k", "v")
    assert store.list_versions("iris") == []


# -- names ----------------------------------------------------------------------------------

BAD_NAMES = ["../x", "%2e%2e%2f", "..\\x", "/abs", "a\x00b", "", "a" * 129, "a/b", "x..y"]
BAD_NAME_IDS = ["dotdot", "percent", "backslash", "absolute", "nul", "empty", "long", "slash", "inner-dotdot"]


@pytest.mark.parametrize("name", BAD_NAMES, ids=BAD_NAME_IDS)
def test_invalid_model_names_are_refused_everywhere(store: RegistryStore, name: str) -> None:
    calls = [
        lambda: store.create_model(name),
        lambda: store.ensure_model(name),
        lambda: store.get_model(name),
        lambda: store.update_model(name, description="x"),
        lambda: store.set_model_tag(name, "k", "v"),
        lambda: store.delete_model_tag(name, "k"),
        lambda: store.add_version(name, draft()),
        lambda: store.get_version(name, 1),
        lambda: store.list_versions(name),
        lambda: store.latest_version(name),
        lambda: store.resolve(ModelRef(name)),
        lambda: store.resolve(ModelRef(name, alias="prod")),
        lambda: store.set_alias(name, "prod", 1),
        lambda: store.delete_alias(name, "prod"),
        lambda: store.aliases(name),
        lambda: store.set_version_tag(name, 1, "k", "v"),
    ]
    for call in calls:
        with pytest.raises(InvalidName):
            call()
    assert store.list_models() == []


@pytest.mark.parametrize("alias", ["../x", "%2e%2e%2f", "..\\x", "/abs", "a\x00b", "", "1", "9lives"])
def test_invalid_aliases_are_refused(store: RegistryStore, alias: str) -> None:
    store.add_version("iris", draft())
    with pytest.raises(InvalidName):
        store.set_alias("iris", alias, 1)
    with pytest.raises(InvalidName):
        store.delete_alias("iris", alias)
    with pytest.raises(InvalidName):
        store.resolve(ModelRef("iris", alias=alias))
    assert store.aliases("iris") == {}


@pytest.mark.parametrize("version", [0, -1, 2**31, True, "x"], ids=["zero", "negative", "huge", "bool", "text"])
def test_version_numbers_are_checked(store: RegistryStore, version: object) -> None:
    store.add_version("iris", draft())
    with pytest.raises(InvalidName):
        store.get_version("iris", version)  # type: ignore[arg-type]
    with pytest.raises(InvalidName):
        store.set_alias("iris", "prod", version)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", [{"tags": {"": "v"}}, {"tags": {"k": 1}}, {"flavor": "x" * 65}, {"created_by": "a\x00b"}], ids=str
)
def test_invalid_draft_fields_are_refused(store: RegistryStore, bad: dict[str, object]) -> None:
    with pytest.raises(InvalidRequest):
        store.add_version("iris", draft(**bad))
