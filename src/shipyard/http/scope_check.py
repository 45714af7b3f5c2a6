"""The one rule for letting a caller through to a route or a gRPC call that needs a scope.

The HTTP edge (``http/middleware``) and the gRPC gate (``grpcapi/gate``) both ask it, so a key
means the same on either port.
"""

from __future__ import annotations

import re

from shipyard.context import Caller
from shipyard.errors import Forbidden, Unauthenticated
from shipyard.governance.scopes import METRICS_READ


def check_scope(
    caller: Caller,
    scope: str,
    *,
    model: str | None = None,
    target: str = "model",
    open_inference: re.Pattern[str] | None = None,
    open_metrics: bool = False,
) -> None:
    """Let ``caller`` through to a route or call needing ``scope`` on ``target``: ``model`` (the
    named model; None when no model is served), ``some`` (any model) or ``server``; raise
    ``Unauthenticated`` (no key) or ``Forbidden`` (a key without the scope) otherwise.
    ``open_inference`` is the compiled ``settings.open_inference`` pattern, for the routes and
    calls anonymous callers may use on the models it matches; None where it does not apply."""
    if target == "model":
        if model is None:
            if caller.allows_some(scope):
                return
        else:
            if caller.allows(scope, model):
                return
            if open_inference is not None and open_inference.match(model):
                return
    elif target == "some":
        if caller.allows_some(scope):
            return
    elif caller.allows(scope) or (scope == METRICS_READ and open_metrics):
        return
    if not caller.authenticated:
        raise Unauthenticated(
            "this route needs an API key", hint="send it as 'Authorization: Bearer shp_...' (shipyard keys create)"
        )
    what = f"on model {model!r}" if target == "model" and model is not None else "on this server"
    if target == "some":
        what = "on any model"
    raise Forbidden(f"this key lacks the {scope} scope {what[:160]}", scope=scope)
