"""The compiled form of a version in the SQL store: recorded at registration or later,
replaced on recompilation, never touching the version's own row; and the 0001 → 0002
migration of a database that already holds versions. Every test runs on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from registry_sql_support import draft, full_draft

from shipyard.errors import InvalidRequest, VersionNotFound
from shipyard.registry.sql import RegistryStore, migrate
from shipyard.registry.sql.engine import WRITE_OPTION, create_engine, parse_url
from shipyard.registry.sql.queries import now
from shipyard.registry.sql.rows import version_values
from shipyard.registry.sql.tables import model_versions, models
from shipyard.registry.types import ArtifactRef, CompiledArtifact

REPORT = {
    "agreed": True,
    "rows_checked": 10005,
    "labels_identical": True,
    "max_abs_diff": {"predict_proba": 2.2e-16},
    "tolerance": {"predict_proba": "abs 1e-06"},
    "converter": {"skl2onnx": "1.20.0"},
    "data": "training data",
}
COMPILED = CompiledArtifact(ArtifactRef("c" * 64, 4096, "model.compiled.onnx"), "onnxruntime", REPORT)


def test_a_new_version_has_no_compiled_form(store: RegistryStore) -> None:
    version = store.add_version("iris", draft())
    assert (version.compiled, version.serving_runtime, version.compile_error) == (None, "native", None)
    assert version.to_dict()["serving_runtime"] == "native"


def test_registering_with_a_compiled_form(store: RegistryStore) -> None:
    version = store.add_version("iris", draft(compiled=COMPILED, serving_runtime="compiled"))
    again = store.get_version("iris", 1)
    assert again.compiled == COMPILED and again.serving_runtime == "compiled"
    assert version == again
    assert again.to_dict()["compiled"]["report"]["max_abs_diff"] == {"predict_proba": 2.2e-16}


def test_registering_with_a_refusal(store: RegistryStore) -> None:
    store.add_version("iris", draft(compile_error="no ONNX converter for python models"))
    version = store.resolve("iris")
    assert version.compiled is None and version.serving_runtime == "native"
    assert version.compile_error == "no ONNX converter for python models"


def test_set_compiled_later_leaves_the_version_row_alone(store: RegistryStore) -> None:
    original = store.add_version("iris", full_draft())
    store.set_alias("iris", "prod", 1)
    updated = store.set_compiled("iris", 1, COMPILED, serving_runtime="compiled", compile_error=None)
    assert updated.compiled == COMPILED and updated.serving_runtime == "compiled"
    assert updated.aliases == ("prod",)
    unchanged = {
        k: v for k, v in updated.to_dict().items() if k not in ("compiled", "serving_runtime", "compile_error")
    }
    before = {k: v for k, v in original.to_dict().items() if k not in ("compiled", "serving_runtime", "compile_error")}
    assert unchanged == {**before, "aliases": ["prod"]}
    # Compiled again, the new outcome replaces the old one.
    refused = {**REPORT, "agreed": False, "reason": "labels differ"}
    kept = CompiledArtifact(ArtifactRef("d" * 64, 10, "model.compiled.onnx"), report=refused)
    replaced = store.set_compiled("iris", 1, kept, serving_runtime="native", compile_error="labels differ")
    assert (
        replaced.compiled == kept and replaced.serving_runtime == "native" and replaced.compile_error == "labels differ"
    )
    assert store.list_versions("iris")[0] == replaced
    assert store.resolve("iris@prod") == replaced


def test_set_compiled_checks_its_input(store: RegistryStore) -> None:
    store.add_version("iris", draft())
    with pytest.raises(InvalidRequest, match="serving runtime"):
        store.set_compiled("iris", 1, COMPILED, serving_runtime="gpu", compile_error=None)
    with pytest.raises(InvalidRequest, match="cannot serve compiled"):
        store.set_compiled("iris", 1, None, serving_runtime="compiled", compile_error=None)
    with pytest.raises(VersionNotFound):
        store.set_compiled("iris", 2, COMPILED, serving_runtime="compiled", compile_error=None)
    assert store.get_version("iris", 1).compiled is None


def test_migrating_0001_to_0002_keeps_existing_versions(db_url: str) -> None:
    engine = create_engine(parse_url(db_url))
    try:
        with engine.connect() as conn:
            conn.execution_options(**{WRITE_OPTION: True})
            command.upgrade(migrate.alembic_config(conn), "0001")
            conn.commit()
        assert migrate.current_revision(engine) == "0001"
        with engine.begin() as conn:
            stamp = now()
            values = {"name": "iris", "description": "", "owner": "", "created_at": stamp, "updated_at": stamp}
            model_id = conn.execute(sa.insert(models).values(**values).returning(models.c.id)).scalar_one()
            for number in (1, 2):
                row = {**version_values(full_draft(), created_at=stamp), "model_id": model_id, "version": number}
                conn.execute(sa.insert(model_versions).values(**row))
    finally:
        engine.dispose()
    with RegistryStore(db_url) as store:
        versions = store.list_versions("iris")
        assert [v.version for v in versions] == [1, 2]
        assert all(v.compiled is None and v.serving_runtime == "native" for v in versions)
        assert versions[0].lineage == full_draft().lineage
        store.set_compiled("iris", 2, COMPILED, serving_runtime="compiled", compile_error=None)
        assert store.get_version("iris", 2).serving_runtime == "compiled"
        assert store.get_version("iris", 1).serving_runtime == "native"
    engine = create_engine(parse_url(db_url))
    try:
        assert migrate.current_revision(engine) == migrate.head_revision()
    finally:
        engine.dispose()
