from http_registry import models, registry_home, server

__all__ = ["models", "registry_home", "server"]
