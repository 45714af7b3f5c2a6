"""What a served version tells its callers besides its answer: deprecation headers, or that
it was retired.

Headers (``docs/lifecycle.md``): ``Deprecation: @<unix seconds>`` (RFC 9745),
``Sunset: <IMF-fixdate>`` (RFC 8594) when a sunset was announced, and
``Link: </v2/models/...>; rel="successor-version"`` when a successor was named.

Each ``ServedVersion`` owns one ``VersionNotice``, built from its record at load and updated
in place by the manager's watcher (``ModelManager.refresh``); a request only reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from email.utils import format_datetime

from shipyard.errors import Gone, ShipyardError
from shipyard.registry.lifecycle import gone
from shipyard.registry.refs import parse_ref
from shipyard.registry.types import ACTIVE, RETIRED, VersionLifecycle

DEPRECATION = "Deprecation"
SUNSET = "Sunset"
LINK = "Link"


def successor_link(successor: str) -> str | None:
    """The ``Link`` header value pointing at ``successor``'s V2 path, or None if it is no reference."""
    try:
        ref = parse_ref(successor)
    except ShipyardError:
        return None
    path = f"/v2/models/{ref.name}" + (f"/versions/{ref.version}" if ref.version is not None else "")
    return f'<{path}>; rel="successor-version"'


def notice_headers(state: VersionLifecycle | None) -> dict[str, str]:
    """The response headers of a version in ``state`` (none for an active one)."""
    if state is None or state.state == ACTIVE or state.deprecated_at is None:
        return {}
    headers = {DEPRECATION: f"@{int(state.deprecated_at.timestamp())}"}
    if state.sunset_at is not None:
        headers[SUNSET] = format_datetime(state.sunset_at, usegmt=True)
    link = successor_link(state.successor) if state.successor else None
    if link is not None:
        headers[LINK] = link
    return headers


@dataclass(slots=True)
class VersionNotice:
    """The lifecycle of one served version as its requests see it."""

    ref: str
    headers: dict[str, str] = field(default_factory=dict)
    """Added to every answer of the version (empty while it is active)."""
    retired: bool = False
    successor: str | None = None

    @classmethod
    def of(cls, state: VersionLifecycle) -> VersionNotice:
        notice = cls(state.ref)
        notice.update(state)
        return notice

    def update(self, state: VersionLifecycle | None) -> None:
        """Take the version's current lifecycle (None: active)."""
        self.headers = notice_headers(state)
        self.successor = state.successor if state is not None else None
        self.retired = state is not None and state.state == RETIRED

    def gone(self) -> Gone:
        """The error a request to this retired version gets (a new one each time)."""
        return gone(self.ref, self.successor)
