"""The gRPC server's life: a taken port refused with its address, several workers sharing the port."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import tritonclient.grpc as grpcclient
from grpc_registry import numeric_frame

from live_server import LiveServer, free_port
from shipyard.errors import PortInUse
from shipyard.grpcapi.server import check_port_free, grpc_address


def per_column(frame) -> list[grpcclient.InferInput]:
    inputs = []
    for name in frame.columns:
        item = grpcclient.InferInput(name, [len(frame)], "FP64")
        item.set_data_from_numpy(frame[name].to_numpy())
        inputs.append(item)
    return inputs


def test_check_port_free_names_the_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse) as caught:
            check_port_free("127.0.0.1", port)
    assert caught.value.message == f"the gRPC port 127.0.0.1:{port} is already in use by another process"
    assert "--grpc-port" in (caught.value.hint or "")
    assert caught.value.exit_code == 14
    check_port_free("127.0.0.1", port)  # free again once closed


def test_ipv6_addresses_are_bracketed() -> None:
    assert grpc_address("::1", 8081) == "[::1]:8081"
    assert grpc_address("127.0.0.1", 8081) == "127.0.0.1:8081"


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["1", "2"], ids=["one-worker", "two-workers"])
def test_a_taken_grpc_port_stops_the_server_naming_it(registry_home: tuple[Path, object], workers: str) -> None:
    home, _ = registry_home
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = LiveServer(home, ["lr"], settings={"grpc_port": str(port), "workers": workers}, ready_timeout=60)
        with pytest.raises(RuntimeError) as caught:
            server.start()
        server.stop()
    assert f"the gRPC port 127.0.0.1:{port} is already in use by another process" in str(caught.value)


@pytest.mark.slow
def test_two_workers_share_the_grpc_port(registry_home: tuple[Path, object], models) -> None:
    home, _ = registry_home
    port = free_port()
    frame, _ = numeric_frame(3)
    expected = models["lr"].predict(frame)
    with LiveServer(home, ["lr"], settings={"grpc_port": str(port), "workers": "2"}) as server:
        for _ in range(6):  # a new client is a new connection: the kernel spreads them
            client = grpcclient.InferenceServerClient(f"127.0.0.1:{port}")
            result = client.infer("lr", per_column(frame), headers={"authorization": f"Bearer {server.api_key}"})
            assert (result.as_numpy("predict") == expected).all()
            client.close()
