"""The gRPC edge: who is calling, whether they may, and whether their quota allows it.

The same rules as the HTTP edge (``http/middleware``), through the same pieces: the key
checker (``AccessPolicy.identify`` on the ``authorization`` metadata, ``Bearer shp_...``), the
scope check (``http.state.check_scope``, with ``open_inference`` for the calls HTTP opens to
anonymous callers on matching models), the rate limiter, and the audit trail's record of
every refusal. A key's successful check is remembered for ``decision_seconds``, as at the
HTTP edge, so a busy client costs one dictionary lookup per call.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import translate

from shipyard.config import Settings
from shipyard.context import ANONYMOUS, Caller
from shipyard.errors import Forbidden, ShipyardError, Unauthenticated
from shipyard.governance.scopes import parse_patterns
from shipyard.http.middleware import DeniedRecorder, Limiter, decision_seconds
from shipyard.http.scope_check import check_scope
from shipyard.serving.access import AccessPolicy

logger = logging.getLogger(__name__)

MAX_DECISIONS = 10_000


@dataclass(slots=True)
class CallInfo:
    """One gRPC call as the edge sees it; the access log line is written from it."""

    method: str
    headers: Mapping[str, str]
    """The invocation metadata (ASCII entries; names are lower case on the wire)."""
    request_id: str
    source: str
    started: float
    caller: Caller = ANONYMOUS
    log_fields: dict[str, object] = field(default_factory=dict)


class Gate:
    def __init__(
        self,
        *,
        settings: Settings,
        access: AccessPolicy,
        limiter: Limiter | None = None,
        audit: DeniedRecorder | None = None,
    ) -> None:
        self.access = access
        self.limiter = limiter
        self.audit = audit
        patterns = parse_patterns(settings.open_inference)
        self.open_inference = re.compile("|".join(f"(?:{translate(p)})" for p in patterns)) if patterns else None
        self.decision_seconds = decision_seconds(settings)
        self._decisions: dict[tuple[str, str, str, str, str], tuple[float, Caller]] = {}

    async def admit(
        self, call: CallInfo, scope: str, *, model: str | None = None, target: str = "model", opens: bool = False
    ) -> Caller:
        """The caller of ``call``, allowed ``scope`` on ``model`` (``target`` as in
        ``check_scope``) and within its quota; ``opens``: anonymous callers may make this
        call on the models ``open_inference`` matches. Refusals are recorded, then raised."""
        authorization = call.headers.get("authorization")
        key = (authorization or "", call.source, call.method, scope, model or "")
        if authorization is not None:
            hit = self._decisions.get(key)
            if hit is not None and hit[0] > time.monotonic():
                call.caller = hit[1]
                await self._check_quota(hit[1])
                return hit[1]
        try:
            caller = await self.access.identify(authorization, source=call.source)
            call.caller = caller
            check_scope(
                caller, scope, model=model, target=target, open_inference=self.open_inference if opens else None
            )
        except (Unauthenticated, Forbidden) as exc:
            self._denied(exc, call, model)
            raise
        if authorization is not None and self.decision_seconds > 0:
            if len(self._decisions) >= MAX_DECISIONS:
                self._decisions.clear()
            self._decisions[key] = (time.monotonic() + self.decision_seconds, caller)
        await self._check_quota(caller)
        return caller

    async def _check_quota(self, caller: Caller) -> None:
        if self.limiter is not None:
            await self.limiter.check(caller)

    def _denied(self, exc: ShipyardError, call: CallInfo, model: str | None) -> None:
        if self.audit is None:
            return
        try:
            self.audit.denied(
                actor=call.caller.subject,
                source=call.source or "unknown",
                action="auth.denied" if isinstance(exc, Unauthenticated) else "access.denied",
                resource=f"GRPC {call.method}" + (f" {model[:160]}" if model else ""),
                reason=exc.code,
                details={"message": exc.message[:200]},
            )
        except Exception:  # the audit trail must never fail a call
            logger.exception("could not record an access denial")
