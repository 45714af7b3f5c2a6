"""The one point every route passes to identify and check its caller.

Keys and roles arrive with the governance issue; until then the default lets everyone in
as anonymous. The HTTP layer calls ``identify`` once per request and ``authorize`` with the
action and resource it is about to perform.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from shipyard.context import ANONYMOUS, Caller


class AccessPolicy(Protocol):
    def identify(self, headers: Mapping[str, str]) -> Caller:
        """Who is calling (raise an error of the ``ShipyardError`` tree to refuse)."""
        ...

    def authorize(self, caller: Caller, action: str, resource: str) -> None:
        """Raise when ``caller`` may not do ``action`` (e.g. ``infer``, ``models.write``) on ``resource``."""
        ...


class OpenAccess:
    """Everyone is anonymous and may do everything (local, single-user default)."""

    def identify(self, headers: Mapping[str, str]) -> Caller:
        return ANONYMOUS

    def authorize(self, caller: Caller, action: str, resource: str) -> None:
        return None
