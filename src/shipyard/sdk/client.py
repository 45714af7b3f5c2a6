"""The HTTP client for a running Shipyard server: inference (V2) and the management API.

Errors are translated here, at the boundary: an error body ``{"error", "code"}`` becomes a
``RemoteError`` carrying the server's code and status; a connection that cannot be made
becomes ``Unavailable`` with the URL in the hint. httpx exceptions never leak.

The API key (``api_key=``, else ``$SHIPYARD_API_KEY``) is sent only as
``Authorization: Bearer <key>``, never in a URL. It is kept out of ``repr``, of every message
this module raises (a server message that echoes it is redacted) and of httpx's own
``repr``s: it lives in an ``httpx.Auth`` that shows ``***``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Generator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np

from shipyard.errors import IntegrityError, InvalidRequest, RemoteError, Unavailable
from shipyard.protocol.v2 import HEADER_LENGTH, decode_infer_response
from shipyard.registry.refs import check_alias, check_model_name, parse_version
from shipyard.sdk.card_client import CardCalls
from shipyard.sdk.governance_client import GovernanceCalls
from shipyard.sdk.payloads import split_table, v2_request
from shipyard.sdk.runtime_notice import notice

VERSION_HEADER = "x-shipyard-model-version"
SHA256_HEADER = "x-shipyard-sha256"
API_KEY_ENV = "SHIPYARD_API_KEY"
# Visible ASCII only: anything else could not travel in a header (and httpx would quote it
# back in its error message).
_TOKEN = re.compile(r"^[\x21-\x7e]{1,1024}$")

HINT_NO_KEY = f"set {API_KEY_ENV} or pass api_key=; create one with `shipyard keys create`"
HINT_BAD_KEY = (
    f"the API key was refused (unknown, revoked or expired): check {API_KEY_ENV} or api_key=, "
    "or create a new one with `shipyard keys create`"
)
HINT_FORBIDDEN = (
    "the API key does not allow this (its role or model patterns): use a key with the needed role, "
    "created with `shipyard keys create NAME --role ROLE [--models PATTERN]`"
)


def resolve_api_key(api_key: str | None) -> str | None:
    """``api_key`` if given, else ``$SHIPYARD_API_KEY``; None when neither is set.
    Surrounding whitespace (a trailing newline from a file) is dropped."""
    if api_key is None:
        api_key = os.environ.get(API_KEY_ENV)
    if api_key is None or not api_key.strip():
        return None
    token = api_key.strip()
    if not _TOKEN.match(token):
        raise InvalidRequest(
            "the API key has characters an API key cannot have (spaces, control or non-ASCII characters)",
            hint=f"check {API_KEY_ENV} or api_key=: a key looks like shp_<id>_<secret>",
        )
    return token


class _BearerAuth(httpx.Auth):
    """``Authorization: Bearer <key>`` on every request; its repr never shows the key."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request

    def __repr__(self) -> str:
        return "<Bearer ***>"


