"""The local store's crash safety and containment."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from shipyard.errors import ArtifactNotFound, PathEscape
from shipyard.registry.artifacts.local import LocalArtifactStore
from shipyard.registry.types import ArtifactRef

PAYLOAD = b"0123456789abcdef" * 200_000  # 3.2 MB: several chunks


class Crash(Exception):
    """Stands in for the process dying part-way through a copy."""


def test_blob_lives_under_its_digest(local_store: LocalArtifactStore) -> None:
    ref = local_store.put_bytes(PAYLOAD, filename="m")

    path = local_store.root / "sha256" / ref.sha256[:2] / ref.sha256
    assert path.is_file()
    assert local_store.fetch(ref) == path


def test_crash_mid_put_leaves_no_blob(local_store: LocalArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(PAYLOAD)
    digest = hashlib.sha256(PAYLOAD).hexdigest()

    def die_after_first_chunk(done: int) -> None:
        raise Crash

    with pytest.raises(Crash):
        local_store.put(src, filename="m", progress=die_after_first_chunk)

    assert not local_store.exists(digest)
    assert not (local_store.root / "sha256" / digest[:2] / digest).exists()
    assert list((local_store.root / ".tmp").iterdir()) == []


def test_stray_temp_file_is_not_a_blob_and_is_cleaned(tmp_path: Path) -> None:
    root = tmp_path / "artifacts"
    store = LocalArtifactStore(root)
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    # What a killed process leaves: a partial copy in the temp directory.
    stray = root / ".tmp" / "put-crashed.part"
    stray.write_bytes(PAYLOAD[:1000])

    assert not store.exists(digest)
    with pytest.raises(ArtifactNotFound):
        store.fetch(ArtifactRef(sha256=digest, size=len(PAYLOAD)))

    LocalArtifactStore(root)  # a young temp file may belong to a running put: kept
    assert stray.exists()
    old = time.time() - 2 * 3600
    os.utime(stray, (old, old))
    LocalArtifactStore(root)
    assert not stray.exists()

    ref = store.put_bytes(PAYLOAD, filename="m")
    assert store.fetch(ref).read_bytes() == PAYLOAD


def test_put_repairs_a_truncated_blob(local_store: LocalArtifactStore) -> None:
    ref = local_store.put_bytes(PAYLOAD, filename="m")
    local_store.blob_path(ref.sha256).write_bytes(PAYLOAD[:10])

    local_store.put_bytes(PAYLOAD, filename="m")

    assert local_store.fetch(ref).read_bytes() == PAYLOAD


def test_symlinked_shard_directory_is_refused(
    local_store: LocalArtifactStore, tmp_path_factory: pytest.TempPathFactory
) -> None:
    outside = tmp_path_factory.mktemp("elsewhere")
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    shard = local_store.root / "sha256" / digest[:2]
    shard.parent.mkdir(parents=True, exist_ok=True)
    shard.symlink_to(outside, target_is_directory=True)

    with pytest.raises(PathEscape):
        local_store.put_bytes(PAYLOAD, filename="m")
    with pytest.raises(PathEscape):
        local_store.fetch(ArtifactRef(sha256=digest, size=len(PAYLOAD)))
    with pytest.raises(PathEscape):
        local_store.delete(digest)
    assert list(outside.iterdir()) == []
    assert list((local_store.root / ".tmp").iterdir()) == []


def test_symlinked_blob_is_refused(local_store: LocalArtifactStore, tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_bytes(b"secret")
    digest = hashlib.sha256(b"secret").hexdigest()
    blob = local_store.root / "sha256" / digest[:2] / digest
    blob.parent.mkdir(parents=True)
    blob.symlink_to(secret)

    with pytest.raises(PathEscape):
        local_store.fetch(ArtifactRef(sha256=digest, size=6))
