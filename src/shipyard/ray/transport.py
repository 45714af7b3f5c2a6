"""What crosses between the ingress and a model replica (pickled by Ray).

A ``ShipyardError`` raised in a replica comes back as a ``Failure`` value and is raised again
in the ingress as the same class, message and hint: Ray would otherwise wrap it in its own
task error, and the data plane would answer 500 for what is, say, a 410 or a 503.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shipyard.errors import ShipyardError
from shipyard.schema.signature import FieldSpec


@dataclass(frozen=True)
class Described:
    """What the ingress needs to know of a version loaded in a replica."""

    outputs: tuple[FieldSpec, ...]
    row_independent: bool
    flavor: str
    runtime: str
    """The form serving in the replica (``native`` or ``compiled``)."""


@dataclass(frozen=True)
class Failure:
    kind: type[ShipyardError]
    message: str
    hint: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, exc: ShipyardError) -> Failure:
        return cls(type(exc), exc.message, exc.hint, dict(exc.details))

    def error(self) -> ShipyardError:
        # Not ``kind(message)``: some classes' constructors take other arguments.
        exc = self.kind.__new__(self.kind)
        ShipyardError.__init__(exc, self.message, hint=self.hint, **self.details)
        return exc


def model_id(name: str, version: int) -> str:
    """The multiplexed model id of a version: ``NAME/VERSION``."""
    return f"{name}/{version}"


def parse_model_id(text: str) -> tuple[str, int]:
    name, _, version = text.rpartition("/")
    return name, int(version)
