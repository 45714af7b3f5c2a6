"""What every route needs, built once per process and reached through ``request.app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from shipyard.bootstrap import Services
from shipyard.context import ANONYMOUS, Caller
from shipyard.monitoring.metrics import ServingMetrics
from shipyard.serving.access import AccessPolicy
from shipyard.serving.dataplane import DataPlane
from shipyard.serving.manager import ModelManager


@dataclass
class AppState:
    services: Services
    manager: ModelManager
    dataplane: DataPlane
    metrics: ServingMetrics
    access: AccessPolicy

    def authorize(self, request: Request, action: str, resource: str) -> Caller:
        """The caller of ``request``, checked for ``action`` on ``resource`` (raises if refused)."""
        caller: Caller = request.scope.get("state", {}).get("caller", ANONYMOUS)
        self.access.authorize(caller, action, resource)
        return caller


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.shipyard
    return state


def request_id(request: Request) -> str:
    rid: str = request.scope["state"]["request_id"]
    return rid


def log_fields(request: Request, **fields: object) -> None:
    """Add fields to this request's access-log line (model, version, rows)."""
    request.scope["state"].setdefault("log_fields", {}).update(fields)
