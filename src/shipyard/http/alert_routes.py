"""``GET /api/alerts``: the alert rules and the state of their alerts (``models.read`` on
some model; the alerts shown are those on targets the caller may read)."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from shipyard.governance import scopes as sc
from shipyard.http.responses import JSONResponse
from shipyard.http.route_spec import RouteSpec, ok
from shipyard.http.state import app_state
from shipyard.monitoring.alerts import rules_from_settings
from shipyard.monitoring.alerts.view import overview


async def list_alerts(request: Request) -> Response:
    state = app_state(request)
    caller = state.authorize(request, sc.MODELS_READ, "*")
    services = state.services

    def read() -> list[dict[str, object]]:
        rules = rules_from_settings(services.settings, check_urls=False)
        return overview(rules, services.store.alerts.states(), visible=lambda t: caller.allows(sc.MODELS_READ, t))

    return JSONResponse({"rules": await run_in_threadpool(read)})


ALERT_ROUTES: tuple[RouteSpec, ...] = (
    RouteSpec(
        "GET",
        "/api/alerts",
        list_alerts,
        sc.MODELS_READ,
        "some",
        "list_alerts",
        "Alert rules and their alerts' states (on the models and deployments the caller may read)",
        "monitoring",
        replies=(ok("AlertList"),),
    ),
)
