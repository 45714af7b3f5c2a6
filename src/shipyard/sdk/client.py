"""The HTTP client for a running Shipyard server: inference (V2) and the management API.

Errors are translated here, at the boundary: an error body ``{"error", "code"}`` becomes a
``RemoteError`` carrying the server's code and status; a connection that cannot be made
becomes ``Unavailable`` with the URL in the hint. httpx exceptions never leak.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import numpy as np

from shipyard.errors import IntegrityError, RemoteError, Unavailable
from shipyard.protocol.v2 import HEADER_LENGTH, decode_infer_response
from shipyard.registry.refs import check_alias, check_model_name, parse_version
from shipyard.sdk.payloads import split_table, v2_request

VERSION_HEADER = "x-shipyard-model-version"
SHA256_HEADER = "x-shipyard-sha256"


class Client:
    """A Shipyard server at ``url``; use as a context manager, or call ``close``."""

    def __init__(self, url: str, *, timeout: float = 30.0, headers: Mapping[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout, headers=dict(headers or {}))

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- inference ----------------------------------------------------------------------
    def predict(
        self, model: str, data: Any, *, version: int | None = None, protocol: str = "v2"
    ) -> dict[str, np.ndarray]:
        """Every output for ``data`` (DataFrame, 2-D array or dict of columns), by name."""
        if protocol != "v2":
            raise ValueError(f"unsupported protocol {protocol!r}: the client speaks 'v2'")
        check_model_name(model)
        path = f"/v2/models/{model}"
        if version is not None:
            path += f"/versions/{parse_version(version)}"
        response = self._send("POST", f"{path}/infer", json=v2_request(data))
        length = response.headers.get(HEADER_LENGTH)
        decoded = decode_infer_response(response.content, header_length=int(length) if length else None)
        return dict(decoded.outputs)

    def ready(self) -> bool:
        """True when the server answers ready (every model loaded, not draining)."""
        try:
            response = self._http.get("/v2/health/ready")
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    # -- management ---------------------------------------------------------------------
    def models(self) -> list[dict[str, Any]]:
        body = self._json("GET", "/api/models")
        models: list[dict[str, Any]] = body["models"]
        return models

    def model(self, name: str) -> dict[str, Any]:
        return self._json("GET", f"/api/models/{check_model_name(name)}")

    def version(self, name: str, version: int) -> dict[str, Any]:
        return self._json("GET", f"/api/models/{check_model_name(name)}/versions/{parse_version(version)}")

    def register(self, name: str, path: str | Path, *, sample: Any = None, **options: Any) -> dict[str, Any]:
        """Upload the file at ``path`` as the next version of ``name``; ``options`` are the
        registration metadata (flavor, description, metrics, params, tags, trust_pickle,
        trusted_types, trust_code, parent_version). Returns the new version as JSON."""
        check_model_name(name)
        source = Path(path)
        files: dict[str, tuple[str, Any, str]] = {}
        with source.open("rb") as artifact:
            files["artifact"] = (source.name, artifact, "application/octet-stream")
            if sample is not None:
                files["sample"] = ("sample.json", json.dumps(split_table(sample)).encode(), "application/json")
            if options:
                files["metadata"] = ("metadata.json", json.dumps(options).encode(), "application/json")
            return self._json("POST", f"/api/models/{name}/versions", files=files)

    def set_alias(self, name: str, alias: str, version: int) -> dict[str, Any]:
        path = f"/api/models/{check_model_name(name)}/aliases/{check_alias(alias)}"
        return self._json("PUT", path, json={"version": parse_version(version)})

    def delete_alias(self, name: str, alias: str) -> None:
        self._send("DELETE", f"/api/models/{check_model_name(name)}/aliases/{check_alias(alias)}")

    def download(self, name: str, version: int, dest: str | Path) -> Path:
        """Save the version's artifact to ``dest`` (a file, or a directory to put it in),
        checking the bytes against the digest the server announces."""
        path = f"/api/models/{check_model_name(name)}/versions/{parse_version(version)}/artifact"
        target = Path(dest)
        digest = hashlib.sha256()
        try:
            with self._http.stream("GET", path) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _remote_error(response)
                if target.is_dir():
                    target = target / _download_name(response, name, version)
                partial = target.with_name(target.name + ".partial")
                with partial.open("wb") as out:
                    for chunk in response.iter_bytes():
                        digest.update(chunk)
                        out.write(chunk)
                expected = response.headers.get(SHA256_HEADER)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if expected and digest.hexdigest() != expected:
            partial.unlink(missing_ok=True)
            raise IntegrityError(
                f"downloaded {name}/{version} has sha256 {digest.hexdigest()}, the server announced {expected}",
                hint="download it again",
            )
        partial.replace(target)
        return target

    # -- plumbing -----------------------------------------------------------------------
    def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._send(method, path, **kwargs)
        try:
            body = response.json()
        except ValueError as exc:
            raise RemoteError(
                f"{method} {path}: the server's answer is not JSON", code="malformed_response", status=0
            ) from exc
        if not isinstance(body, dict):
            raise RemoteError(f"{method} {path}: expected a JSON object", code="malformed_response", status=0)
        return body

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            raise _remote_error(response)
        return response

    def _unreachable(self, exc: httpx.HTTPError) -> Unavailable:
        what = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        return Unavailable(
            f"request to {self.url} {what}: {exc}"[:300],
            hint=f"check the URL ({self.url}) and that `shipyard serve` is running there",
        )


def _remote_error(response: httpx.Response) -> RemoteError:
    status = response.status_code
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        hint = body.get("hint")
        return RemoteError(
            body["error"],
            code=str(body.get("code") or "http_error"),
            status=status,
            hint=hint if isinstance(hint, str) else None,
        )
    text = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
    return RemoteError(f"HTTP {status}: {text}", code="http_error", status=status)


def _download_name(response: httpx.Response, name: str, version: int) -> str:
    # The server's file name is advisory; only its last component is ever used here.
    disposition = response.headers.get("content-disposition", "")
    for part in disposition.split(";"):
        key, _, value = part.strip().partition("=")
        if key == "filename" and value.strip('"'):
            candidate = Path(value.strip('"')).name
            if candidate not in ("", ".", ".."):
                return candidate
    return f"{name}-{version}.bin"


__all__ = ["VERSION_HEADER", "Client"]
