"""The model card calls of ``sdk.Client`` (docs/governance.md): a version's card as JSON,
Markdown or HTML, editing its narrative fields (``cards.write``), its revisions, and the one
view of a version's governance."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from shipyard.errors import InvalidRequest
from shipyard.registry.refs import check_model_name, parse_version

CARD_FORMATS = ("json", "md", "html")


class CardCalls:
    """Mixed into ``Client``; every call goes through its ``_json`` / ``_send``."""

    if TYPE_CHECKING:  # provided by ``Client``; declared here for the type checker only

        def _json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]: ...

        def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response: ...

    def card(self, name: str, version: int, *, revision: int | None = None) -> dict[str, Any]:
        """The model card of ``name/version`` (with an earlier narrative ``revision``)."""
        return self._json("GET", _path(name, version, "card"), params=_revision(revision))

    def card_text(self, name: str, version: int, *, format: str = "md", revision: int | None = None) -> str:
        """The card rendered as ``md``, ``html`` or ``json`` text."""
        if format not in CARD_FORMATS:
            raise InvalidRequest(f"format must be one of {', '.join(CARD_FORMATS)}")
        params = {"format": format, **_revision(revision)}
        return self._send("GET", _path(name, version, "card"), params=params).text

    def edit_card(
        self, name: str, version: int, fields: Mapping[str, str], *, reason: str | None = None
    ) -> dict[str, Any]:
        """Set narrative fields (an empty string clears one): ``{"revision": ..., "card":
        {complete, missing, ...}}``; needs ``cards.write``."""
        body: dict[str, Any] = {"fields": dict(fields)}
        if reason is not None:
            body["reason"] = reason
        return self._json("PUT", _path(name, version, "card"), json=body)

    def card_history(self, name: str, version: int) -> list[dict[str, Any]]:
        """Every revision of the card, oldest first."""
        revisions: list[dict[str, Any]] = self._json("GET", _path(name, version, "card/history"))["revisions"]
        return revisions

    def version_governance(self, name: str, version: int, *, purpose: str | None = None) -> dict[str, Any]:
        """The one view: tier, approvals and what the gate misses, card status, review rules,
        PII fields, aliases and deployments."""
        params = {"purpose": purpose} if purpose is not None else {}
        return self._json("GET", _path(name, version, "governance"), params=params)


def _path(name: str, version: int, tail: str) -> str:
    return f"/api/models/{check_model_name(name)}/versions/{parse_version(version)}/{tail}"


def _revision(revision: int | None) -> dict[str, Any]:
    return {} if revision is None else {"revision": parse_version(revision)}
