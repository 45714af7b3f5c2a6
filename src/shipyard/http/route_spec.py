"""What a route declares: ``RouteSpec`` (path, method, endpoint, scope, target, body, OpenAPI
entry) and ``RouteTable``, which matches requests to specs in Starlette's order and builds the
Starlette routes. The declarations themselves are in ``http/routes``.

A route cannot exist without a scope: ``RouteSpec`` refuses an unknown one.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shipyard.governance import scopes as sc
from shipyard.http.schemas import Schema, ref

Endpoint = Callable[[Request], Awaitable[Response]]

OPEN = "open"
"""The scope of routes anyone may call: health only."""

Target = Literal["model", "some", "server", "none"]
"""What the scope is checked on: ``model``, the model named by ``model_param`` (or the first
served model when the path names none); ``some``, at least one model (list routes, which
then show only what the caller may read); ``server``, every model (a grant over ``*``);
``none`` for open routes."""

BodyKind = Literal["none", "inference", "upload", "json"]
"""``inference``: up to ``max_body_bytes``; ``upload``: up to ``max_upload_bytes``;
``json`` (management JSON) and ``none``: up to ``SMALL_BODY_BYTES``."""

SMALL_BODY_BYTES = 64 * 1024

JSON = "application/json"
OCTETS = "application/octet-stream"
MULTIPART = "multipart/form-data"

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Reply:
    """One documented response: status, what it means, and its body by media type."""

    status: str
    description: str
    content: dict[str, Schema] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteSpec:
    method: str
    path: str
    endpoint: Endpoint = field(repr=False)
    scope: str
    target: Target
    operation_id: str
    summary: str
    tag: str
    model_param: str | None = None
    body: BodyKind = "none"
    request: dict[str, Schema] = field(default_factory=dict)
    """The request body's schema by accepted media type (empty: no body)."""
    replies: tuple[Reply, ...] = ()
    query: dict[str, Schema] = field(default_factory=dict)
    """Documented query parameters (all optional)."""
    open_inference: bool = False
    """Anonymous callers may use it on models matching ``settings.open_inference``."""
    fast: bool = False
    """An inference POST: the fast lane hands it straight to its endpoint."""
    enforce_media_type: bool = False
    """Refuse (415) at the edge a Content-Type not in ``request`` (management routes; the
    inference codecs check their own, with their own lenience for careless clients)."""

    def __post_init__(self) -> None:
        if self.scope != OPEN and self.scope not in sc.SCOPES:
            raise ValueError(f"{self.method} {self.path}: unknown scope {self.scope!r}")
        if (self.scope == OPEN) != (self.target == "none"):
            raise ValueError(f"{self.method} {self.path}: open routes, and only they, have target 'none'")
        if self.model_param is not None and f"{{{self.model_param}}}" not in self.path:
            raise ValueError(f"{self.method} {self.path}: no path parameter {self.model_param!r}")
        if (self.body == "none") != (not self.request):
            raise ValueError(f"{self.method} {self.path}: a body kind needs request media types and back")

    @property
    def media_types(self) -> tuple[str, ...]:
        return tuple(self.request)

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(_PARAM.findall(self.path))

    def regex(self) -> re.Pattern[str]:
        """The path as Starlette matches it: each ``{param}`` is one non-empty segment part."""
        parts = []
        last = 0
        for match in _PARAM.finditer(self.path):
            parts.append(re.escape(self.path[last : match.start()]))
            parts.append(f"(?P<{match.group(1)}>[^/]+)")
            last = match.end()
        parts.append(re.escape(self.path[last:]))
        return re.compile("^" + "".join(parts) + "$")


class RouteTable:
    """The table, indexed for the edge: ``match(method, path)`` in the order Starlette
    would (static paths by dictionary, templated ones by one compiled pattern each)."""

    def __init__(self, routes: Sequence[RouteSpec]) -> None:
        self.routes = tuple(routes)
        seen: set[tuple[str, str]] = set()
        for spec in self.routes:
            if (spec.method, spec.path) in seen:
                raise ValueError(f"{spec.method} {spec.path} is declared twice")
            seen.add((spec.method, spec.path))
        self._static: dict[tuple[str, str], RouteSpec] = {}
        self._dynamic: dict[str, list[tuple[re.Pattern[str], RouteSpec]]] = {}
        self._patterns: list[tuple[re.Pattern[str], RouteSpec]] = []
        for spec in self.routes:
            pattern = spec.regex()
            self._patterns.append((pattern, spec))
            if spec.params:
                self._dynamic.setdefault(spec.method, []).append((pattern, spec))
            else:
                # A static path must not be shadowed by an earlier templated route, or the
                # dictionary lookup would disagree with Starlette's in-order matching.
                for earlier_pattern, earlier in self._patterns[:-1]:
                    if earlier.method == spec.method and earlier.params and earlier_pattern.match(spec.path):
                        raise ValueError(f"{spec.method} {spec.path} is shadowed by {earlier.path}")
                self._static[(spec.method, spec.path)] = spec

    def match(self, method: str, path: str) -> tuple[RouteSpec, dict[str, str]] | None:
        """The route answering ``method path`` and its path parameters, or None (Starlette
        then answers 404 or 405)."""
        if method == "HEAD":
            method = "GET"
        spec = self._static.get((method, path))
        if spec is not None:
            return spec, {}
        for pattern, spec in self._dynamic.get(method, ()):
            found = pattern.match(path)
            if found is not None:
                return spec, found.groupdict()
        return None

    def methods_for(self, path: str) -> list[str]:
        """Every method some route answers at ``path`` (for CORS preflights)."""
        return sorted({spec.method for pattern, spec in self._patterns if pattern.match(path)})

    def starlette_routes(self) -> list[Route]:
        return [Route(spec.path, spec.endpoint, methods=[spec.method], name=spec.operation_id) for spec in self.routes]


def ok(schema: str, status: str = "200", description: str = "OK") -> Reply:
    """A success reply whose JSON body is ``components/schemas/SCHEMA``."""
    return Reply(status, description, {JSON: ref(schema)})
