"""A served deployment: one revision's split over loaded variants.

``ServedDeployment`` is immutable and built once per revision by the ``ModelManager``; a new
revision is a new object swapped in one dict assignment. Each variant is a manager ``Slot``,
so a variant that follows an alias (``fraud@production``) is kept current by the alias
watcher like any served reference, and a slot whose reference did not change between two
revisions is carried over without reloading.

Primary, canary and arm variants answer, by ``rollout.split.Splitter``. Shadow variants are
loaded with the revision (so a revision that adds one fails before the swap if it cannot
load) and get copies of the requests off the request path (``serving/shadows``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from shipyard.errors import VersionNotFound
from shipyard.rollout.spec import DeploymentSpec
from shipyard.rollout.split import Splitter, sticky_key_from
from shipyard.schema.batch import Batch

if TYPE_CHECKING:
    from shipyard.serving.manager import ServedVersion, Slot


@dataclass(frozen=True)
class ServedDeployment:
    """One revision of a deployment, its variants loaded."""

    name: str
    revision: int
    spec: DeploymentSpec
    splitter: Splitter
    slots: Mapping[str, Slot]
    """Every variant (shadows too) → its slot; two variants with one reference share a slot."""

    @property
    def sticky_field(self) -> str | None:
        """The input field the experiment's sticky key comes from (the choice then waits
        for the decoded inputs), else None."""
        experiment = self.spec.experiment
        return experiment.sticky_key.field if experiment is not None else None

    @property
    def measures_outcomes(self) -> bool:
        """Whether outcomes are joined to its requests (an experiment, or an outcome gate):
        then the request ids and the variants that answered them are recorded."""
        analysis = self.spec.analysis
        return self.spec.experiment is not None or bool(analysis is not None and analysis.gates.min_outcome_ratio)

    def served(self, variant: str) -> ServedVersion:
        current = self.slots[variant].current
        assert current is not None
        return current

    def default(self) -> ServedVersion:
        """What metadata and readiness describe: the primary, else the first arm."""
        primary = self.spec.primary
        if primary is None:
            primary = next(iter(self.spec.arms))
        return self.served(primary)

    def choose(
        self, headers: Mapping[str, str], request_key: str | None, inputs: Mapping[str, object] | None = None
    ) -> tuple[str, ServedVersion]:
        """The answering variant: by the experiment's sticky key (header or input field) when
        present, else by the request id."""
        sticky = sticky_key_from(self.spec, headers, inputs) if self.spec.experiment is not None else None
        variant = self.splitter.choose(request_key=request_key, sticky=sticky)
        return variant, self.served(variant)

    def choose_by_batch(
        self, headers: Mapping[str, str], request_key: str | None, batch: Batch
    ) -> tuple[str, ServedVersion]:
        """``choose`` when the sticky key is an input field of the validated ``batch``."""
        field = self.sticky_field
        inputs: dict[str, object] = {}
        if field is not None:
            if batch.tensors:
                value = batch.tensors.get(field)
                if value is not None:
                    inputs[field] = value[:1]
            elif field in batch.signature.input_names:
                column: np.ndarray = batch.column(field)
                inputs[field] = column[:1]
        return self.choose(headers, request_key, inputs)

    def resolve(self, version: int | None) -> ServedVersion:
        """Unversioned: the default variant. Versioned: that exact version of the model the
        deployment is named after, when one of its variants serves it."""
        if version is None:
            return self.default()
        for slot in self.slots.values():
            current = slot.current
            if current is not None and current.name == self.name and current.version == version:
                return current
        raise VersionNotFound(
            f"version {version} of {self.name!r} is not served here (deployment {self.name!r} serves "
            + ", ".join(sorted({str(s.current.record.ref) for s in self.slots.values() if s.current is not None}))
            + ")"
        )

    def model_slots(self) -> list[Slot]:
        """The variants' slots of the model named like the deployment (for metadata)."""
        seen: list[Slot] = []
        for slot in self.slots.values():
            if slot.name == self.name and all(s is not slot for s in seen):
                seen.append(slot)
        return seen
