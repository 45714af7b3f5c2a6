"""Open the artifact store a settings URL names: ``file:///...`` or ``s3://bucket/prefix``."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

from shipyard.config import Settings
from shipyard.errors import ConfigError, PathEscape
from shipyard.registry.artifacts.base import ArtifactStore
from shipyard.registry.artifacts.local import LocalArtifactStore

logger = logging.getLogger(__name__)


def open_artifact_store(settings: Settings) -> ArtifactStore:
    """The store for ``settings.resolved_artifacts_url``; ``ConfigError`` for any other scheme."""
    url = settings.resolved_artifacts_url
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError(
                f"artifacts_url {url!r} names a remote host",
                hint="use file:///absolute/path (three slashes) for a local directory",
            )
        path = Path(url2pathname(parts.path))
        if not parts.path or not path.is_absolute():
            raise ConfigError(f"artifacts_url {url!r} must name an absolute path", hint="use file:///absolute/path")
        return LocalArtifactStore(path)
    if parts.scheme == "s3":
        bucket = parts.netloc
        if not bucket or "@" in bucket or parts.query or parts.fragment:
            raise ConfigError(f"artifacts_url {url!r} is not s3://bucket/prefix")
        # Imported here so that only deployments that use S3 pay for importing boto3.
        from shipyard.registry.artifacts.s3 import S3ArtifactStore

        try:
            return S3ArtifactStore(
                bucket,
                unquote(parts.path).strip("/"),
                cache_dir=settings.cache_dir,
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
                archive_storage_class=settings.s3_archive_storage_class,
            )
        except PathEscape as exc:
            raise ConfigError(f"artifacts_url {url!r} has an unsafe prefix: {exc.message}") from exc
    raise ConfigError(
        f"artifacts_url {url!r} has an unsupported scheme {parts.scheme!r}",
        hint="use file:///path or s3://bucket/prefix",
    )
