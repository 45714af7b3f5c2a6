"""Where a batch run reads and writes: a local path or an S3 object (``s3://bucket/key``).

``Files`` puts both behind four calls: ``fingerprint`` (what tells that the input changed),
``exists``, ``fetch`` (a local file to read) and ``deliver`` (a finished local file to its
place). S3 goes through the registry's S3 plumbing (``registry/artifacts/s3_objects``: the
same client settings, ``s3_endpoint_url`` and ``s3_region``, and the same error messages as
the artifact store), opened on first use so that a local run never imports boto3.

An S3 input is downloaded once into the run's staging directory and read there; an S3 output
is assembled there and uploaded when complete (S3 shows an object only once it is whole).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from shipyard.config import Settings
from shipyard.errors import InvalidRequest, StorageError
from shipyard.fs.durable import fsync_dir

if TYPE_CHECKING:
    from shipyard.registry.artifacts.s3_objects import S3Objects


@dataclass(frozen=True)
class Location:
    """A local file (``path``) or an S3 object (``bucket``, ``key``), as the user wrote it (``text``)."""

    text: str
    path: Path | None = None
    bucket: str | None = None
    key: str | None = None

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    @property
    def name(self) -> str:
        """The last component: the file's or the object's name."""
        if self.path is not None:
            return self.path.name
        return PurePosixPath(self.key or "").name

    @property
    def suffix(self) -> str:
        return PurePosixPath(self.name).suffix.lower()

    def sibling(self, name: str) -> Location:
        """The location named ``name`` in the same directory (or under the same key prefix)."""
        if self.path is not None:
            # The text keeps the user's form (a relative path stays relative in messages).
            return Location(str(Path(self.text).with_name(name)), path=self.path.with_name(name))
        key = str(PurePosixPath(self.key or "").with_name(name))
        return Location(f"s3://{self.bucket}/{key}", bucket=self.bucket, key=key)

    def __str__(self) -> str:
        return self.text


def parse_location(text: str) -> Location:
    """A local path or ``s3://bucket/key``; ``InvalidRequest`` for other URLs."""
    if text.startswith("s3://"):
        from shipyard.registry.artifacts.s3_objects import split_s3_url

        bucket, key = split_s3_url(text)
        return Location(text, bucket=bucket, key=key)
    if "://" in text:
        raise InvalidRequest(f"{text[:200]!r}: batch scoring reads and writes local paths and s3://bucket/key only")
    if not text:
        raise InvalidRequest("an empty path")
    return Location(text, path=Path(text).expanduser().absolute())


class Files:
    """Local files and S3 objects, for one run."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._objects: S3Objects | None = None

    @property
    def objects(self) -> S3Objects:
        if self._objects is None:
            from shipyard.registry.artifacts.s3_objects import S3Objects

            self._objects = S3Objects(self._settings.s3_endpoint_url, self._settings.s3_region)
        return self._objects

    def fingerprint(self, location: Location) -> dict[str, Any]:
        """What identifies the input's content cheaply; ``InvalidRequest`` when there is none."""
        if location.path is not None:
            try:
                st = location.path.stat()
            except FileNotFoundError:
                raise InvalidRequest(f"input file not found: {location}", hint="check the path") from None
            except OSError as exc:
                raise InvalidRequest(f"cannot read input {location}: {exc.strerror or exc}") from exc
            if not location.path.is_file():
                raise InvalidRequest(f"input {location} is not a file")
            return {"path": str(location.path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}
        assert location.bucket is not None and location.key is not None
        info = self.objects.head(location.bucket, location.key)
        if info is None:
            raise InvalidRequest(f"input object not found: {location}", hint="check the bucket and key")
        return {"url": location.text, "size": info.size, "etag": info.etag}

    def check_writable(self, location: Location) -> None:
        """Refuse, before any work, a place the results could not be delivered to."""
        if location.path is not None:
            if not location.path.parent.is_dir():
                raise InvalidRequest(f"the directory of {location} does not exist")
            return
        assert location.bucket is not None
        self.objects.check_bucket(location.bucket)

    def exists(self, location: Location) -> bool:
        if location.path is not None:
            return location.path.exists()
        assert location.bucket is not None and location.key is not None
        return self.objects.head(location.bucket, location.key) is not None

    def fetch(self, location: Location, staging: Path, size: int) -> Path:
        """A local file holding the input: the file itself, or the S3 object downloaded into
        ``staging`` (kept there, so a resumed run reads it again without downloading)."""
        if location.path is not None:
            return location.path
        assert location.bucket is not None and location.key is not None
        local = staging / f"input{location.suffix or '.data'}"
        if local.is_file() and local.stat().st_size == size:
            return local
        self.objects.download(location.bucket, location.key, local)
        return local

    def deliver(self, finished: Path, location: Location) -> None:
        """Put the complete file ``finished`` at ``location`` in one step: a rename beside it
        (same filesystem: the staging directory is the output's neighbour), or an upload."""
        if location.path is not None:
            try:
                os.replace(finished, location.path)
                fsync_dir(location.path.parent)
            except OSError as exc:
                raise StorageError(f"cannot write {location}: {exc.strerror or exc}") from exc
            return
        assert location.bucket is not None and location.key is not None
        self.objects.upload(finished, location.bucket, location.key)
