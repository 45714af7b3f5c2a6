"""Talking to an S3-compatible bucket: the client, botocore errors in Shipyard's words, and
whole objects copied to and from local files.

The artifact store (``s3.py``) and batch scoring's inputs and outputs (``shipyard.batch``)
share this: one client configuration (path-style addressing for custom endpoints such as
MinIO or moto, standard retries, bounded timeouts) from the settings' ``s3_endpoint_url``
and ``s3_region``, and one translation of botocore errors into ``StorageError`` (messages
name the bucket and key, never a botocore message, which may carry request details, nor
credentials). boto3 stays inside the registry layer: importing this module imports it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import boto3.exceptions
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from shipyard.errors import IntegrityError, InvalidRequest, ShipyardError, StorageError

logger = logging.getLogger(__name__)

MISSING_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
_DENIED_CODES = frozenset({"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "403"})
_DIGEST_CODES = frozenset({"BadDigest", "XAmzContentChecksumMismatch", "XAmzContentSHA256Mismatch", "InvalidDigest"})
BOTO_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError, boto3.exceptions.Boto3Error)
"""What a boto3 call may raise that ``translate`` turns into a Shipyard error."""
_COPY_BYTES = 1024 * 1024


def safe_endpoint(endpoint_url: str | None) -> str:
    """The endpoint without any user:password part, for messages."""
    if not endpoint_url:
        return "AWS S3"
    parts = urlsplit(endpoint_url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}:{parts.port}" if parts.port else f"{parts.scheme}://{host}"


def make_client(endpoint_url: str | None, region: str | None) -> Any:
    """A boto3 S3 client for the settings' endpoint and region."""
    # Path-style addressing: custom endpoints (MinIO, moto, Ceph) rarely have wildcard DNS
    # for virtual-hosted bucket names.
    config = Config(
        s3={"addressing_style": "path"} if endpoint_url else {},
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
    )
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region, config=config)


def error_code(exc: Exception) -> str | None:
    """The S3 error code of a ``ClientError`` (``NoSuchKey``, ``403``...), else None."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code", "unknown"))
    return None


def translate(exc: Exception, op: str, bucket: str, key: str, *, endpoint: str) -> ShipyardError:
    """``exc`` (raised by boto3 during ``op`` on ``s3://bucket/key``) as a Shipyard error."""
    where = f"s3://{bucket}/{key}"
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        if code == "NoSuchBucket":
            return StorageError(f"S3 {op} of {where} failed: bucket {bucket!r} does not exist")
        if code in _DENIED_CODES:
            return StorageError(
                f"S3 {op} of {where} was denied ({code})",
                hint="check the AWS credentials (environment, ~/.aws) and the bucket policy",
            )
        if code == "InvalidObjectState":
            return StorageError(
                f"S3 {op} of {where} failed: the object is in cold storage",
                hint="request it back with S3 RestoreObject (aws s3api restore-object), then retry",
            )
        if code in _DIGEST_CODES:
            return IntegrityError(
                f"S3 {op} of {where} failed the digest check ({code})",
                hint="the bytes changed in transit or the source changed during upload; retry",
            )
        return StorageError(f"S3 {op} of {where} failed: {code} (HTTP {status})")
    if isinstance(exc, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return StorageError(
            f"S3 {op} of {where} failed: no usable AWS credentials",
            hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or configure a profile",
        )
    if isinstance(exc, botocore.exceptions.EndpointConnectionError | botocore.exceptions.ConnectionError):
        return StorageError(f"S3 {op} of {where} failed: cannot reach {endpoint}")
    return StorageError(f"S3 {op} of {where} failed: {type(exc).__name__}")


def split_s3_url(url: str) -> tuple[str, str]:
    """``(bucket, key)`` of ``s3://bucket/key``; ``InvalidRequest`` for anything else."""
    parts = urlsplit(url)
    key = parts.path.lstrip("/")
    if parts.scheme != "s3" or not parts.netloc or "@" in parts.netloc or parts.query or parts.fragment or not key:
        raise InvalidRequest(f"{url[:200]!r} is not an S3 object URL", hint="use s3://bucket/key")
    if key.endswith("/"):
        raise InvalidRequest(f"{url[:200]!r} names a folder, not an object", hint="use s3://bucket/key")
    return parts.netloc, key


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 says about one object: enough to tell whether it changed."""

    size: int
    etag: str
    modified: float


class S3Objects:
    """Whole objects in any bucket of one S3 endpoint, copied to and from local files."""

    def __init__(self, endpoint_url: str | None = None, region: str | None = None, *, client: Any = None) -> None:
        self._endpoint = safe_endpoint(endpoint_url)
        self._client = client if client is not None else make_client(endpoint_url, region)

    def _error(self, exc: Exception, op: str, bucket: str, key: str) -> ShipyardError:
        return translate(exc, op, bucket, key, endpoint=self._endpoint)

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's size, ETag and modification time; None when there is no such object."""
        try:
            response = self._client.head_object(Bucket=bucket, Key=key)
        except BOTO_ERRORS as exc:
            if error_code(exc) in MISSING_CODES:
                return None
            raise self._error(exc, "head", bucket, key) from exc
        return ObjectInfo(
            size=int(response.get("ContentLength", 0)),
            etag=str(response.get("ETag", "")).strip('"'),
            modified=response["LastModified"].timestamp(),
        )

    def check_bucket(self, bucket: str) -> None:
        """``StorageError`` unless ``bucket`` exists and these credentials may use it."""
        try:
            self._client.head_bucket(Bucket=bucket)
        except BOTO_ERRORS as exc:
            if error_code(exc) in MISSING_CODES:
                raise StorageError(f"bucket {bucket!r} does not exist at {self._endpoint}") from exc
            raise self._error(exc, "head", bucket, "") from exc

    def download(self, bucket: str, key: str, dest: Path) -> ObjectInfo:
        """Copy the object to ``dest`` (written beside it, then renamed into place) and return
        what it was; ``IntegrityError`` if it changed while being copied."""
        info = self.head(bucket, key)
        if info is None:
            raise StorageError(f"s3://{bucket}/{key} does not exist", hint="check the bucket and key")
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out:
                # IfMatch: an object replaced since the head is refused, never mixed.
                body = self._client.get_object(Bucket=bucket, Key=key, IfMatch=f'"{info.etag}"')["Body"]
                try:
                    shutil.copyfileobj(body, out, _COPY_BYTES)
                finally:
                    body.close()
            if tmp.stat().st_size != info.size:
                raise IntegrityError(f"s3://{bucket}/{key} changed while it was downloaded; retry")
            os.replace(tmp, dest)
        except BOTO_ERRORS as exc:
            if error_code(exc) in ("PreconditionFailed", "412"):
                raise IntegrityError(f"s3://{bucket}/{key} changed while it was downloaded; retry") from exc
            raise self._error(exc, "download", bucket, key) from exc
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        logger.info("downloaded s3://%s/%s (%d bytes)", bucket, key, info.size)
        return info

    def upload(self, source: Path, bucket: str, key: str) -> None:
        """Put the file at ``source`` as ``s3://bucket/key`` (multipart when large: S3 shows the
        object only once every part arrived, so readers never see half of it)."""
        config = TransferConfig(multipart_threshold=64 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024)
        try:
            self._client.upload_file(str(source), bucket, key, Config=config)
        except BOTO_ERRORS as exc:
            raise self._error(exc, "upload", bucket, key) from exc
        logger.info("uploaded s3://%s/%s", bucket, key)
