"""Behaviour every artifact store shares, run against the local store and a real S3 server."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from shipyard.errors import ArtifactNotFound, IntegrityError, InvalidName, InvalidRequest, PathEscape
from shipyard.registry.artifacts.base import ArtifactStore, blob_key
from shipyard.registry.types import ArtifactRef

PAYLOAD = b"model bytes \x00\x01\x02" * 1000


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_put_fetch_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "model.skops"
    src.write_bytes(PAYLOAD)

    ref = store.put(src, filename="model.skops")

    assert ref == ArtifactRef(sha256=sha(PAYLOAD), size=len(PAYLOAD), filename="model.skops")
    assert store.exists(ref.sha256)
    fetched = store.fetch(ref)
    assert fetched.read_bytes() == PAYLOAD
    assert fetched.name == ref.sha256
    store.verify(ref)


def test_put_bytes_round_trip(store: ArtifactStore) -> None:
    ref = store.put_bytes(b"", filename="empty.bin")

    assert ref.sha256 == sha(b"") and ref.size == 0
    assert store.fetch(ref).read_bytes() == b""


def test_put_is_idempotent(store: ArtifactStore, tmp_path: Path) -> None:
    src = tmp_path / "m.onnx"
    src.write_bytes(PAYLOAD)

    first = store.put(src, filename="m.onnx")
    second = store.put(src, filename="m.onnx")
    third = store.put_bytes(PAYLOAD, filename="other-name.onnx")

    assert first == second
    assert (third.sha256, third.size, third.filename) == (first.sha256, first.size, "other-name.onnx")
    assert store.fetch(first).read_bytes() == PAYLOAD


def test_progress_reports_bytes_done(store: ArtifactStore, tmp_path: Path) -> None:
    data = bytes(range(256)) * (14 * 1024)  # 3.5 MiB: several chunks
    src = tmp_path / "big.bin"
    src.write_bytes(data)
    calls: list[int] = []

    store.put(src, filename="big.bin", progress=calls.append)

    assert calls, "progress was never called"
    assert calls == sorted(calls)
    assert calls[-1] == len(data)


def test_fetch_detects_tampering(store: ArtifactStore, tamper: Any) -> None:
    ref = store.put_bytes(PAYLOAD, filename="m")
    store.fetch(ref)  # also fills a cache, which must not hide the change

    tamper(ref.sha256, b"evil" + PAYLOAD[4:])

    with pytest.raises(IntegrityError) as info:
        store.fetch(ref)
    message = str(info.value)
    assert ref.sha256 in message
    assert sha(b"evil" + PAYLOAD[4:]) in message
    assert "re-register" in message and "restore" in message
    with pytest.raises(IntegrityError):
        store.verify(ref)


def test_fetch_detects_truncation(store: ArtifactStore, tamper: Any) -> None:
    ref = store.put_bytes(PAYLOAD, filename="m")

    tamper(ref.sha256, PAYLOAD[:100])

    with pytest.raises(IntegrityError, match=f"expected {len(PAYLOAD)} bytes"):
        store.fetch(ref)


def test_ref_with_wrong_size_is_refused(store: ArtifactStore) -> None:
    ref = store.put_bytes(PAYLOAD, filename="m")

    with pytest.raises(IntegrityError):
        store.fetch(ArtifactRef(sha256=ref.sha256, size=ref.size + 1))


def test_missing_blob(store: ArtifactStore) -> None:
    ref = ArtifactRef(sha256=sha(b"never stored"), size=12)

    assert not store.exists(ref.sha256)
    with pytest.raises(ArtifactNotFound, match=ref.sha256):
        store.fetch(ref)
    with pytest.raises(ArtifactNotFound):
        store.verify(ref)


def test_delete(store: ArtifactStore) -> None:
    ref = store.put_bytes(PAYLOAD, filename="m")

    store.delete(ref.sha256)
    store.delete(ref.sha256)  # deleting twice is fine

    assert not store.exists(ref.sha256)
    with pytest.raises(ArtifactNotFound):
        store.fetch(ref)


def test_missing_source_file(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest, match="no such file"):
        store.put(tmp_path / "nope.bin", filename="nope.bin")


TRAVERSALS = [
    pytest.param("../../../../etc/passwd", id="dotdot"),
    pytest.param("..%2f..%2fetc%2fpasswd", id="encoded-slash"),
    pytest.param("%2e%2e%2f%2e%2e%2fetc", id="encoded-dotdot"),
    pytest.param("..\\..\\windows", id="backslash"),
    pytest.param("/etc/passwd", id="absolute"),
    pytest.param("ab\x00cd", id="nul"),
    pytest.param("C:evil", id="drive"),
]


@pytest.mark.parametrize("digest", TRAVERSALS)
def test_traversal_digests_are_refused(store: ArtifactStore, digest: str) -> None:
    with pytest.raises(PathEscape):
        store.fetch(ArtifactRef(sha256=digest, size=1))
    with pytest.raises(PathEscape):
        store.exists(digest)
    with pytest.raises(PathEscape):
        store.delete(digest)


@pytest.mark.parametrize("filename", TRAVERSALS)
def test_traversal_filenames_are_refused(store: ArtifactStore, filename: str) -> None:
    with pytest.raises(PathEscape):
        store.put_bytes(PAYLOAD, filename=filename)


@pytest.mark.parametrize(
    "digest",
    [
        pytest.param("ABCDEF" + "0" * 58, id="uppercase"),
        pytest.param("0" * 63, id="short"),
        pytest.param("0" * 65, id="long"),
        pytest.param("g" * 64, id="not-hex"),
    ],
)
def test_malformed_digests_are_refused(store: ArtifactStore, digest: str) -> None:
    with pytest.raises(InvalidName):
        store.exists(digest)


def test_blob_key_layout() -> None:
    digest = sha(b"x")
    assert blob_key(digest) == f"sha256/{digest[:2]}/{digest}"
