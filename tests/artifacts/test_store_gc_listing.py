"""Listing and deleting blobs and unfinished writes, as gc needs them (local store)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from shipyard.errors import StorageError
from shipyard.fs.scratch import note_blob, scan, scratch_directory
from shipyard.registry.artifacts.local import LocalArtifactStore


def test_iter_blobs_lists_well_formed_blobs_only(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    a = store.put_bytes(b"a" * 100, filename="a")
    b = store.put_bytes(b"b" * 10, filename="b")
    (tmp_path / "store" / "sha256" / "zz").mkdir()
    (tmp_path / "store" / "sha256" / "zz" / "not-a-digest").write_text("x")
    listed = {blob.sha256: blob.size for blob in store.iter_blobs()}
    assert listed == {a.sha256: 100, b.sha256: 10}


def test_delete_blob_refuses_a_blob_refreshed_since_it_was_listed(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    ref = store.put_bytes(b"payload", filename="p")
    path = store.blob_path(ref.sha256)
    old = time.time() - 7200
    os.utime(path, (old, old))
    listed = next(iter(store.iter_blobs()))
    store.put_bytes(b"payload", filename="p")  # the same bytes again: the time is refreshed
    assert not store.delete_blob(ref.sha256, unless_modified_after=listed.modified)
    assert path.is_file()
    assert store.delete_blob(ref.sha256, unless_modified_after=time.time() + 10)
    assert not path.exists()
    assert not store.delete_blob(ref.sha256)  # already gone


def test_temp_files_are_listed_and_removed(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    part = tmp_path / "store" / ".tmp" / "put-abc.part"
    part.write_bytes(b"half")
    temps = list(store.iter_temp())
    assert [(t.name, t.size) for t in temps] == [(".tmp/put-abc.part", 4)]
    store.delete_temp(temps[0].name)
    assert not part.exists()
    with pytest.raises(StorageError):
        store.delete_temp("sha256/ab/whatever")


def test_lease_records_blobs_before_they_are_visible(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")
    root = tmp_path / "home" / "tmp"
    with scratch_directory(root, "register", lease=True) as path:
        assert path.parent == root and path.name.startswith(f"register-{os.getpid()}-")
        ref = store.put_bytes(b"held", filename="h")
        note_blob("f" * 64)
        (entry,) = scan(root)
        assert entry.alive and entry.lease
        assert entry.digests == {ref.sha256, "f" * 64}
    assert scan(root) == []
    note_blob("e" * 64)  # outside a lease: nothing to record, no error
