from fidelity_registry import fidelity_home, server

__all__ = ["fidelity_home", "server"]
