"""Archiving a retired version's artifacts and restoring them, in a local directory and in
S3 (moto's real server): moved, verified, shared blobs left in place, nothing half-done."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from lifecycle_support import register_fraud, versions

from homes import open_home
from shipyard.errors import ArtifactNotFound, Conflict, Gone, IntegrityError, StorageError
from shipyard.registry.archiving import Archiver
from shipyard.registry.artifacts.base import ArtifactStore
from shipyard.registry.artifacts.local import LocalArtifactStore
from shipyard.registry.artifacts.s3 import S3ArtifactStore
from shipyard.registry.sql import RegistryStore
from shipyard.registry.sql.audit import AuditFilter


@pytest.fixture
def local_store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def s3_store(s3_client: Any, s3_bucket: str, tmp_path: Path) -> S3ArtifactStore:
    return S3ArtifactStore(
        s3_bucket, "models", cache_dir=tmp_path / "cache", client=s3_client, archive_storage_class="STANDARD_IA"
    )


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def artifacts(request: pytest.FixtureRequest) -> ArtifactStore:
    store: ArtifactStore = request.getfixturevalue(f"{request.param}_store")
    return store


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Any:
    with RegistryStore(f"sqlite:///{tmp_path / 'registry.db'}") as store:
        yield store


def test_archive_moves_the_blob_and_restore_brings_it_back(
    artifacts: ArtifactStore, sqlite_store: RegistryStore
) -> None:
    store = sqlite_store
    made = versions(store, "fraud", 3, artifacts)
    ref = made[1].artifact
    archiver = Archiver(store, artifacts)
    with pytest.raises(Conflict, match="only a retired version"):
        archiver.archive("fraud", 2)
    store.lifecycle.retire("fraud", 2, successor="fraud/3")
    with pytest.raises(Conflict, match="not archived"):
        archiver.restore("fraud", 2)

    archived = archiver.archive("fraud", 2, actor="user:ann", reason="space")
    assert archived.archived_at is not None and archived.lifecycle == "retired"
    assert not artifacts.exists(ref.sha256), "the original is gone"
    artifacts.verify_archived(ref)
    assert artifacts.exists(made[0].artifact.sha256) and artifacts.exists(made[2].artifact.sha256)
    with pytest.raises(Conflict, match="archived already"):
        archiver.archive("fraud", 2)

    restored = archiver.restore("fraud", 2, actor="user:ann")
    assert restored.archived_at is None and restored.lifecycle == "retired"
    assert artifacts.fetch(ref).read_bytes() == b"fraud version 2"
    with pytest.raises(ArtifactNotFound, match=r"\(archive\)"):  # the archived copy was removed
        artifacts.verify_archived(ref)
    entries = [
        e for e in store.audit.list(AuditFilter(resource="fraud/2", limit=None)) if e.action != "version.register"
    ]
    assert [e.action for e in entries] == ["version.retire", "version.archive", "version.restore"]
    assert entries[1].details["artifacts"] == [ref.sha256] and entries[1].reason == "space"


def test_a_blob_shared_with_a_live_version_stays_in_the_store(
    local_store: LocalArtifactStore, sqlite_store: RegistryStore
) -> None:
    from lifecycle_support import draft

    shared = local_store.put_bytes(b"the same bytes", filename="model.skops")
    sqlite_store.add_version("fraud", draft(shared))
    sqlite_store.add_version("fraud", draft(shared))
    sqlite_store.lifecycle.retire("fraud", 1)
    Archiver(sqlite_store, local_store).archive("fraud", 1)
    assert local_store.exists(shared.sha256), "version 2 still needs it"
    local_store.verify_archived(shared)
    Archiver(sqlite_store, local_store).restore("fraud", 1)
    assert local_store.exists(shared.sha256)


def test_a_failed_copy_changes_nothing(local_store: LocalArtifactStore, sqlite_store: RegistryStore) -> None:
    made = versions(sqlite_store, "fraud", 1, local_store)
    sqlite_store.lifecycle.retire("fraud", 1)
    (local_store.root / "archive").write_bytes(b"not a directory")  # the archive area cannot be made
    with pytest.raises(StorageError):
        Archiver(sqlite_store, local_store).archive("fraud", 1)
    assert sqlite_store.get_version("fraud", 1).archived_at is None
    assert local_store.fetch(made[0].artifact).read_bytes() == b"fraud version 1"
    (local_store.root / "archive").unlink()

    # A corrupt source is never archived; a corrupt archived copy is never restored.
    blob = local_store.blob_path(made[0].artifact.sha256)
    blob.chmod(0o644)
    original = blob.read_bytes()
    blob.write_bytes(b"tampered")
    with pytest.raises(IntegrityError):
        Archiver(sqlite_store, local_store).archive("fraud", 1)
    assert sqlite_store.get_version("fraud", 1).archived_at is None
    blob.write_bytes(original)
    Archiver(sqlite_store, local_store).archive("fraud", 1)
    copy = local_store.archived_path(made[0].artifact.sha256)
    copy.write_bytes(b"damaged in the archive")
    with pytest.raises(IntegrityError):
        Archiver(sqlite_store, local_store).restore("fraud", 1)
    assert sqlite_store.get_version("fraud", 1).archived_at is not None, "still archived"
    assert not local_store.exists(made[0].artifact.sha256), "nothing damaged was put back"


@pytest.mark.s3
def test_s3_archive_uses_the_archive_prefix_and_storage_class(
    s3_store: S3ArtifactStore, s3_client: Any, s3_bucket: str, sqlite_store: RegistryStore
) -> None:
    made = versions(sqlite_store, "fraud", 1, s3_store)
    sha = made[0].artifact.sha256
    sqlite_store.lifecycle.retire("fraud", 1)
    Archiver(sqlite_store, s3_store).archive("fraud", 1)
    head = s3_client.head_object(Bucket=s3_bucket, Key=f"models/archive/sha256/{sha[:2]}/{sha}")
    assert head["StorageClass"] == "STANDARD_IA"
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == [f"models/archive/sha256/{sha[:2]}/{sha}"]
    assert list(s3_store.iter_blobs()) == [], "gc never sees archived blobs"
    Archiver(sqlite_store, s3_store).restore("fraud", 1)
    keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == [f"models/sha256/{sha[:2]}/{sha}"]


def test_loading_refuses_retired_and_archived_versions_and_verify_checks_the_archive(tmp_path: Path) -> None:
    home = tmp_path / "home"
    register_fraud(home, count=2)
    services = open_home(home)
    try:
        services.store.set_alias("fraud", "production", 2)
        services.store.lifecycle.retire("fraud", 1, successor="fraud/2")
        record = services.store.get_version("fraud", 1)
        with pytest.raises(Gone, match=r"^fraud/1 is retired; use fraud/2$") as gone:
            services.registry.load_version(record)
        assert gone.value.to_dict() == {
            "error": "fraud/1 is retired; use fraud/2",
            "code": "retired",
            "successor": "fraud/2",
        }
        services.registry.load_version(record, allow_retired=True)  # checking it is allowed

        services.registry.archiver.archive("fraud", 1)
        record = services.store.get_version("fraud", 1)
        with pytest.raises(Conflict, match="archived") as archived:
            services.registry.load_version(record, allow_retired=True)
        assert archived.value.hint == "shipyard models restore fraud/1"
        with pytest.raises(Gone) as both:
            services.registry.load_version(record)
        assert both.value.hint is not None and "shipyard models restore fraud/1" in both.value.hint
        with pytest.raises(Conflict):
            services.registry.artifact_path("fraud", 1)
        results = list(services.registry.verify())
        assert results and all(r.ok for r in results), [r.error for r in results]
        archived_blob = services.artifacts.archived_path(record.artifact.sha256)  # type: ignore[attr-defined]
        os.chmod(archived_blob, 0o644)
        archived_blob.write_bytes(b"rot")
        bad = [r for r in services.registry.verify() if not r.ok]
        assert [(r.model, r.version) for r in bad] == [("fraud", 1)]
    finally:
        services.close()
