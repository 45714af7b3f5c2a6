"""Fixtures for the artifact store tests: a local store and a real moto S3 server process."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from shipyard.registry.artifacts.base import ArtifactStore
from shipyard.registry.artifacts.local import LocalArtifactStore


@pytest.fixture
def s3_store(s3_endpoint: str, s3_bucket: str, s3_client: Any, tmp_path: Path) -> ArtifactStore:
    from shipyard.registry.artifacts.s3 import S3ArtifactStore

    return S3ArtifactStore(
        s3_bucket, "models", cache_dir=tmp_path / "cache", endpoint_url=s3_endpoint, client=s3_client
    )


@pytest.fixture
def local_store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest) -> ArtifactStore:
    """Each behaviour test runs against both stores."""
    fixture = "local_store" if request.param == "local" else "s3_store"
    result: ArtifactStore = request.getfixturevalue(fixture)
    return result


@pytest.fixture
def tamper(store: ArtifactStore, request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """Replace a stored blob's bytes behind the store's back (and drop any cached copy)."""

    def replace(sha256: str, data: bytes) -> None:
        if isinstance(store, LocalArtifactStore):
            store.blob_path(sha256).write_bytes(data)
            return
        from shipyard.registry.artifacts.s3 import S3ArtifactStore

        assert isinstance(store, S3ArtifactStore)
        client = request.getfixturevalue("s3_client")
        client.put_object(Bucket=store.bucket, Key=store.key(sha256), Body=data)
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)

    return replace
