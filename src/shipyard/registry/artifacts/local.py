"""Artifacts as files under one local directory.

Layout::

    <root>/sha256/ab/abcdef...   one file per blob, named by its digest
    <root>/.tmp/put-*.part       uploads (and archive copies) in progress (never read as blobs)
    <root>/archive/sha256/ab/... archived blobs of retired versions (``registry/archiving``)

A blob is written to a temp file in ``<root>/.tmp`` (same filesystem, so the rename is
atomic), fsynced, ``os.replace``d under its final name, and the directory is fsynced, so
after a crash a final name holds either nothing or the complete bytes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from shipyard.errors import ArtifactNotFound, IntegrityError, StorageError
from shipyard.fs.paths import safe_join
from shipyard.fs.scratch import note_blob
from shipyard.registry.artifacts.base import (
    ArtifactStore,
    Progress,
    StoredBlob,
    StoredTemp,
    archive_key,
    blob_key,
    copy_hashing,
    integrity_error,
    is_sha256,
    not_found,
)
from shipyard.registry.types import ArtifactRef

logger = logging.getLogger(__name__)

TEMP_DIR = ".tmp"
TEMP_PREFIX = "put-"
TEMP_SUFFIX = ".part"
# Temp files younger than this may belong to a put running in another process.
DEFAULT_TEMP_MAX_AGE_SECONDS = 3600.0


def _fsync_dir(path: Path) -> None:
    # Without this the rename itself may not survive a power loss on ext4/xfs.
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


class LocalArtifactStore(ArtifactStore):
    """A content-addressed store in a local directory."""

    def __init__(self, root: Path, *, temp_max_age_seconds: float = DEFAULT_TEMP_MAX_AGE_SECONDS) -> None:
        try:
            Path(root).mkdir(parents=True, exist_ok=True)
            self.root = Path(root).resolve()
            self._tmp = safe_join(self.root, TEMP_DIR)
            self._tmp.mkdir(exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the artifact store at {root}: {exc.strerror or exc}") from exc
        self.url = self.root.as_uri()
        self.clean_temp(max_age_seconds=temp_max_age_seconds)

    def clean_temp(self, *, max_age_seconds: float = DEFAULT_TEMP_MAX_AGE_SECONDS) -> int:
        """Remove temp files left by interrupted puts older than ``max_age_seconds``; return how many."""
        cutoff = time.time() - max_age_seconds
        removed = 0
        for entry in self._tmp.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                if entry.is_file() and not entry.is_symlink() and entry.stat().st_mtime <= cutoff:
                    entry.unlink()
                    removed += 1
        if removed:
            logger.info("removed %d stale temp file(s) from the artifact store", removed)
        return removed

    def blob_path(self, sha256: str) -> Path:
        """Where the blob with this digest lives (checked to stay inside the root)."""
        return safe_join(self.root, blob_key(sha256))

    def _put_stream(self, stream: BinaryIO, *, filename: str, progress: Progress | None) -> ArtifactRef:
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=self._tmp)
        except OSError as exc:
            raise StorageError(f"cannot write to the artifact store at {self.root}: {exc.strerror or exc}") from exc
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                sha256, size = copy_hashing(stream, out, progress)
                # Before the blob is visible (or relied on): a running gc must see the lease.
                note_blob(sha256)
                final = self.blob_path(sha256)
                if final.is_file() and final.stat().st_size == size:
                    # Same digest, same size: the bytes are already stored. Refresh the time
                    # so a gc that listed it as an old orphan leaves it alone.
                    logger.debug("artifact %s already stored", sha256)
                    with contextlib.suppress(OSError):
                        os.utime(final)
                    return ArtifactRef(sha256=sha256, size=size, filename=filename)
                out.flush()
                os.fsync(out.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            self.blob_path(sha256)  # re-check: the directories now exist and could be links
            os.replace(tmp, final)
            _fsync_dir(final.parent)
            _fsync_dir(final.parent.parent)
            logger.info("stored artifact %s (%d bytes)", sha256, size)
            return ArtifactRef(sha256=sha256, size=size, filename=filename)
        except OSError as exc:
            raise StorageError(f"cannot write to the artifact store at {self.root}: {exc.strerror or exc}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()

    def archived_path(self, sha256: str) -> Path:
        """Where the archived copy of the blob with this digest lives."""
        return safe_join(self.root, archive_key(sha256))

    def _check(self, ref: ArtifactRef, path: Path | None = None) -> Path:
        path = self.blob_path(ref.sha256) if path is None else path
        try:
            with path.open("rb") as blob:
                sha256, size = copy_hashing(blob, None)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise not_found(ref.sha256, self.url) from exc
        except OSError as exc:
            raise StorageError(f"cannot read artifact {ref.sha256} in {self.url}: {exc.strerror or exc}") from exc
        if sha256 != ref.sha256 or size != ref.size:
            logger.error("artifact %s is corrupt: found sha256 %s", ref.sha256, sha256)
            raise integrity_error(ref, found_sha256=sha256, found_size=size, where=self.url)
        return path

    def fetch(self, ref: ArtifactRef) -> Path:
        return self._check(ref)

    def verify(self, ref: ArtifactRef) -> None:
        self._check(ref)

    def exists(self, sha256: str) -> bool:
        return self.blob_path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        path = self.blob_path(sha256)
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete artifact {sha256} in {self.url}: {exc.strerror or exc}") from exc
        logger.info("deleted artifact %s", sha256)

    # -- archive storage ---------------------------------------------------------------------
    def archive(self, ref: ArtifactRef) -> bool:
        return self._copy_verified(ref, self.blob_path(ref.sha256), self.archived_path(ref.sha256))

    def restore(self, ref: ArtifactRef) -> bool:
        return self._copy_verified(ref, self.archived_path(ref.sha256), self.blob_path(ref.sha256))

    def verify_archived(self, ref: ArtifactRef) -> None:
        try:
            self._check(ref, self.archived_path(ref.sha256))
        except ArtifactNotFound as exc:
            raise not_found(ref.sha256, f"{self.url} (archive)") from exc

    def delete_archived(self, sha256: str) -> None:
        try:
            self.archived_path(sha256).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot delete archived artifact {sha256}: {exc.strerror or exc}") from exc

    def _copy_verified(self, ref: ArtifactRef, src: Path, dst: Path) -> bool:
        """Copy ``src`` to ``dst`` through a temp file, hashed on the way: the destination
        appears (renamed into place) only with exactly the bytes ``ref`` names."""
        if dst.is_file() and dst.stat().st_size == ref.size:
            try:
                self._check(ref, dst)
                return False
            except IntegrityError:
                logger.warning("replacing a damaged copy of artifact %s", ref.sha256)
        try:
            source = src.open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise not_found(ref.sha256, self.url) from exc
        except OSError as exc:
            raise StorageError(f"cannot read artifact {ref.sha256} in {self.url}: {exc.strerror or exc}") from exc
        tmp: Path | None = None
        try:
            with source:
                fd, tmp_name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=self._tmp)
                tmp = Path(tmp_name)
                with os.fdopen(fd, "wb") as out:
                    sha256, size = copy_hashing(source, out)
                    if sha256 != ref.sha256 or size != ref.size:
                        raise integrity_error(ref, found_sha256=sha256, found_size=size, where=self.url)
                    out.flush()
                    os.fsync(out.fileno())
            dst.parent.mkdir(parents=True, exist_ok=True)
            safe_join(self.root, str(dst.relative_to(self.root)))  # the directories could be links
            os.replace(tmp, dst)
            _fsync_dir(dst.parent)
            return True
        except OSError as exc:
            raise StorageError(f"cannot copy artifact {ref.sha256} in {self.url}: {exc.strerror or exc}") from exc
        finally:
            if tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    tmp.unlink()

    # -- garbage collection -----------------------------------------------------------------
    def iter_blobs(self) -> Iterator[StoredBlob]:
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for shard in sorted(base.iterdir()):
            if not shard.is_dir() or shard.is_symlink() or len(shard.name) != 2:
                continue
            for entry in sorted(shard.iterdir()):
                if not is_sha256(entry.name) or entry.name[:2] != shard.name or entry.is_symlink():
                    continue
                try:
                    st = entry.stat()
                except FileNotFoundError:
                    continue
                yield StoredBlob(sha256=entry.name, size=st.st_size, modified=st.st_mtime)

    def delete_blob(self, sha256: str, *, unless_modified_after: float | None = None) -> bool:
        path = self.blob_path(sha256)
        try:
            if unless_modified_after is not None and path.stat().st_mtime > unless_modified_after:
                return False
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot delete artifact {sha256} in {self.url}: {exc.strerror or exc}") from exc
        logger.info("deleted artifact %s", sha256)
        return True

    def iter_temp(self) -> Iterator[StoredTemp]:
        for entry in sorted(self._tmp.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}")):
            try:
                if not entry.is_file() or entry.is_symlink():
                    continue
                st = entry.stat()
            except FileNotFoundError:
                continue
            yield StoredTemp(name=f"{TEMP_DIR}/{entry.name}", size=st.st_size, modified=st.st_mtime)

    def delete_temp(self, name: str) -> None:
        path = safe_join(self.root, name)
        if path.parent != self._tmp or not path.name.endswith(TEMP_SUFFIX):
            raise StorageError(f"{name!r} is not a temporary file of the artifact store")
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
