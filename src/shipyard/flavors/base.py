"""The contract every model format implements.

A ``Flavor`` knows one on-disk format: how to recognise it from its bytes, how to save a
live Python object into it, and how to load it into a ``LoadedModel`` whose ``predict``
takes a validated ``Batch`` and returns named outputs. Loading never executes code the
registrant did not trust: see ``LoadOptions``.

A ``LoadedModel`` opts into compilation (``shipyard.compile``) through one public hook,
``compilable``: it hands over its library object for a converter Shipyard has
(``NativeObject``), or writes the ONNX graph itself (``OnnxGraph``). The compiler never
looks at a flavor's name or its private attributes, so a new flavor opts in here alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from shipyard.schema.batch import Batch, Outputs
from shipyard.schema.signature import FieldSpec, Signature
from shipyard.schema.tabular import table_columns


@dataclass(frozen=True)
class LoadOptions:
    """What the registrant explicitly trusted when registering the version."""

    trusted_types: tuple[str, ...] = ()
    """Extra fully-qualified type names a skops file may instantiate."""
    trust_pickle: bool = False
    """Allow pickle/joblib files (arbitrary code execution on load)."""
    trust_code: bool = False
    """Allow importing the stored code of a Python-class model."""
    metadata: Mapping[str, Any] = field(default_factory=dict)
    """The ``SavedModel.metadata`` recorded with the version (e.g. class labels)."""
    scratch: Path | None = None
    """Where a load may extract files (``$SHIPYARD_HOME/tmp``, see ``fs/scratch.py``); the
    system temp dir when None."""


@dataclass(frozen=True)
class SavedModel:
    """The result of saving a live object: one file plus what loading it will need."""

    path: Path
    flavor: str
    trusted_types: tuple[str, ...] = ()
    unsafe_format: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NativeObject:
    """A loaded model's library object, for one of the converters ``shipyard.compile`` has."""

    library: str
    """Which converter takes ``model``: ``sklearn`` (an estimator or pipeline, through
    skl2onnx), ``lightgbm`` (a ``lightgbm.Booster``) or ``xgboost`` (an ``xgboost.Booster``)."""
    model: Any
    classes: np.ndarray | None = None
    """The labels the model's class indices stand for (boosters know only indices)."""


@dataclass(frozen=True)
class OnnxGraph:
    """An ONNX graph a flavor wrote itself, and how the compiled runtime feeds and reads it.

    The graph's first outputs answer ``LoadedModel.outputs``, in that order and in the same
    units (labels, or indices into ``classes``; probabilities one column per class)."""

    model: Any
    """An ``onnx.ModelProto``."""
    inputs: Mapping[str, Any]
    """``{"kind": "matrix", "dtype": "float64"}``: one ``[rows, columns]`` tensor in signature
    order; or ``{"kind": "columns", "dtypes": {column: dtype}}``: one ``[rows, 1]`` tensor per column."""
    precision: str = "float64"
    """``float32`` when the model itself computes in single precision (a looser check)."""
    classes: Sequence[Any] | None = None
    """When the graph's ``predict`` output holds class indices: the labels they stand for."""
    converter: Mapping[str, str] = field(default_factory=dict)
    """Names and versions of what wrote the graph, for the compile report."""


class LoadedModel(ABC):
    """A model in memory, ready to answer."""

    flavor: ClassVar[str]
    row_independent: ClassVar[bool] = True
    """Each output row depends only on its input row (so requests may be batched)."""

    @property
    @abstractmethod
    def outputs(self) -> tuple[FieldSpec, ...]:
        """The named outputs ``predict`` returns, e.g. ``predict`` and ``predict_proba``."""

    def input_signature(self) -> Signature | None:
        """What the model itself says about its inputs (feature names and count, ONNX
        graph inputs), or None when it says nothing. Used when no sample is given."""
        return None

    @abstractmethod
    def predict(self, batch: Batch) -> Outputs:
        """Outputs for every row of ``batch``; each array's first dimension is the rows."""

    def compilable(self, signature: Signature) -> NativeObject | OnnxGraph | None:
        """What ``shipyard.compile`` may turn into an ONNX graph for serving under ``signature``
        (the version's inputs): the library object for a built-in converter, a graph the flavor
        wrote, or None (the default: no converter, the native form serves). Raise
        ``UnsupportedFormat`` with the reason when this model can never be compiled."""
        return None

    def predict_array(self, data: Any) -> Outputs:
        """Convenience for the SDK: predict on a DataFrame, 2-D array or mapping without a
        wire round trip. Inputs are checked against ``input_signature`` where known."""
        from shipyard.schema.signature import infer_signature

        signature = self.input_signature() or infer_signature(data)
        columns = table_columns(data)
        if columns is not None:
            return self.predict(Batch(signature, columns={f.name: columns[f.name] for f in signature.inputs}))
        return self.predict(Batch(signature, matrix=np.asarray(data)))


class Flavor(ABC):
    """One model format."""

    name: ClassVar[str]
    unsafe: ClassVar[bool] = False
    """Loading executes arbitrary code (pickle): registration needs explicit trust."""

    @abstractmethod
    def sniff(self, head: bytes, path: Path) -> bool:
        """True when the file's content (first bytes ``head``, and the file itself for
        container formats) is this format. Must not execute anything from the file."""

    def can_save(self, obj: Any) -> bool:
        """True when this flavor is the safe format for a live object of this type."""
        return False

    def save(self, obj: Any, dest_dir: Path, *, trusted_types: tuple[str, ...] = ()) -> SavedModel:
        """Write ``obj`` into ``dest_dir`` in this format and return the file."""
        from shipyard.errors import UnsupportedFormat

        raise UnsupportedFormat(
            f"the {self.name} format cannot save a live object", hint="save the model to a file and register the file"
        )

    def output_metadata(self, path: Path, requested: Mapping[str, str] | None) -> dict[str, Any]:
        """Metadata recording how the model's outputs are named, merged into the version's
        metadata at registration; ``requested``: the registrant's ``{output: name}``. Only
        formats whose outputs carry arbitrary names (ONNX graphs) take names; the default
        refuses them."""
        if requested:
            from shipyard.errors import InvalidRequest

            raise InvalidRequest(
                f"the {self.name} format names its outputs itself", hint="output names apply to ONNX models"
            )
        return {}

    def required_trust(self, path: Path) -> tuple[str, ...]:
        """Type names (or other things) a file needs trusted before it may load; for
        skops, the untrusted types it contains. Empty when it loads safely."""
        return ()

    @abstractmethod
    def load(self, path: Path, options: LoadOptions) -> LoadedModel:
        """Load the file; raise ``UnsafeFormat`` when it needs trust not given,
        ``ModelLoadError`` when it is broken."""
