"""What every route needs, built once per process and reached through ``request.app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from shipyard.bootstrap import Services
from shipyard.context import ANONYMOUS, Caller
from shipyard.monitoring.metrics import ServingMetrics
from shipyard.schema.batch import RawInputs
from shipyard.serving.access import AccessPolicy
from shipyard.serving.dataplane import DataPlane, InferenceCall, InferenceResult
from shipyard.serving.manager import ModelManager, ServedVersion


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


async def run_inference(
    request: Request,
    served: ServedVersion,
    inputs: RawInputs,
    *,
    caller: Caller,
    protocol: str,
    version: int | None = None,
    request_id_override: str | None = None,
) -> InferenceResult:
    """The shared step of every protocol adapter: call the data plane for the already
    resolved (and authorized) ``served`` version; note model, version and rows in the access log."""
    result = await app_state(request).dataplane.infer(
        InferenceCall(
            model=served.name,
            version=version,
            served=served,
            inputs=inputs,
            protocol=protocol,
            request_id=request_id_override or request_id(request),
            caller=caller.subject,
        )
    )
    log_fields(request, model=served.name, version=result.served.version, rows=result.batch.n_rows)
    return result
