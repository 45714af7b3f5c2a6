"""The edge every request passes, before any endpoint runs.

In order: request id; the Host allowlist (421); a key in the query string (401, logged
without the key); CORS preflights (only when ``cors_origins`` is set); cross-site
state-changing requests (403); the route, matched in the route table (``http/routes``);
the caller, identified from ``Authorization: Bearer`` (401 for a bad, revoked or expired
key); the route's scope on the model the path names (401 anonymous, 403 otherwise); the
body limit of the route's body kind (413 from Content-Length before reading, else counted
as it arrives); the media type of management bodies (415); the rate limit (429). Then the
app; every response gets the security headers and the request id, and one access-log line.

A refusal across objects (a key for ``a*`` asking for ``b``) is 403 whether ``b`` exists
or not: the check happens before the endpoint runs and is decided by the name in the path
alone, so it reveals nothing about what exists.

A pure ASGI middleware (no BaseHTTPMiddleware: it would copy every body and cost the hot
path). Everything that can be computed ahead (patterns, header lists) is, at start.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from collections.abc import Callable
from fnmatch import translate
from typing import Protocol
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.config import Settings
from shipyard.context import ANONYMOUS, Caller, request_id_from
from shipyard.errors import (
    CrossSiteRequest,
    Forbidden,
    MalformedRequest,
    MisdirectedRequest,
    PayloadTooLarge,
    ShipyardError,
    Unauthenticated,
    UnsupportedMediaType,
)
from shipyard.governance.scopes import parse_patterns
from shipyard.http.errors import error_response
from shipyard.http.route_spec import OPEN, SMALL_BODY_BYTES, RouteSpec, RouteTable
from shipyard.http.scope_check import check_scope
from shipyard.logs import REQUEST_ID, access_line
from shipyard.monitoring import tracing
from shipyard.monitoring.metrics import ServingMetrics
from shipyard.serving.access import AccessPolicy

logger = logging.getLogger(__name__)

REQUEST_ID_HEADER = b"x-request-id"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
KEY_QUERY_NAMES = frozenset({"api_key", "apikey", "api-key", "key", "token", "access_token", "auth", "authorization"})

MAX_DECISIONS = 10_000
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"referrer-policy", b"no-referrer"),
)
NO_STORE: tuple[tuple[bytes, bytes], ...] = ((b"cache-control", b"no-store"),)
CORS_ALLOW_HEADERS = (
    "authorization, content-type, x-request-id, x-prediction-key, traceparent, inference-header-content-length"
)
CORS_EXPOSE_HEADERS = (
    b"x-request-id, x-shipyard-model-version, inference-header-content-length, retry-after, "
    b"deprecation, sunset, link"  # a deprecated version's notice (serving/notices)
)


class Limiter(Protocol):
    async def check(self, caller: Caller) -> None: ...


class DeniedRecorder(Protocol):
    def denied(
        self, *, actor: str, source: str, action: str, resource: str, reason: str, details: dict[str, str] | None = None
    ) -> None: ...


def decision_seconds(settings: Settings) -> float:
    """How long the edge remembers a key's successful check (see ``key_cache_seconds``)."""
    return min(0.25, settings.key_cache_seconds / 4)


def route_group(path: str) -> str:
    """A bounded label for metrics: the protocol family of a path, never the raw path."""
    if path.startswith("/v2"):
        return "v2"
    if path.startswith("/v1"):
        return "v1"
    if path.endswith("/invocations") or path in ("/ping", "/health", "/version"):
        return "mlflow"
    if path.startswith("/api"):
        return "management"
    if path == "/metrics":
        return "metrics"
    return "other"


def default_allowed_hosts(settings: Settings) -> tuple[str, ...]:
    names = ["localhost", "127.0.0.1", "[::1]"]
    host = settings.host.lower()
    if host not in ("0.0.0.0", "::", ""):  # noqa: S104 (a wildcard bind is not a name)
        names.append(f"[{host}]" if ":" in host and not host.startswith("[") else host)
    return tuple(dict.fromkeys(names))


