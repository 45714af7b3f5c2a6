"""open_artifact_store: the settings URL picks the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from shipyard.config import Settings
from shipyard.errors import ConfigError
from shipyard.registry.artifacts import LocalArtifactStore, open_artifact_store


def test_default_is_local_under_home(tmp_path: Path) -> None:
    store = open_artifact_store(Settings(home=tmp_path))

    assert isinstance(store, LocalArtifactStore)
    assert store.root == (tmp_path / "artifacts").resolve()


def test_file_url(tmp_path: Path) -> None:
    store = open_artifact_store(Settings(home=tmp_path, artifacts_url=(tmp_path / "blobs").as_uri()))

    assert isinstance(store, LocalArtifactStore)
    assert store.url == (tmp_path / "blobs").resolve().as_uri()


@pytest.mark.s3
def test_s3_url(tmp_path: Path, s3_endpoint: str, s3_bucket: str, aws_env: None) -> None:
    from shipyard.registry.artifacts.s3 import S3ArtifactStore

    settings = Settings(home=tmp_path, artifacts_url=f"s3://{s3_bucket}/some/prefix", s3_endpoint_url=s3_endpoint)
    store = open_artifact_store(settings)

    assert isinstance(store, S3ArtifactStore)
    assert store.url == f"s3://{s3_bucket}/some/prefix"
    ref = store.put_bytes(b"abc", filename="x")
    assert store.fetch(ref).read_bytes() == b"abc"
    assert store.fetch(ref).is_relative_to(settings.cache_dir.resolve())


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://example.com/blobs", id="http"),
        pytest.param("gs://bucket/x", id="gcs"),
        pytest.param("file://otherhost/x", id="remote-file"),
        pytest.param("relative/path", id="no-scheme"),
        pytest.param("s3:///prefix", id="s3-no-bucket"),
        pytest.param("s3://bucket/../x", id="s3-escaping-prefix"),
    ],
)
def test_unsupported_urls(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError):
        open_artifact_store(Settings(home=tmp_path, artifacts_url=url))
