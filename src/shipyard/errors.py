"""Shipyard's one error tree.

Every error a user can see is a ``ShipyardError`` with a stable ``code``. The HTTP status
and the CLI exit code are properties of the class and are mapped once, at the edges
(``shipyard.http.errors`` and ``shipyard.cli.main``); domain code only raises.

    ShipyardError                      internal                  500  exit 1
    ├── ConfigError                    config_error              500  exit 2
    ├── InvalidRequest                 invalid_request           400  exit 2
    │   ├── MalformedRequest           malformed_request         400    body is not valid JSON/CSV/binary
    │   ├── SignatureMismatch          signature_mismatch        400/422 inputs do not match the signature
    │   ├── TooManyRows                too_many_rows             413
    │   ├── InvalidName                invalid_name              400    model name, alias, version
    │   ├── InvalidSpec                invalid_spec              400    a deployment spec (field path, line)
    │   └── PathEscape                 path_escape               400    a path leaves its root
    ├── PayloadTooLarge                payload_too_large         413  exit 2
    ├── UnsupportedMediaType           unsupported_media_type    415  exit 2
    ├── Unauthenticated                unauthenticated           401  exit 10 no key, bad/revoked/expired key
    ├── Forbidden                      forbidden                 403  exit 11 the key lacks the scope
    │   ├── CrossSiteRequest           cross_site_request        403    Origin / Sec-Fetch-Site
    │   └── MisdirectedRequest         misdirected_request       421    Host not allowed
    ├── RateLimited                    rate_limited              429  exit 8  quota spent (Retry-After)
    ├── NotFound                       not_found                 404  exit 3
    │   ├── ModelNotFound              model_not_found
    │   ├── VersionNotFound            version_not_found
    │   ├── AliasNotFound              alias_not_found
    │   └── ArtifactNotFound           artifact_not_found
    ├── Conflict                       conflict                  409  exit 4
    ├── Gone                           retired                   410  exit 12 a retired version (names its successor)
    ├── UnsafeFormat                   unsafe_format             422  exit 5  pickle / untrusted types
    ├── UnsupportedFormat              unsupported_format        422  exit 5
    ├── ModelRejected                  model_rejected            422  exit 5  an upload refused for its content
    ├── IntegrityError                 integrity_error           500  exit 6  digest mismatch
    ├── ModelLoadError                 model_load_failed         503  exit 7
    ├── ModelError                     model_error               500  exit 7  a model raised on valid input
    ├── Unavailable                    unavailable               503  exit 8  not ready, draining
    │   └── Overloaded                 overloaded                503  queue full (Retry-After)
    ├── StorageError                   storage_error             503  exit 9
    └── RemoteError                    (the server's code)       -    exit by the server's code
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

# An absolute filesystem path (two or more components) in a message: the server's upload
# directory, artifact store or home have no place in a response. URL paths of the API itself
# are left alone.
_ABSOLUTE_PATH = re.compile(
    r"(?<![\w.~/:-])/(?!(?:v1|v2|api|models|invocations|metrics)\b)(?:[\w.@+~,=-]+/)+([\w.@+~,=-]*)"
)


def redact_paths(text: str) -> str:
    """``text`` with every absolute filesystem path reduced to its last component."""
    if "/" not in text:
        return text
    return _ABSOLUTE_PATH.sub(lambda m: m.group(1) or "(a directory)", text)


class ShipyardError(Exception):
    """Base of every error Shipyard raises on purpose."""

    code: ClassVar[str] = "internal"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str, *, hint: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        """The error as a response body; absolute paths in it are reduced to file names."""
        body: dict[str, Any] = {"error": redact_paths(self.message), "code": self.code}
        if self.hint:
            body["hint"] = redact_paths(self.hint)
        return body

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


class ConfigError(ShipyardError):
    """Raised when settings or shipyard.toml are invalid."""

    code = "config_error"
    exit_code = 2


class InvalidRequest(ShipyardError):
    """Raised when a caller's request is wrong in a way the caller can fix."""

    code = "invalid_request"
    http_status = 400
    exit_code = 2


class MalformedRequest(InvalidRequest):
    """Raised when a body cannot be parsed (bad JSON, CSV, binary framing, missing fields)."""

    code = "malformed_request"


class SignatureMismatch(InvalidRequest):
    """Raised when inputs do not match the model's signature (names, types, shapes, NaN)."""

    code = "signature_mismatch"


class TooManyRows(InvalidRequest):
    """Raised when a request carries more rows than the server allows."""

    code = "too_many_rows"
    http_status = 413


class InvalidName(InvalidRequest):
    """Raised when a model name, alias, version or reference is not acceptable."""

    code = "invalid_name"


class InvalidSpec(InvalidRequest):
    """Raised when a deployment spec is refused; ``details`` carry ``field`` (a dotted path)
    and ``line`` (1-based, when the spec came from YAML text)."""

    code = "invalid_spec"


class PathEscape(InvalidRequest):
    """Raised when a path would leave the directory it must stay in."""

    code = "path_escape"


