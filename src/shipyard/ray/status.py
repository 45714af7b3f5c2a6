"""``shipyard status --engine ray``: the application's deployments, their replicas and queues.

From Ray Serve's controller (the same details ``serve status`` shows): each deployment's
status and message, each replica's state, process and node. The queue of a running replica
is its number of ongoing requests (running and waiting), which Ray Serve's replica answers
on a thread of its own, so a replica busy with a model call still answers.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

import ray
from ray.serve.context import _get_global_client

from shipyard.ray.options import APP_NAME, INGRESS

SERVE_NAMESPACE = "serve"
QUEUE_TIMEOUT_SECONDS = 5.0
MODEL_PREFIX = "model-"


@dataclass(frozen=True)
class ReplicaStatus:
    replica_id: str
    state: str
    pid: int | None
    node_ip: str | None
    queue: int | None
    """Ongoing requests (running and waiting); None when the replica did not answer."""


@dataclass(frozen=True)
class DeploymentStatus:
    deployment: str
    model: str | None
    """The model it serves (None for the ingress)."""
    status: str
    message: str
    replicas: list[ReplicaStatus] = field(default_factory=list)

    @property
    def running(self) -> int:
        return sum(1 for r in self.replicas if r.state == "RUNNING")

    @property
    def queue(self) -> int:
        return sum(r.queue or 0 for r in self.replicas)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "running": self.running, "queue": self.queue}


@dataclass(frozen=True)
class AppStatus:
    name: str
    status: str
    message: str
    deployments: list[DeploymentStatus]

    def as_dict(self) -> dict[str, Any]:
        return {
            "application": self.name,
            "status": self.status,
            "message": self.message,
            "deployments": [d.as_dict() for d in self.deployments],
        }


def app_status(app: str = APP_NAME) -> AppStatus | None:
    """The application's status on the connected cluster; None when it is not deployed."""
    client = _get_global_client(raise_if_no_controller_running=False)
    if client is None:  # Ray Serve is not running on this cluster
        return None
    details = client.get_serve_details()
    found = details.get("applications", {}).get(app)
    if found is None:
        return None
    deployments = [
        _deployment(name, raw) for name, raw in sorted(found.get("deployments", {}).items(), key=_ingress_first)
    ]
    return AppStatus(
        name=app, status=_text(found.get("status")), message=found.get("message", ""), deployments=deployments
    )


def _text(value: Any) -> str:
    """An enum of Ray Serve's (``ApplicationStatus.RUNNING``) as its value (``RUNNING``)."""
    if isinstance(value, Enum):
        return str(value.value)
    return "" if value is None else str(value)


def _ingress_first(item: tuple[str, Any]) -> tuple[int, str]:
    return (0 if item[0] == INGRESS else 1, item[0])


def _deployment(name: str, raw: dict[str, Any]) -> DeploymentStatus:
    replicas = raw.get("replicas", [])
    queues = _queues([r.get("actor_name") for r in replicas if _text(r.get("state")) == "RUNNING"])
    return DeploymentStatus(
        deployment=name,
        model=_model_of(name, raw),
        status=_text(raw.get("status")),
        message=raw.get("message", ""),
        replicas=[
            ReplicaStatus(
                replica_id=str(r.get("replica_id", "")),
                state=_text(r.get("state")),
                pid=r.get("pid"),
                node_ip=r.get("node_ip"),
                queue=queues.get(r.get("actor_name") or ""),
            )
            for r in replicas
        ],
    )


def _model_of(name: str, raw: dict[str, Any]) -> str | None:
    if not name.startswith(MODEL_PREFIX):
        return None
    # The model's own name is the deployment's first constructor argument (names with
    # characters a deployment name cannot hold are escaped in ``deployment_name``).
    args = (raw.get("deployment_config") or {}).get("init_args") or ()
    return str(args[0]) if args else name.removeprefix(MODEL_PREFIX)


def _queues(actor_names: list[str | None]) -> dict[str, int]:
    """Ongoing requests per replica actor, asked of all at once."""
    pending = {}
    for actor_name in actor_names:
        if not actor_name:
            continue
        try:
            actor = ray.get_actor(actor_name, namespace=SERVE_NAMESPACE)
        except ValueError:  # gone since the controller answered
            continue
        pending[actor_name] = actor.get_num_ongoing_requests.remote()
    found = {}
    for actor_name, ref in pending.items():
        try:
            found[actor_name] = int(ray.get(ref, timeout=QUEUE_TIMEOUT_SECONDS))
        except Exception:  # noqa: S112 - a replica that does not answer shows no queue
            continue
    return found
