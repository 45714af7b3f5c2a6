"""Who is calling and which request this is: carried from the HTTP edge into the data plane."""

from __future__ import annotations

import itertools
import os
import re
from dataclasses import dataclass, field

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# A random per-process prefix and a counter: unique like a UUID, a fraction of the cost
# on the hot path (ids identify requests; they are not secrets).
_PREFIX = os.urandom(8).hex()
_COUNTER = itertools.count(1)


def request_id_from(header: str | None) -> str:
    """The caller's request id when it is safe to echo and log, else a new one."""
    if header and _REQUEST_ID.match(header):
        return header
    return f"{_PREFIX}{next(_COUNTER):016x}"


@dataclass(frozen=True)
class Caller:
    """An identified caller. Anonymous until keys and roles land (issue: governance)."""

    subject: str = "anonymous"
    roles: frozenset[str] = field(default_factory=frozenset)
    authenticated: bool = False


ANONYMOUS = Caller()
