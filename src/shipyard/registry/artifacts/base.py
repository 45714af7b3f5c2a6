"""The artifact store contract: content-addressed blobs, verified on every read.

A blob's key is derived from its sha256 (``sha256/ab/abcdef...``), so the same bytes are
stored once and a reference can never silently point at different bytes: every ``fetch``
re-hashes what it hands out. Stores only ever write a blob under its final name after
the whole content is on durable storage; the registry row that points at a blob is
committed by the caller after ``put`` returns, so a crash leaves at worst an orphan blob,
never a row without its bytes.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from shipyard.errors import ArtifactNotFound, IntegrityError, InvalidName, InvalidRequest, PathEscape
from shipyard.fs.paths import check_relative_name
from shipyard.registry.types import ArtifactRef

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")

Progress = Callable[[int], None]


@dataclass(frozen=True)
class StoredBlob:
    """A blob as the store lists it (for garbage collection)."""

    sha256: str
    size: int
    modified: float
    """When it was last written (or found already stored by a put), in epoch seconds."""


@dataclass(frozen=True)
class StoredTemp:
    """An unfinished write left in the store (a ``.part`` file, an incomplete multipart upload)."""

    name: str
    size: int
    modified: float


def is_sha256(value: str) -> bool:
    """Whether ``value`` is exactly 64 lowercase hex characters."""
    return bool(_SHA256.match(value))


def check_sha256(sha256: str) -> str:
    """Return ``sha256`` if it is exactly 64 lowercase hex characters.

    Traversal-looking input is reported as ``PathEscape`` (it was an attempt to leave the
    store), anything else malformed as ``InvalidName``.
    """
    if isinstance(sha256, str) and _SHA256.match(sha256):
        return sha256
    if isinstance(sha256, str):
        check_relative_name(sha256)  # raises PathEscape for '..', '/abs', '%2e', NUL, ...
        if "/" in sha256:
            raise PathEscape(f"refused artifact digest {sha256[:80]!r}: it contains '/'")
    raise InvalidName(
        f"invalid sha256 digest {str(sha256)[:80]!r}",
        hint="a digest is exactly 64 lowercase hexadecimal characters",
    )


def blob_key(sha256: str) -> str:
    """The store-relative key of a blob: ``sha256/<first two hex>/<digest>``."""
    check_sha256(sha256)
    return f"sha256/{sha256[:2]}/{sha256}"


ARCHIVE_AREA = "archive"


def archive_key(sha256: str) -> str:
    """The store-relative key of an archived blob: ``archive/sha256/<first two hex>/<digest>``."""
    return f"{ARCHIVE_AREA}/{blob_key(sha256)}"


def check_filename(filename: str) -> str:
    """Validate the recorded original file name; it is metadata, but others may show or serve it."""
    try:
        return check_relative_name(filename)
    except PathEscape as exc:
        raise PathEscape(f"refused artifact file name: {exc.message}", hint=exc.hint) from exc


def integrity_error(ref: ArtifactRef, *, found_sha256: str | None, found_size: int, where: str) -> IntegrityError:
    """The error for stored bytes that do not match their reference, with what to do about it."""
    if found_size != ref.size:
        what = f"expected {ref.size} bytes (sha256 {ref.sha256}), found {found_size} bytes"
        if found_sha256 is not None:
            what += f" (sha256 {found_sha256})"
    else:
        what = f"expected sha256 {ref.sha256}, found sha256 {found_sha256}"
    return IntegrityError(
        f"artifact {ref.sha256} at {where} is corrupt: {what}",
        hint="re-register the model version from its source file, or restore the blob from a backup",
        expected=ref.sha256,
        found=found_sha256,
    )


def copy_hashing(src: BinaryIO, dst: BinaryIO | None, progress: Progress | None = None) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` (or just read it) in chunks; return (sha256 hex, size)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := src.read(CHUNK_SIZE):
        digest.update(chunk)
        if dst is not None:
            dst.write(chunk)
        size += len(chunk)
        if progress is not None:
            progress(size)
    return digest.hexdigest(), size


class ArtifactStore(ABC):
    """Content-addressed blob storage. Implementations: local directory, S3."""

    url: str

    def put(self, src: Path, *, filename: str, progress: Progress | None = None) -> ArtifactRef:
        """Store the file at ``src``, hashing while copying; ``progress(bytes_done)`` is called per chunk."""
        filename = check_filename(filename)
        try:
            stream = Path(src).open("rb")  # noqa: SIM115 - the open error and the store's errors differ
        except FileNotFoundError as exc:
            raise InvalidRequest(f"cannot store {src}: no such file") from exc
        except OSError as exc:
            raise InvalidRequest(f"cannot store {src}: {exc.strerror or exc}") from exc
        with stream:
            return self._put_stream(stream, filename=filename, progress=progress)

    def put_bytes(self, data: bytes, *, filename: str) -> ArtifactRef:
        """Store ``data`` as a blob."""
        filename = check_filename(filename)
        return self._put_stream(io.BytesIO(data), filename=filename, progress=None)

    @abstractmethod
    def _put_stream(self, stream: BinaryIO, *, filename: str, progress: Progress | None) -> ArtifactRef:
        """Store the bytes of a seekable ``stream`` positioned at its start."""

    @abstractmethod
    def fetch(self, ref: ArtifactRef) -> Path:
        """A local file holding the blob, its sha256 and size verified by this call.

        Raises ``ArtifactNotFound`` when the blob is missing and ``IntegrityError`` when its
        bytes do not match ``ref``. The file must be treated as read-only.
        """

    @abstractmethod
    def verify(self, ref: ArtifactRef) -> None:
        """Re-hash the stored blob itself (never a cache); raise as ``fetch`` does."""

    @abstractmethod
    def exists(self, sha256: str) -> bool:
        """Whether a blob with this digest is stored (not checked for integrity)."""

    @abstractmethod
    def delete(self, sha256: str) -> None:
        """Remove the blob if present; deleting a missing blob is not an error."""

    # -- archive storage (registry/archiving.py) ----------------------------------------------
    # A retired version's blobs may move to an archive area of the same store (``archive/``
    # beside ``sha256/``). These methods only copy, each copy verified against the digest
    # before it becomes visible; removing the source afterwards is the caller's decision
    # (a blob may be shared by versions that are not archived).
    @abstractmethod
    def archive(self, ref: ArtifactRef) -> bool:
        """Copy the blob into the archive area (its digest checked); False when a complete copy
        was there already. The blob itself stays."""

    @abstractmethod
    def restore(self, ref: ArtifactRef) -> bool:
        """Copy the archived blob back into the store, verified before it becomes visible;
        False when the blob was in the store already. The archived copy stays."""

    @abstractmethod
    def verify_archived(self, ref: ArtifactRef) -> None:
        """Check the archived copy (re-hashed where the storage allows reading it); raise as
        ``fetch`` does."""

    @abstractmethod
    def delete_archived(self, sha256: str) -> None:
        """Remove the archived copy if present."""

    # -- garbage collection (registry/gc.py) ------------------------------------------------
    @abstractmethod
    def iter_blobs(self) -> Iterator[StoredBlob]:
        """Every blob stored under a well-formed key."""

    @abstractmethod
    def delete_blob(self, sha256: str, *, unless_modified_after: float | None = None) -> bool:
        """Delete the blob unless it was (re)written after ``unless_modified_after``; return
        whether it was deleted. A put of the same bytes refreshes the time, so a blob a
        registration has just found already stored is not taken from under it."""

    @abstractmethod
    def iter_temp(self) -> Iterator[StoredTemp]:
        """Unfinished writes left in the store."""

    @abstractmethod
    def delete_temp(self, name: str) -> None:
        """Remove one unfinished write named by ``iter_temp``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


def not_found(sha256: str, where: str) -> ArtifactNotFound:
    return ArtifactNotFound(
        f"artifact {sha256} is not in the store at {where}",
        hint="the blob was deleted or the store URL points elsewhere; re-register the model version",
    )