class HostPolicy:
    """Which ``Host`` header values are answered: an entry without a port matches the name
    on any port, one with a port only that; ``*`` matches anything. The IP address the
    connection arrived on is always accepted (a DNS-rebinding page cannot make a browser
    send an IP literal it did not navigate to)."""

    def __init__(self, entries: tuple[str, ...]) -> None:
        self.any = "*" in entries
        self.names = frozenset(e.lower() for e in entries if not _has_port(e))
        self.exact = frozenset(e.lower() for e in entries if _has_port(e))

    def allows(self, host: str, server: tuple[str, int] | None) -> bool:
        if self.any:
            return True
        host = host.lower()
        if host in self.exact or host in self.names:
            return True
        name, port = _split_host(host)
        if port is not None and server is not None and port != str(server[1]):
            return False
        if name in self.names:
            return True
        return server is not None and _same_ip(name, server[0])


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        table: RouteTable,
        settings: Settings,
        access: AccessPolicy,
        metrics: ServingMetrics,
        default_model: Callable[[], str | None] = lambda: None,
        limiter: Limiter | None = None,
        audit: DeniedRecorder | None = None,
    ) -> None:
        self.app = app
        self.table = table
        self.access = access
        self.metrics = metrics
        self.access_log = settings.access_log
        self.default_model = default_model
        self.limiter = limiter
        self.audit = audit
        self.limits = {
            "inference": settings.max_body_bytes,
            "upload": settings.max_upload_bytes,
            "json": SMALL_BODY_BYTES,
            "none": SMALL_BODY_BYTES,
        }
        open_patterns = parse_patterns(settings.open_inference)
        self.open_inference = (
            re.compile("|".join(f"(?:{translate(p)})" for p in open_patterns)) if open_patterns else None
        )
        self.open_metrics = settings.open_metrics
        hosts = parse_patterns(settings.allowed_hosts) or default_allowed_hosts(settings)
        self.hosts = HostPolicy(hosts)
        self._host_verdicts: dict[tuple[object, ...], bool] = {}
        self.decision_seconds = decision_seconds(settings)
        self._decisions: dict[tuple[bytes | None, str, str, str], tuple[float, Caller]] = {}
        self.cors_origins = frozenset(o.rstrip("/") for o in parse_patterns(settings.cors_origins))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        headers = dict(scope["headers"])  # ASGI servers give header names in lower case
        request_id = request_id_from(_header(headers, REQUEST_ID_HEADER))
        rid = request_id.encode()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        status = 500
        path: str = scope["path"]
        method: str = scope["method"]
        extra = [(REQUEST_ID_HEADER, rid), *SECURITY_HEADERS]
        if path.startswith("/api"):
            extra.extend(NO_STORE)
        origin = headers.get(b"origin")
        if origin is not None and self.cors_origins and origin.decode("latin-1").rstrip("/") in self.cors_origins:
            extra.extend(
                (
                    (b"access-control-allow-origin", origin),
                    (b"access-control-expose-headers", CORS_EXPOSE_HEADERS),
                    (b"vary", b"Origin"),
                )
            )

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        caller = ANONYMOUS
        source = (scope.get("client") or ("", 0))[0]
        request_id_token = REQUEST_ID.set(request_id)
        traced = tracing.start_request(headers, method, path, request_id) if tracing.enabled() else None
        try:
            host = headers.get(b"host")
            if host is not None and not self._host_allowed(host, scope.get("server")):
                raise MisdirectedRequest(
                    "this server does not answer for that Host",
                    hint="add it to the allowed_hosts setting if it is one of this server's names",
                )
            if scope.get("query_string"):
                _refuse_key_in_query(scope["query_string"])
            if method == "OPTIONS" and self.cors_origins and b"access-control-request-method" in headers:
                await self._preflight(path, headers, send_wrapper)
                return
            if method in UNSAFE_METHODS:
                self._check_same_site(headers, host)
            matched = self.table.match(method, path)
            if matched is None:
                # No such route (Starlette answers 404 or 405); no endpoint runs.
                await self.app(scope, _limited(receive, SMALL_BODY_BYTES), send_wrapper)
                return
            spec, params = matched
            scope["path_params"] = params
            state["route"] = spec
            if spec.scope != OPEN:
                caller = await self._check_caller(spec, params, headers.get(b"authorization"), source)
            state["caller"] = caller
            state["authorized"] = True
            limit = self.limits[spec.body]
            length = _content_length(headers)
            if length is not None and length > limit:
                raise PayloadTooLarge(
                    f"request body of {length} bytes is over the limit of {limit} bytes",
                    hint="send fewer rows per request, or raise max_body_bytes",
                )
            content_type = headers.get(b"content-type")
            # A POST with no body at all (``curl -X POST .../pause``) needs no Content-Type.
            if spec.enforce_media_type and not (length == 0 and content_type is None):
                _check_media_type(spec, content_type)
            if self.limiter is not None and spec.scope != OPEN:
                await self.limiter.check(caller)
            await self.app(scope, _limited(receive, limit), send_wrapper)
        except ShipyardError as exc:
            # Raised here, before the app ran (or from the app's receive): render it ourselves.
            if isinstance(exc, Unauthenticated | Forbidden) and not isinstance(exc, MisdirectedRequest):
                self._denied(exc, caller, source, method, path)
            await error_response(exc)(scope, receive, send_wrapper)
        finally:
            self.metrics.observe_http(route_group(path), status)
            if self.access_log:
                shown = path[:200]
                access_line(
                    f"{method} {shown} {status}",
                    {
                        "request_id": request_id,
                        "method": method,
                        "path": shown,
                        "status": status,
                        "duration_ms": round((time.perf_counter() - t0) * 1000, 3),
                        "client": source,
                        "caller": caller.subject,
                        **state.get("log_fields", {}),
                    },
                )
            if traced is not None:
                route = state.get("route")
                traced.end(status, route.path if route is not None else None)
            REQUEST_ID.reset(request_id_token)

    async def _check_caller(
        self, spec: RouteSpec, params: dict[str, str], authorization: bytes | None, source: str
    ) -> Caller:
        """Identify the caller and check the route's scope. A key's successful checks are
        remembered for ``decision_seconds`` (a fraction of ``key_cache_seconds``; KeyAccess
        keeps records for the rest, so a revocation still takes effect within
        ``key_cache_seconds``), so the hot path costs one dictionary lookup."""
        cacheable = authorization is not None and (spec.model_param is not None or spec.target != "model")
        if cacheable:
            key = (authorization, source, spec.operation_id, params.get(spec.model_param or "", ""))
            hit = self._decisions.get(key)
            if hit is not None and hit[0] > time.monotonic():
                return hit[1]
        caller = await self.access.identify(
            authorization.decode("latin-1") if authorization is not None else None, source=source
        )
        self._authorize(spec, params, caller)
        if cacheable and self.decision_seconds > 0:
            if len(self._decisions) >= MAX_DECISIONS:
                self._decisions.clear()
            self._decisions[key] = (time.monotonic() + self.decision_seconds, caller)
        return caller

    def _host_allowed(self, host: bytes, server: tuple[str, int] | None) -> bool:
        key = (host, *server) if server else (host,)
        verdict = self._host_verdicts.get(key)
        if verdict is None:
            verdict = self.hosts.allows(host.decode("latin-1"), (server[0], server[1]) if server else None)
            if len(self._host_verdicts) >= 1024:
                self._host_verdicts.clear()
            self._host_verdicts[key] = verdict
        return verdict

    def _authorize(self, spec: RouteSpec, params: dict[str, str], caller: Caller) -> None:
        model: str | None = None
        if spec.target == "model":
            model = params[spec.model_param] if spec.model_param is not None else self.default_model()
        check_scope(
            caller,
            spec.scope,
            model=model,
            target=spec.target,
            open_inference=self.open_inference if spec.open_inference else None,
            open_metrics=self.open_metrics,
        )

    def _check_same_site(self, headers: dict[bytes, bytes], host: bytes | None) -> None:
        origin = headers.get(b"origin")
        if origin is not None:
            text = origin.decode("latin-1").rstrip("/")
            if text not in self.cors_origins and not _same_origin(text, host):
                raise CrossSiteRequest(
                    "cross-site requests may not change anything here",
                    hint="call the API from a client, not a web page (or list the origin in cors_origins)",
                )
            if text in self.cors_origins:
                return
        if headers.get(b"sec-fetch-site") == b"cross-site":
            raise CrossSiteRequest(
                "cross-site requests may not change anything here",
                hint="call the API from a client, not a web page (or list the origin in cors_origins)",
            )

    async def _preflight(self, path: str, headers: dict[bytes, bytes], send: Send) -> None:
        origin = headers[b"origin"].decode("latin-1").rstrip("/") if b"origin" in headers else ""
        wanted = headers[b"access-control-request-method"].decode("latin-1").upper()
        methods = self.table.methods_for(path)
        if "GET" in methods:
            methods.append("HEAD")
        if origin not in self.cors_origins or wanted not in methods:
            raise CrossSiteRequest("this origin or method is not allowed here")
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-methods", ", ".join(methods).encode()),
                    (b"access-control-allow-headers", CORS_ALLOW_HEADERS.encode()),
                    (b"access-control-max-age", b"600"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    def _denied(self, exc: ShipyardError, caller: Caller, source: str, method: str, path: str) -> None:
        if self.audit is None:
            return
        try:
            self.audit.denied(
                actor=caller.subject,
                source=source or "unknown",
                action="auth.denied" if isinstance(exc, Unauthenticated) else "access.denied",
                resource=f"{method} {path[:200]}",
                reason=exc.code,
                details={"message": exc.message[:200]},
            )
        except Exception:  # the audit trail must never fail a request
            logger.exception("could not record an access denial")


def _refuse_key_in_query(query: bytes) -> None:
    text = query.decode("latin-1")
    if "shp_" not in text and "=" not in text:
        return
    for name, value in parse_qsl(text, keep_blank_values=True):
        if name.lower() in KEY_QUERY_NAMES or value.startswith("shp_") or "shp_" in name:
            logger.warning("refused a request with an API key in its query string (parameter %r)", name[:40])
            raise Unauthenticated(
                "API keys are accepted only in the Authorization header, never in the URL",
                hint="send 'Authorization: Bearer <key>'; a key that was in a URL may be logged somewhere: revoke it",
            )


def _check_media_type(spec: RouteSpec, raw: bytes | None) -> None:
    kind = raw.decode("latin-1").split(";", 1)[0].strip().lower() if raw is not None else ""
    if kind not in spec.request:
        raise UnsupportedMediaType(
            f"this route takes {' or '.join(spec.media_types)}, not {kind[:60] or 'no Content-Type'!r}"
        )


def _same_origin(origin: str, host: bytes | None) -> bool:
    if host is None:
        return False
    scheme, sep, rest = origin.partition("://")
    return bool(sep) and scheme in ("http", "https") and rest.lower() == host.decode("latin-1").lower()


def _has_port(entry: str) -> bool:
    return _split_host(entry)[1] is not None


def _split_host(host: str) -> tuple[str, str | None]:
    if host.startswith("["):
        end = host.find("]")
        if end == -1:
            return host, None
        rest = host[end + 1 :]
        return host[: end + 1], rest[1:] if rest.startswith(":") else None
    name, sep, port = host.rpartition(":")
    if not sep or ":" in name:
        return host, None
    return name, port


def _same_ip(name: str, server_host: str) -> bool:
    try:
        return ipaddress.ip_address(name.strip("[]")) == ipaddress.ip_address(server_host)
    except ValueError:
        return False


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value is not None else None


def _content_length(headers: dict[bytes, bytes]) -> int | None:
    raw = headers.get(b"content-length")
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise MalformedRequest("Content-Length is not a number")
    return int(raw)


def _limited(receive: Receive, limit: int) -> Receive:
    received = 0

    async def wrapped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise PayloadTooLarge(
                    f"request body is over the limit of {limit} bytes",
                    hint="send fewer rows per request, or raise max_body_bytes",
                )
        return message

    return wrapped
