"""Artifacts as objects in an S3-compatible bucket, fetched into a verified local cache.

Keys are ``<prefix>/sha256/ab/abcdef...``. Uploads carry the content's SHA-256 so the
server itself refuses bytes that do not match the key (``ChecksumSHA256`` on a single
PUT; per-part SHA-256 checksums plus a re-hash of what was sent on multipart uploads).
Downloads go to a temp file in the cache directory, are hashed while written, and are
renamed into place only when the digest matches; a cached copy is re-hashed on every
``fetch`` and replaced from the bucket if it was damaged.

Archived blobs of retired versions (``registry/archiving``) live under
``<prefix>/archive/sha256/...``, copied server-side, optionally in a cheaper storage class
(``s3_archive_storage_class``); a copy back is re-hashed before anything relies on it.

botocore errors are translated here, once, into ``StorageError``/``ArtifactNotFound``;
messages name the bucket and key but never echo a botocore message (which may carry
request details) or credentials.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import boto3.exceptions
import botocore.exceptions
from boto3.s3.transfer import TransferConfig

from shipyard.errors import IntegrityError, ShipyardError, StorageError
from shipyard.fs.paths import check_relative_name, safe_join
from shipyard.fs.scratch import note_blob
from shipyard.registry.artifacts.base import (
    CHUNK_SIZE,
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
from shipyard.registry.artifacts.s3_objects import MISSING_CODES, error_code, make_client, safe_endpoint, translate
from shipyard.registry.types import ArtifactRef

logger = logging.getLogger(__name__)

DEFAULT_MULTIPART_THRESHOLD = 64 * 1024 * 1024
CACHE_TEMP = "cache:"
"""Prefix of the ``StoredTemp`` names of half-written downloads in the local cache."""
_COLD_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})
"""Storage classes whose objects cannot be read (or copied) before an S3 RestoreObject."""


class _HashingReader:
    """A read-only, non-seekable view of a stream that hashes what passes through it.

    Being non-seekable makes s3transfer read the parts sequentially, so the digest here is
    the digest of exactly the bytes that were sent.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._digest = hashlib.sha256()
        self.size = 0

    def read(self, amount: int = -1) -> bytes:
        chunk = self._stream.read(amount)
        self._digest.update(chunk)
        self.size += len(chunk)
        return chunk

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class S3ArtifactStore(ArtifactStore):
    """A content-addressed store in an S3 bucket (AWS, MinIO, Ceph, moto...)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        cache_dir: Path,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        archive_storage_class: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.archive_storage_class = archive_storage_class
        """The storage class of archived copies (``STANDARD_IA``, ``GLACIER_IR``, ...); None: the bucket's default."""
        self.prefix = check_relative_name(prefix) if prefix.strip("/") else ""
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._endpoint = safe_endpoint(endpoint_url)
        self._multipart_threshold = multipart_threshold
        self._client = client if client is not None else make_client(endpoint_url, region)
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            self._cache = safe_join(cache_dir, "artifacts")
            self._cache_tmp = safe_join(self._cache, ".tmp")
            self._cache_tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the artifact cache at {cache_dir}: {exc.strerror or exc}") from exc

    def key(self, sha256: str) -> str:
        """The object key of the blob with this digest."""
        key = blob_key(sha256)
        return f"{self.prefix}/{key}" if self.prefix else key

    def archived_key(self, sha256: str) -> str:
        """The object key of the archived copy of the blob with this digest."""
        key = archive_key(sha256)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def _translate(self, exc: Exception, op: str, key: str, sha256: str | None = None) -> ShipyardError:
        if error_code(exc) in MISSING_CODES and sha256 is not None:
            return not_found(sha256, self.url)
        return translate(exc, op, self.bucket, key, endpoint=self._endpoint)

    def _head(self, key: str) -> dict[str, Any] | None:
        try:
            response: dict[str, Any] = self._client.head_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if error_code(exc) in MISSING_CODES:
                return None
            raise self._translate(exc, "head", key) from exc
        except botocore.exceptions.BotoCoreError as exc:
            raise self._translate(exc, "head", key) from exc
        return response

    def _put_stream(self, stream: BinaryIO, *, filename: str, progress: Progress | None) -> ArtifactRef:
        # The key is the digest, so the content is hashed before anything is sent.
        sha256, size = copy_hashing(stream, None)
        stream.seek(0)
        key = self.key(sha256)
        ref = ArtifactRef(sha256=sha256, size=size, filename=filename)
        note_blob(sha256)  # before the blob is visible or relied on: gc sees the lease
        head = self._head(key)
        if head is not None and int(head.get("ContentLength", -1)) == size:
            logger.debug("artifact %s already stored in %s", sha256, self.url)
            return ref
        try:
            if size <= self._multipart_threshold:
                self._put_single(stream, key, sha256)
                if progress is not None:
                    progress(size)
            else:
                self._put_multipart(stream, key, sha256, progress)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, boto3.exceptions.Boto3Error) as exc:
            raise self._translate(exc, "upload", key) from exc
        self._check_uploaded(key, sha256, size, multipart=size > self._multipart_threshold)
        logger.info("stored artifact %s (%d bytes) in %s", sha256, size, self.url)
        return ref

    def _check_uploaded(self, key: str, sha256: str, size: int, *, multipart: bool) -> None:
        # Not every S3-compatible server enforces x-amz-checksum-sha256; ask what landed.
        # A multipart object's checksum is a checksum of part checksums, so there only
        # the size is compared (the parts were checked, and the sent bytes re-hashed).
        try:
            head = self._client.head_object(Bucket=self.bucket, Key=key, ChecksumMode="ENABLED")
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._translate(exc, "upload check", key) from exc
        stored = head.get("ChecksumSHA256")
        expected = base64.b64encode(bytes.fromhex(sha256)).decode("ascii")
        checksum_differs = not multipart and stored is not None and stored != expected
        if int(head.get("ContentLength", -1)) != size or checksum_differs:
            with contextlib.suppress(botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
                self._client.delete_object(Bucket=self.bucket, Key=key)
            raise IntegrityError(
                f"artifact {sha256} did not arrive intact at {self._where(key)}",
                hint="the upload was removed; retry the registration",
            )

    def _put_single(self, stream: BinaryIO, key: str, sha256: str) -> None:
        data = stream.read()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise IntegrityError(f"the source of artifact {sha256} changed while it was being stored; retry")
        # The server recomputes SHA-256 and rejects the PUT (BadDigest) if it differs.
        self._client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentLength=len(data),
            ChecksumSHA256=base64.b64encode(bytes.fromhex(sha256)).decode("ascii"),
        )

    def _put_multipart(self, stream: BinaryIO, key: str, sha256: str, progress: Progress | None) -> None:
        reader = _HashingReader(stream)
        done = 0

        def on_bytes(amount: int) -> None:
            nonlocal done
            done += amount
            if progress is not None:
                progress(done)

        config = TransferConfig(
            multipart_threshold=self._multipart_threshold,
            multipart_chunksize=max(8 * 1024 * 1024, self._multipart_threshold // 8),
            use_threads=False,
        )
        self._client.upload_fileobj(
            reader, self.bucket, key, ExtraArgs={"ChecksumAlgorithm": "SHA256"}, Callback=on_bytes, Config=config
        )
        if reader.hexdigest() != sha256:
            # What was sent is not what the key promises: never leave it under this name.
            self._client.delete_object(Bucket=self.bucket, Key=key)
            raise IntegrityError(f"the source of artifact {sha256} changed while it was being stored; retry")

    def _download(self, ref: ArtifactRef, dst: BinaryIO | None, *, key: str | None = None) -> tuple[str, int]:
        key = self.key(ref.sha256) if key is None else key
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
            body = response["Body"]
            try:
                return copy_hashing(body, dst)
            finally:
                body.close()
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._translate(exc, "download", key, ref.sha256) from exc

    def _cached_ok(self, ref: ArtifactRef, path: Path) -> bool:
        try:
            with path.open("rb") as cached:
                sha256, size = copy_hashing(cached, None)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"cannot read the cached artifact {path}: {exc.strerror or exc}") from exc
        if sha256 == ref.sha256 and size == ref.size:
            return True
        # The cache is only a copy; the bucket is the truth, so fetch it again.
        logger.warning("cached copy of artifact %s is damaged (sha256 %s); downloading again", ref.sha256, sha256)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return False

    def fetch(self, ref: ArtifactRef) -> Path:
        path = safe_join(self._cache, blob_key(ref.sha256))
        if self._cached_ok(ref, path):
            return path
        try:
            self._cache_tmp.mkdir(parents=True, exist_ok=True)  # the cache may have been cleared
            fd, tmp_name = tempfile.mkstemp(prefix="get-", suffix=".part", dir=self._cache_tmp)
        except OSError as exc:
            raise StorageError(f"cannot write to the artifact cache {self._cache}: {exc.strerror or exc}") from exc
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb", buffering=CHUNK_SIZE) as out:
                sha256, size = self._download(ref, out)
            if sha256 != ref.sha256 or size != ref.size:
                logger.error("artifact %s in %s is corrupt: found sha256 %s", ref.sha256, self.url, sha256)
                raise integrity_error(
                    ref, found_sha256=sha256, found_size=size, where=self._where(self.key(ref.sha256))
                )
            path.parent.mkdir(parents=True, exist_ok=True)
            safe_join(self._cache, blob_key(ref.sha256))  # the directories now exist and could be links
            os.replace(tmp, path)
        except OSError as exc:
            raise StorageError(f"cannot write to the artifact cache {self._cache}: {exc.strerror or exc}") from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        return path

    def verify(self, ref: ArtifactRef) -> None:
        sha256, size = self._download(ref, None)
        if sha256 != ref.sha256 or size != ref.size:
            raise integrity_error(ref, found_sha256=sha256, found_size=size, where=self._where(self.key(ref.sha256)))

    def exists(self, sha256: str) -> bool:
        return self._head(self.key(sha256)) is not None

    def delete(self, sha256: str) -> None:
        key = self.key(sha256)
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._translate(exc, "delete", key, sha256) from exc
        with contextlib.suppress(FileNotFoundError):
            safe_join(self._cache, blob_key(sha256)).unlink()
        logger.info("deleted artifact %s from %s", sha256, self.url)

    # -- archive storage ---------------------------------------------------------------------
    def archive(self, ref: ArtifactRef) -> bool:
        target = self.archived_key(ref.sha256)
        head = self._head(target)
        if head is not None and int(head.get("ContentLength", -1)) == ref.size:
            return False
        self.verify(ref)  # never archive bytes that are not what the registry names
        extra = {"StorageClass": self.archive_storage_class} if self.archive_storage_class else None
        self._copy(self.key(ref.sha256), target, extra)
        copied = self._head(target)
        if copied is None or int(copied.get("ContentLength", -1)) != ref.size:
            self._delete_key(target)
            raise IntegrityError(f"the archive copy of artifact {ref.sha256} did not arrive intact; retry")
        logger.info("archived artifact %s to %s", ref.sha256, self._where(target))
        return True

    def restore(self, ref: ArtifactRef) -> bool:
        key = self.key(ref.sha256)
        head = self._head(key)
        if head is not None and int(head.get("ContentLength", -1)) == ref.size:
            return False
        self._copy(self.archived_key(ref.sha256), key, None)
        try:
            self.verify(ref)
        except ShipyardError:
            self._delete_key(key)
            raise
        logger.info("restored artifact %s from the archive of %s", ref.sha256, self.url)
        return True

    def verify_archived(self, ref: ArtifactRef) -> None:
        key = self.archived_key(ref.sha256)
        head = self._head(key)
        if head is None:
            raise not_found(ref.sha256, f"{self.url} (archive)")
        if head.get("StorageClass") in _COLD_CLASSES:
            # Not readable before a RestoreObject: the size is all that can be checked.
            size = int(head.get("ContentLength", -1))
            if size != ref.size:
                raise integrity_error(ref, found_sha256=None, found_size=size, where=self._where(key))
            return
        sha256, size = self._download(ref, None, key=key)
        if sha256 != ref.sha256 or size != ref.size:
            raise integrity_error(ref, found_sha256=sha256, found_size=size, where=self._where(key))

    def delete_archived(self, sha256: str) -> None:
        self._delete_key(self.archived_key(sha256))

    def _copy(self, source: str, target: str, extra: dict[str, str] | None) -> None:
        """A server-side copy (multipart for large objects: s3transfer's managed copy)."""
        try:
            self._client.copy({"Bucket": self.bucket, "Key": source}, self.bucket, target, ExtraArgs=extra)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, boto3.exceptions.Boto3Error) as exc:
            raise self._translate(exc, "copy", source, source.rsplit("/", 1)[-1]) from exc

    def _delete_key(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=key)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._translate(exc, "delete", key) from exc

    # -- garbage collection -----------------------------------------------------------------
    def _blob_prefix(self) -> str:
        return f"{self.prefix}/sha256/" if self.prefix else "sha256/"

    def iter_blobs(self) -> Iterator[StoredBlob]:
        base = self._blob_prefix()
        try:
            pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=base)
            for page in pages:
                for obj in page.get("Contents", []):
                    rest = str(obj["Key"])[len(base) :]
                    shard, _, name = rest.partition("/")
                    if not is_sha256(name) or shard != name[:2]:
                        continue
                    yield StoredBlob(sha256=name, size=int(obj["Size"]), modified=obj["LastModified"].timestamp())
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._translate(exc, "listing", base) from exc

    def delete_blob(self, sha256: str, *, unless_modified_after: float | None = None) -> bool:
        key = self.key(sha256)
        head = self._head(key)
        if head is None:
            return False
        if unless_modified_after is not None and head["LastModified"].timestamp() > unless_modified_after:
            return False
        self.delete(sha256)
        return True

    def iter_temp(self) -> Iterator[StoredTemp]:
        """Downloads left half-written in the local cache, and incomplete multipart uploads
        of blobs (a put killed half-way)."""
        for entry in sorted(self._cache_tmp.glob("*.part")):
            try:
                if entry.is_symlink() or not entry.is_file():
                    continue
                st = entry.stat()
            except FileNotFoundError:
                continue
            yield StoredTemp(name=f"{CACHE_TEMP}{entry.name}", size=st.st_size, modified=st.st_mtime)
        base = self._blob_prefix()
        try:
            pages = self._client.get_paginator("list_multipart_uploads").paginate(Bucket=self.bucket, Prefix=base)
            for page in pages:
                for upload in page.get("Uploads", []):
                    yield StoredTemp(
                        name=f"{upload['Key']}?uploadId={upload['UploadId']}",
                        size=0,
                        modified=upload["Initiated"].timestamp(),
                    )
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._translate(exc, "listing uploads", base) from exc

    def delete_temp(self, name: str) -> None:
        if name.startswith(CACHE_TEMP):
            path = safe_join(self._cache_tmp, name[len(CACHE_TEMP) :])
            if path.parent != self._cache_tmp or not path.name.endswith(".part"):
                raise StorageError(f"{name[:200]!r} is not a temporary file of the artifact cache")
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        key, sep, upload_id = name.partition("?uploadId=")
        if not sep or not key.startswith(self._blob_prefix()):
            raise StorageError(f"{name[:200]!r} is not an unfinished upload of this store")
        try:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
            raise self._translate(exc, "abort upload", key) from exc
