"""The contract every model format implements.

A ``Flavor`` knows one on-disk format: how to recognise it from its bytes, how to save a
live Python object into it, and how to load it into a ``LoadedModel`` whose ``predict``
takes a validated ``Batch`` and returns named outputs. Loading never executes code the
registrant did not trust: see ``LoadOptions``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from shipyard.schema.batch import Batch, Outputs
from shipyard.schema.signature import FieldSpec, Signature


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

    def predict_array(self, data: Any) -> Outputs:
        """Convenience for the SDK: predict on a DataFrame, 2-D array or mapping without a
        wire round trip. Inputs are checked against ``input_signature`` where known."""
        from shipyard.schema.signature import infer_signature

        signature = self.input_signature() or infer_signature(data)
        if hasattr(data, "columns") and hasattr(data, "dtypes"):
            columns = {str(c): data[c].to_numpy() for c in data.columns}
            return self.predict(Batch(signature, columns={f.name: columns[f.name] for f in signature.inputs}))
        if isinstance(data, Mapping):
            return self.predict(Batch(signature, columns={k: np.asarray(v) for k, v in data.items()}))
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

    def required_trust(self, path: Path) -> tuple[str, ...]:
        """Type names (or other things) a file needs trusted before it may load; for
        skops, the untrusted types it contains. Empty when it loads safely."""
        return ()

    @abstractmethod
    def load(self, path: Path, options: LoadOptions) -> LoadedModel:
        """Load the file; raise ``UnsafeFormat`` when it needs trust not given,
        ``ModelLoadError`` when it is broken."""
