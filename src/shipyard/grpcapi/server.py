"""The gRPC server: a ``grpc.aio`` server on the worker's own event loop, beside HTTP.

The app's lifespan builds it (``GrpcFront.bind``) before the models load, so a taken port
fails the start at once, and starts it once they are loaded, as HTTP starts accepting only
then; at shutdown it stops first (in-flight calls get ``graceful_timeout_seconds``), before
the models unload.

One worker binds the port alone (``SO_REUSEPORT`` off, so a second server on the same port
is refused, never silently shares it). With ``workers > 1`` every worker binds the port with
``SO_REUSEPORT`` and the kernel spreads new connections across them; a gRPC channel is one
long-lived connection, so each client channel stays with one worker. The multi-worker parent
should call ``check_port_free`` before it starts the workers, so that a port already taken is
refused there with one line, as for one worker.

Messages are limited to ``max_body_bytes`` (gRPC answers RESOURCE_EXHAUSTED beyond it) and
concurrent calls to ``max_connections``.
"""

from __future__ import annotations

import logging
import socket

import grpc
from tritonclient.grpc import service_pb2_grpc

from shipyard.config import Settings
from shipyard.errors import PortInUse
from shipyard.grpcapi.gate import Gate
from shipyard.grpcapi.service import InferenceService
from shipyard.http.state import AppState

logger = logging.getLogger(__name__)


def grpc_address(host: str, port: int) -> str:
    """``host:port`` as gRPC (and a user) writes it: IPv6 literals in brackets."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def port_in_use(host: str, port: int) -> PortInUse:
    return PortInUse(
        f"the gRPC port {grpc_address(host, port)} is already in use by another process",
        hint=f"stop the other server (`ss -ltnp 'sport = :{port}'` shows it), serve gRPC on another port "
        "with --grpc-port or SHIPYARD_GRPC_PORT, or turn it off with --grpc-port 0",
        host=host,
        port=port,
    )


def check_port_free(host: str, port: int) -> None:
    """``PortInUse`` naming ``host:port`` when something is bound there; a bind without
    ``SO_REUSEPORT`` fails even against sockets that set it, so this also finds another
    multi-worker server."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host.strip("[]"), port))
        except OSError as exc:
            raise port_in_use(host, port) from exc


class GrpcFront:
    """The gRPC front end of one worker process."""

    def __init__(self, server: grpc.aio.Server, address: str) -> None:
        self.server = server
        self.address = address

    @classmethod
    def bind(cls, state: AppState, gate: Gate, settings: Settings) -> GrpcFront:
        """A server bound to ``settings.host:grpc_port`` (not yet answering); ``PortInUse``
        if the port is taken. Call from the running event loop that will serve it."""
        host, port = settings.host, settings.grpc_port
        shared = settings.resolved_workers > 1
        if not shared:
            check_port_free(host, port)
        server = grpc.aio.server(
            options=[
                ("grpc.so_reuseport", 1 if shared else 0),
                ("grpc.max_receive_message_length", settings.max_body_bytes),
            ],
            maximum_concurrent_rpcs=settings.max_connections,
        )
        service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(InferenceService(state, gate, settings), server)
        address = grpc_address(host, port)
        try:
            server.add_insecure_port(address)
        except RuntimeError as exc:
            raise port_in_use(host, port) from exc
        return cls(server, address)

    async def start(self) -> None:
        await self.server.start()
        logger.info("OIP V2 gRPC service listening on %s", self.address)

    async def stop(self, grace: float) -> None:
        """Refuse new calls; let those in flight finish for up to ``grace`` seconds."""
        await self.server.stop(grace)
