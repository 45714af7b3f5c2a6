"""The servers under test, one entry per configuration, in the order they are shown and alternated.

The Shipyard request forms (`ShipyardForm`) come right after the default configuration, whose
server they send to.
"""

from __future__ import annotations

from peers.base import Call, Endpoint, Peer
from peers.bentoml import BentoML, BentoMLBatching
from peers.mlflow import MLflow
from peers.mlserver import MLServer, MLServerBatching, MLServerInProcess
from peers.shipyard import (
    Shipyard,
    ShipyardBinary,
    ShipyardForm,
    ShipyardGrpc,
    ShipyardMatrix,
    ShipyardMLflow,
    ShipyardNoBatching,
    ShipyardTwoWorkers,
    ShipyardV1,
)

_CONFIGURATIONS: tuple[type[Peer], ...] = (
    Shipyard,
    ShipyardBinary,
    ShipyardMatrix,
    ShipyardMLflow,
    ShipyardV1,
    ShipyardGrpc,
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
FORMS = tuple(peer.key for peer in _CONFIGURATIONS if issubclass(peer, ShipyardForm))
DEFAULT = Shipyard.key  # what the ratios and targets compare against

__all__ = ["DEFAULT", "FORMS", "PEERS", "Call", "Endpoint", "Peer", "ShipyardForm"]
