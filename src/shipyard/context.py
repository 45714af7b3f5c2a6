"""Who is calling and which request this is: carried from the HTTP edge into the data plane."""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass

from shipyard.governance.scopes import Grant, allows, allows_some

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# A random per-process prefix and a counter: unique like a UUID, a fraction of the cost
# on the hot path (ids identify requests; they are not secrets).
_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count(1)


def request_id_from(header: str | None) -> str:
    """The caller's request id when it is safe to echo and log, else a new one."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return f"{_PREFIX}{next(_COUNTER):016x}"


@dataclass(frozen=True)
class Caller:
    """Who is calling: an API key (``subject`` is its public id ``key:<id>``), a local OS user
    (``user:<name>``, for CLI and SDK work on the registry) or anonymous (no grants at all)."""

    subject: str = "anonymous"
    grants: tuple[Grant, ...] = ()
    authenticated: bool = False
    key_id: str | None = None
    key_name: str | None = None
    source: str = ""
    """Where the call came from: the client address, or ``local``."""

    def allows(self, scope: str, model: str | None = None) -> bool:
        return allows(self.grants, scope, model)

    def allows_some(self, scope: str) -> bool:
        return allows_some(self.grants, scope)

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(g.role for g in self.grants)


ANONYMOUS = Caller()
