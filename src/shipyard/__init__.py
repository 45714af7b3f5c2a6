"""Shipyard: from a registered model version to governed, monitored, safely rolled-out traffic.

The SDK is imported lazily so that ``import shipyard`` stays cheap::

    import shipyard
    version = shipyard.register_model("churn", model, sample=X_train[:5], training_data=(X_train, y_train))
    model = shipyard.load_model("churn@production")
    client = shipyard.Client("http://127.0.0.1:8080")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from shipyard.sdk.client import Client
    from shipyard.sdk.local import load_model, register_model

__all__ = ["Client", "__version__", "load_model", "register_model"]


def __getattr__(name: str) -> Any:
    if name in ("register_model", "load_model"):
        from shipyard.sdk import local

        return getattr(local, name)
    if name == "Client":
        from shipyard.sdk.client import Client

        return Client
    raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