class Client(GovernanceCalls, CardCalls):
    """A Shipyard server at ``url``; use as a context manager, or call ``close``.

    ``api_key`` defaults to ``$SHIPYARD_API_KEY``; without either, requests go anonymously
    (enough for health, and for inference the server opens with ``open_inference``).
    """

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        token = resolve_api_key(api_key)
        self._secret = token
        self.authenticated = token is not None
        """Whether requests carry a key (the key itself is never exposed)."""
        self._http = httpx.Client(
            base_url=self.url,
            timeout=timeout,
            headers=dict(headers or {}),
            auth=_BearerAuth(token) if token is not None else None,
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"Client({self.url!r}, api_key={'***' if self.authenticated else None})"

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
        trusted_types, trust_code, parent_version, tier, pii). Returns the new version as JSON,
        with ``runtime_statement``: which runtime serves it and why; warns (``CompileNotice``)
        when the native runtime serves because the compiled form was refused."""
        check_model_name(name)
        source = Path(path)
        files: dict[str, tuple[str, Any, str]] = {}
        with source.open("rb") as artifact:
            files["artifact"] = (source.name, artifact, "application/octet-stream")
            if sample is not None:
                files["sample"] = ("sample.json", json.dumps(split_table(sample)).encode(), "application/json")
            if options:
                files["metadata"] = ("metadata.json", json.dumps(options).encode(), "application/json")
            version = self._json("POST", f"/api/models/{name}/versions", files=files)
        version["runtime_statement"] = notice(version)
        return version

    def set_alias(self, name: str, alias: str, version: int) -> dict[str, Any]:
        path = f"/api/models/{check_model_name(name)}/aliases/{check_alias(alias)}"
        return self._json("PUT", path, json={"version": parse_version(version)})

    def delete_alias(self, name: str, alias: str) -> None:
        self._send("DELETE", f"/api/models/{check_model_name(name)}/aliases/{check_alias(alias)}")

    # -- lifecycle (docs/lifecycle.md): each returns the version's record -------------------
    def deprecate(
        self, name: str, version: int, *, sunset_at: str | None = None, successor: str | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Deprecate ``name/version``; ``sunset_at`` is a date (``2027-03-01``) or ISO 8601 time."""
        body = {"sunset_at": sunset_at, "successor": successor, "reason": reason}
        return self._lifecycle(name, version, "deprecate", body)

    def retire(
        self, name: str, version: int, *, successor: str | None = None, archive: bool = False,
        reason: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        body = {"successor": successor, "archive": archive, "reason": reason}
        return self._lifecycle(name, version, "retire", body)

    def reinstate(self, name: str, version: int, *, reason: str | None = None) -> dict[str, Any]:
        return self._lifecycle(name, version, "reinstate", {"reason": reason})

    def archive(self, name: str, version: int, *, reason: str | None = None) -> dict[str, Any]:
        return self._lifecycle(name, version, "archive", {"reason": reason})

    def restore(self, name: str, version: int, *, reason: str | None = None) -> dict[str, Any]:
        return self._lifecycle(name, version, "restore", {"reason": reason})

    def _lifecycle(self, name: str, version: int, action: str, body: dict[str, Any]) -> dict[str, Any]:
        path = f"/api/models/{check_model_name(name)}/versions/{parse_version(version)}/{action}"
        return self._json("POST", path, json={k: v for k, v in body.items() if v is not None})

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
                    raise self._remote_error(response)
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

    # -- feedback (docs/monitoring.md) ----------------------------------------------------
    def feedback(
        self,
        request_id: str | None = None,
        *,
        key: str | None = None,
        row: int | None = None,
        label: str | int | float | bool | None = None,
        value: float | None = None,
        outcomes: Mapping[str, float] | None = None,
        attributes: Mapping[str, str | int | float | bool] | None = None,
    ) -> dict[str, Any]:
        """Record ground truth (``label`` or ``value``), business ``outcomes`` and sensitive
        ``attributes`` for a logged prediction, named by ``request_id`` (its X-Request-Id) or
        by ``key`` (the X-Prediction-Key this caller sent with it). Returns what the row has
        now and ``created`` (False: all of it was recorded already)."""
        item: dict[str, Any] = {"request_id": request_id, "key": key, "row": row, "label": label, "value": value}
        item = {k: v for k, v in item.items() if v is not None}
        if outcomes:
            item["outcomes"] = dict(outcomes)
        if attributes:
            item["attributes"] = dict(attributes)
        return self._json("POST", "/feedback", json=item)

    def feedback_batch(self, items: list[Mapping[str, Any]]) -> dict[str, Any]:
        """Up to 1000 feedback items (the bodies ``feedback`` sends) at once; each item's
        status is in ``results``."""
        return self._json("POST", "/feedback", json={"items": [dict(i) for i in items]})

    def get_feedback(self, request_id: str) -> dict[str, Any]:
        """The feedback recorded for ``request_id``, by row."""
        return self._json("GET", f"/feedback/{quote(request_id, safe='')}")

    # -- human review (docs/governance.md) ------------------------------------------------
    def list_reviews(
        self, *, status: str | None = "open", target: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """The review queue, oldest first (``status``: open, pending, claimed, decided,
        expired, or None for all); needs ``reviews.write``."""
        params: dict[str, Any] = {"limit": limit}
        if status is not None:
            params["status"] = status
        if target is not None:
            params["target"] = target
        tickets = self._json("GET", "/reviews", params=params).get("tickets", [])
        return list(tickets) if isinstance(tickets, list) else []

    def get_review(self, ticket: str) -> dict[str, Any]:
        """A held prediction's ticket: its status and, once decided or expired, ``outputs``
        and ``decision`` (the caller that made the request may poll it with ``infer``)."""
        return self._json("GET", f"/reviews/{quote(ticket, safe='')}")

    def wait_for_review(self, ticket: str, *, timeout: float = 3600.0, poll: float = 2.0) -> dict[str, Any]:
        """Poll ``ticket`` until it is decided or expired (or ``timeout`` seconds pass: then
        the last answer, still pending or claimed)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.get_review(ticket)
            if found.get("status") in ("decided", "expired") or time.monotonic() >= deadline:
                return found
            time.sleep(max(0.05, min(poll, deadline - time.monotonic())))

    def claim_review(self, ticket: str) -> dict[str, Any]:
        """Claim a pending ticket (409 if another reviewer has it)."""
        return self._json("POST", f"/reviews/{quote(ticket, safe='')}/claim")

    def decide_review(
        self,
        ticket: str,
        action: str = "approve",
        *,
        outputs: Mapping[str, list[Any]] | None = None,
        comment: str | None = None,
    ) -> dict[str, Any]:
        """``approve`` the proposed answer, or ``override`` it with ``outputs``
        (``{"predict": [one value per row]}``)."""
        body: dict[str, Any] = {"action": action}
        if outputs is not None:
            body["outputs"] = {k: list(v) for k, v in outputs.items()}
        if comment is not None:
            body["comment"] = comment
        return self._json("POST", f"/reviews/{quote(ticket, safe='')}/decision", json=body)

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
            raise self._remote_error(response)
        return response

    def _remote_error(self, response: httpx.Response) -> RemoteError:
        error = _remote_error(response)
        if error.status == 401:
            error.hint = HINT_BAD_KEY if self.authenticated else HINT_NO_KEY
        elif error.status == 403 and error.remote_code == "forbidden":
            error.hint = HINT_FORBIDDEN
        if self._secret is not None and self._secret in error.message:
            # A server must never echo a key; should one do so, it stops here.
            error.message = error.message.replace(self._secret, "***")
            error.args = (error.message,)
        return error

    def _unreachable(self, exc: httpx.HTTPError) -> Unavailable:
        what = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
        detail = str(exc)
        if self._secret is not None:
            detail = detail.replace(self._secret, "***")
        return Unavailable(
            f"request to {self.url} {what}: {detail}"[:300],
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
