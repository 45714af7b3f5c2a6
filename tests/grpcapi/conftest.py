from grpc_registry import auth, grpc_url, key_for, models, registry_home, server, stub

__all__ = ["auth", "grpc_url", "key_for", "models", "registry_home", "server", "stub"]
