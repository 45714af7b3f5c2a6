"""The in-process SDK: register a model and load one back, straight against the registry.

``register_model`` and ``load_model`` open the registry named by the settings (``home``
overrides ``$SHIPYARD_HOME``) for one call and close it again, so a notebook never holds
a database connection between cells. Loading goes through ``RegistryService.load``, which
re-checks the artifact's digest and loads it with exactly the trust it was registered with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.config import Settings
from shipyard.flavors.base import LoadedModel
from shipyard.registry.refs import ModelRef
from shipyard.registry.service import RegistryService
from shipyard.registry.types import ModelVersion
from shipyard.schema.batch import RawInputs
from shipyard.schema.signature import Signature
from shipyard.schema.tabular import head, n_rows
from shipyard.schema.validate import validate_inputs

SAMPLE_ROWS = 5
"""Rows taken from the training data as the sample when no sample is given."""


class LocalModel:
    """A registered model version loaded in this process."""

    def __init__(self, version: ModelVersion, loaded: LoadedModel) -> None:
        self.version = version
        self._loaded = loaded

    @classmethod
    def from_registry(cls, registry: RegistryService, ref: str | ModelRef) -> LocalModel:
        version, loaded = registry.load(ref)
        return cls(version, loaded)

    @property
    def signature(self) -> Signature:
        return self.version.signature

    def predict_outputs(self, data: Any) -> dict[str, np.ndarray]:
        """Every named output for ``data`` (a table: DataFrame, 2-D array, dict of columns or
        records), validated against the version's signature exactly as the server validates."""
        batch = validate_inputs(self.signature, RawInputs.from_table(data), max_rows=max(1, n_rows(data)))
        return dict(self._loaded.predict(batch))

    def predict(self, data: Any) -> np.ndarray:
        """The primary output (the first the model declares, usually ``predict``)."""
        outputs = self.predict_outputs(data)
        return next(iter(outputs.values()))

    def __repr__(self) -> str:
        return f"LocalModel({self.version.ref}, flavor={self.version.flavor})"


def split_training_data(training_data: Any) -> tuple[Any, Any]:
    """``(X, y)`` stays a pair; anything else is ``X`` with no target."""
    if isinstance(training_data, tuple) and len(training_data) == 2:
        return training_data[0], training_data[1]
    return training_data, None


def default_sample(sample: Any, training_x: Any) -> Any:
    """The sample to infer a signature from: the given one, else the first training rows."""
    if sample is not None or training_x is None:
        return sample
    return head(training_x, SAMPLE_ROWS)


def register_with(
    registry: RegistryService,
    name: str,
    model: Any,
    *,
    sample: Any = None,
    training_data: Any = None,
    progress: Callable[[int], None] | None = None,
    **options: Any,
) -> ModelVersion:
    """Register through an open registry: the one path the SDK and the CLI share."""
    x, y = split_training_data(training_data)
    source = Path(model) if isinstance(model, str) else model
    return registry.register(
        name,
        source,
        sample=default_sample(sample, x),
        training_data=x,
        target=y,
        progress=progress,
        **options,
    )


@contextmanager
def _registry(home: str | Path | None) -> Iterator[RegistryService]:
    from shipyard.bootstrap import open_services

    settings = Settings.load(overrides={"home": Path(home)} if home is not None else None)
    services = open_services(settings)
    try:
        yield services.registry
    finally:
        services.close()


def register_model(
    name: str,
    model: Any,
    *,
    sample: Any = None,
    training_data: Any = None,
    metrics: Mapping[str, float] | None = None,
    params: Mapping[str, Any] | None = None,
    description: str = "",
    tags: Mapping[str, str] | None = None,
    flavor: str | None = None,
    signature: Signature | None = None,
    trusted_types: Sequence[str] = (),
    trust_pickle: bool = False,
    trust_code: bool = False,
    parent_version: int | None = None,
    compile: bool = True,
    home: str | Path | None = None,
    tier: str | None = None,
    pii: Mapping[str, str] | None = None,
    output_names: Mapping[str, str] | None = None,
) -> ModelVersion:
    """Register ``model`` (a live object, or a path to a saved file) as the next version of
    ``name``. ``training_data`` is ``(X, y)`` or ``X``; its first rows are the sample when
    ``sample`` is not given. ``tier``: the risk tier of a new model; ``pii``: ``{field:
    drop|hash|keep}`` marks merged into the model's serving controls; ``output_names``:
    ``{graph output: name}`` for an ONNX file.

    Warns with ``CompileNotice`` when the native runtime will serve because compiling was
    tried and refused (the reason is in the warning)."""
    from shipyard.sdk.runtime_notice import notice

    with _registry(home) as registry:
        version = register_with(
            registry,
            name,
            model,
            sample=sample,
            training_data=training_data,
            metrics=metrics,
            params=params,
            description=description,
            tags=tags,
            flavor=flavor,
            signature=signature,
            trusted_types=tuple(trusted_types),
            trust_pickle=trust_pickle,
            trust_code=trust_code,
            parent_version=parent_version,
            compile=compile,
            tier=tier,
            pii=pii,
            output_names=output_names,
        )
    notice(version.to_dict(), stacklevel=3)
    return version


def load_model(ref: str, *, home: str | Path | None = None) -> LocalModel:
    """Load ``NAME``, ``NAME/VERSION`` or ``NAME@ALIAS`` from the registry (digest checked)."""
    with _registry(home) as registry:
        return LocalModel.from_registry(registry, ref)


__all__ = ["LocalModel", "load_model", "register_model", "register_with"]
