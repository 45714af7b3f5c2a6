"""What every route needs, built once per process and reached through ``request.app.state``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from shipyard.bootstrap import Services
from shipyard.context import ANONYMOUS, Caller
from shipyard.errors import Forbidden
from shipyard.monitoring.metrics import ServingMetrics
from shipyard.schema.batch import RawInputs
from shipyard.serving.dataplane import DataPlane, InferenceCall, InferenceResult
from shipyard.serving.manager import ModelManager, ServedVersion


@dataclass
class AppState:
    services: Services
    manager: ModelManager
    dataplane: DataPlane
    metrics: ServingMetrics
    openapi: dict[str, Any] = field(default_factory=dict)

    def authorize(self, request: Request, action: str, resource: str) -> Caller:
        """The caller of ``request``. The edge (``http/middleware``) has checked it against the
        route table's scope for this route before the endpoint runs; this only makes sure it
        did (an endpoint reached some other way is refused)."""
        return caller_of(request)


def caller_of(request: Request) -> Caller:
    """Who is calling, as the edge identified and authorized them; ``Forbidden`` if the edge
    did not check this request."""
    state = request.scope.get("state", {})
    if not state.get("authorized"):
        raise Forbidden("this request was not checked at the edge")
    caller: Caller = state.get("caller", ANONYMOUS)
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