class PayloadTooLarge(ShipyardError):
    """Raised when a request body is larger than the configured limit."""

    code = "payload_too_large"
    http_status = 413
    exit_code = 2


class UnsupportedMediaType(ShipyardError):
    """Raised when a body's Content-Type is not one the route accepts."""

    code = "unsupported_media_type"
    http_status = 415
    exit_code = 2


class Unauthenticated(ShipyardError):
    """Raised when a request carries no usable key (none, malformed, unknown, revoked, expired)."""

    code = "unauthenticated"
    http_status = 401
    exit_code = 10


class Forbidden(ShipyardError):
    """Raised when an identified caller may not do this (scope or model pattern missing)."""

    code = "forbidden"
    http_status = 403
    exit_code = 11


class CrossSiteRequest(Forbidden):
    """Raised when a state-changing request comes from another site (Origin, Sec-Fetch-Site)."""

    code = "cross_site_request"


class MisdirectedRequest(Forbidden):
    """Raised when the Host header names a host this server does not answer for."""

    code = "misdirected_request"
    http_status = 421


class RateLimited(ShipyardError):
    """Raised when a key or role has spent its quota; ``retry_after`` says when to come back."""

    code = "rate_limited"
    http_status = 429
    exit_code = 8


class NotFound(ShipyardError):
    """Raised when something named does not exist."""

    code = "not_found"
    http_status = 404
    exit_code = 3


class ModelNotFound(NotFound):
    code = "model_not_found"


class VersionNotFound(NotFound):
    code = "version_not_found"


class AliasNotFound(NotFound):
    code = "alias_not_found"


class ArtifactNotFound(NotFound):
    code = "artifact_not_found"


class Conflict(ShipyardError):
    """Raised when a change conflicts with the current state."""

    code = "conflict"
    http_status = 409
    exit_code = 4


class Gone(ShipyardError):
    """Raised when a model version was retired; ``details["successor"]`` names what to use
    instead (a reference such as ``fraud/5`` or ``fraud@production``, or None)."""

    code = "retired"
    http_status = 410
    exit_code = 12

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        body["successor"] = self.details.get("successor")
        return body


class UnsafeFormat(ShipyardError):
    """Raised when an artifact needs code execution on load that nobody trusted."""

    code = "unsafe_format"
    http_status = 422
    exit_code = 5


class UnsupportedFormat(ShipyardError):
    """Raised when a file is not a model format Shipyard can load."""

    code = "unsupported_format"
    http_status = 422
    exit_code = 5


class ModelRejected(ShipyardError):
    """Raised when an uploaded model is refused for what it contains (it cannot be read,
    loaded or answered safely): the caller's fault, never a server error."""

    code = "model_rejected"
    http_status = 422
    exit_code = 5


class IntegrityError(ShipyardError):
    """Raised when stored bytes do not match their recorded digest."""

    code = "integrity_error"
    exit_code = 6


class ModelLoadError(ShipyardError):
    """Raised when a model version cannot be loaded into memory."""

    code = "model_load_failed"
    http_status = 503
    exit_code = 7


class ModelError(ShipyardError):
    """Raised when a model raises on inputs that passed validation."""

    code = "model_error"
    exit_code = 7


class Unavailable(ShipyardError):
    """Raised when the server cannot take the request now (not ready, draining)."""

    code = "unavailable"
    http_status = 503
    exit_code = 8


class Overloaded(Unavailable):
    """Raised when a bounded queue is full; the caller should retry later."""

    code = "overloaded"


class StorageError(ShipyardError):
    """Raised when the registry database or the artifact store fails underneath."""

    code = "storage_error"
    http_status = 503
    exit_code = 9


class PortInUse(ShipyardError):
    """The address a server was told to listen on is taken by another process."""

    code = "port_in_use"
    exit_code = 14


class PolicyRefused(ShipyardError):
    """Raised when the governance policy does not let a version take a protected alias or
    deployment traffic yet; ``details["missing"]`` lists what is still needed."""

    code = "policy_refused"
    http_status = 409
    exit_code = 13

    def to_dict(self) -> dict[str, Any]:
        body = super().to_dict()
        missing = self.details.get("missing")
        if isinstance(missing, list | tuple):
            body["missing"] = [str(m) for m in missing]
        return body


class SeparationOfDuties(Forbidden):
    """Raised when an actor would approve its own registration (or vote twice)."""

    code = "separation_of_duties"


class GuardrailRejected(InvalidRequest):
    """Raised when a serving guardrail refuses inputs outside the reference profile."""

    code = "guardrail_rejected"
    http_status = 422


class RemoteError(ShipyardError):
    """Raised by the client when a server answers with an error body."""

    code = "remote_error"

    def __init__(self, message: str, *, code: str, status: int, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.remote_code = code
        self.status = status

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.message, "code": self.remote_code}


ERRORS_BY_CODE: dict[str, type[ShipyardError]] = {}


def _index(cls: type[ShipyardError]) -> None:
    ERRORS_BY_CODE[cls.code] = cls
    for sub in cls.__subclasses__():
        _index(sub)


_index(ShipyardError)
