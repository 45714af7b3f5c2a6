"""What only the S3 store does: the verified cache, multipart uploads, error translation."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import PathEscape, StorageError
from shipyard.registry.artifacts.s3 import S3ArtifactStore
from shipyard.registry.types import ArtifactRef

pytestmark = pytest.mark.s3

PAYLOAD = b"weights" * 10_000


@pytest.fixture
def store(s3_endpoint: str, s3_bucket: str, s3_client: Any, tmp_path: Path) -> S3ArtifactStore:
    return S3ArtifactStore(
        s3_bucket, "team/models", cache_dir=tmp_path / "cache", endpoint_url=s3_endpoint, client=s3_client
    )


def test_object_key_has_prefix_and_digest(store: S3ArtifactStore, s3_client: Any, s3_bucket: str) -> None:
    ref = store.put_bytes(PAYLOAD, filename="m")

    key = f"team/models/sha256/{ref.sha256[:2]}/{ref.sha256}"
    assert s3_client.get_object(Bucket=s3_bucket, Key=key)["Body"].read() == PAYLOAD
    assert store.url == f"s3://{s3_bucket}/team/models"


def test_fetch_downloads_into_the_cache(store: S3ArtifactStore, tmp_path: Path) -> None:
    ref = store.put_bytes(PAYLOAD, filename="m")

    path = store.fetch(ref)

    assert path.is_relative_to((tmp_path / "cache").resolve())
    assert path.read_bytes() == PAYLOAD
    assert list(path.parent.parent.parent.joinpath(".tmp").iterdir()) == []


def test_damaged_cache_copy_is_replaced_from_the_bucket(store: S3ArtifactStore) -> None:
    ref = store.put_bytes(PAYLOAD, filename="m")
    path = store.fetch(ref)
    path.write_bytes(b"bit rot")

    again = store.fetch(ref)

    assert again.read_bytes() == PAYLOAD


def test_leftover_partial_download_is_ignored(store: S3ArtifactStore, tmp_path: Path) -> None:
    ref = store.put_bytes(PAYLOAD, filename="m")
    tmp = tmp_path / "cache" / "artifacts" / ".tmp"
    (tmp / "get-crashed.part").write_bytes(PAYLOAD[:10])

    assert store.fetch(ref).read_bytes() == PAYLOAD


def test_multipart_upload(s3_endpoint: str, s3_bucket: str, aws_env: None, tmp_path: Path) -> None:
    # Built from the environment's credentials, the way deployments build it.
    store = S3ArtifactStore(
        s3_bucket, "", cache_dir=tmp_path / "cache", endpoint_url=s3_endpoint, multipart_threshold=5 * 1024 * 1024
    )
    data = bytes(range(256)) * (24 * 1024 * 2)  # 12 MiB: two parts
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    calls: list[int] = []

    ref = store.put(src, filename="big.bin", progress=calls.append)

    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert calls[-1] == len(data)
    assert store.fetch(ref).read_bytes() == data


def test_symlink_in_cache_is_refused(store: S3ArtifactStore, tmp_path_factory: pytest.TempPathFactory) -> None:
    ref = store.put_bytes(PAYLOAD, filename="m")
    path = store.fetch(ref)
    path.unlink()
    outside = tmp_path_factory.mktemp("outside")
    path.parent.rmdir()
    path.parent.symlink_to(outside, target_is_directory=True)

    with pytest.raises(PathEscape):
        store.fetch(ref)
    assert list(outside.iterdir()) == []


def test_missing_bucket_is_a_storage_error(s3_endpoint: str, aws_env: None, tmp_path: Path) -> None:
    store = S3ArtifactStore("no-such-bucket-here", cache_dir=tmp_path / "cache", endpoint_url=s3_endpoint)

    with pytest.raises(StorageError, match="does not exist"):
        store.put_bytes(PAYLOAD, filename="m")


def test_unreachable_endpoint_is_a_storage_error_without_secrets(aws_env: None, tmp_path: Path) -> None:
    import boto3
    from botocore.config import Config

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    endpoint = f"http://user:endpoint-password@127.0.0.1:{port}"
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(retries={"max_attempts": 1})
    )
    store = S3ArtifactStore("b", cache_dir=tmp_path / "cache", endpoint_url=endpoint, client=client)

    with pytest.raises(StorageError) as info:
        store.fetch(ArtifactRef(sha256=hashlib.sha256(b"x").hexdigest(), size=1))
    assert "cannot reach" in str(info.value)
    assert "testing-secret" not in str(info.value)
    assert "endpoint-password" not in str(info.value)
    assert f"127.0.0.1:{port}" in str(info.value)


def test_missing_credentials_are_a_storage_error(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    store = S3ArtifactStore(s3_bucket, cache_dir=tmp_path / "cache", endpoint_url=s3_endpoint, region="us-east-1")

    with pytest.raises(StorageError, match="credentials"):
        store.exists(hashlib.sha256(b"x").hexdigest())
