"""The servers under test, one entry per configuration, in the order they are shown and alternated."""

from __future__ import annotations

from peers.base import Endpoint, Peer
from peers.bentoml import BentoML, BentoMLBatching
from peers.mlflow import MLflow
from peers.mlserver import MLServer, MLServerBatching, MLServerInProcess
from peers.shipyard import Shipyard, ShipyardNoBatching, ShipyardTwoWorkers

_CONFIGURATIONS: tuple[type[Peer], ...] = (
    Shipyard,
    ShipyardNoBatching,
    ShipyardTwoWorkers,
    MLflow,
    BentoML,
    BentoMLBatching,
    MLServer,
    MLServerInProcess,
    MLServerBatching,
)
PEERS: dict[str, type[Peer]] = {peer.key: peer for peer in _CONFIGURATIONS}
DEFAULT = Shipyard.key  # what the ratios and targets compare against

__all__ = ["DEFAULT", "PEERS", "Endpoint", "Peer"]
