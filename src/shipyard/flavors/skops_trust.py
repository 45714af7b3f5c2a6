"""Which types a skops file may instantiate without the registrant naming them.

skops refuses any type outside its own small default list. Common scikit-learn models need
more (``sklearn.tree._tree.Tree`` for forests, ``TreePredictor`` for histogram gradient
boosting, ``KDTree`` for neighbours), so Shipyard allows a list of EXACT names on top of
skops's own, never whole modules: ``numpy.memmap`` is a numpy class that writes files, and
``numpy.load`` a numpy function that reads them.

The list is built once, at first use, from what the installed scikit-learn ships, so it
follows its releases without a hand-kept literal:

- every estimator class ``sklearn.utils.all_estimators`` lists, by the module that defines
  it (skops names ``sklearn.linear_model._logistic.LogisticRegression``);
- the subclasses of a few internal families a fitted model holds (losses and links, kernels,
  distance metrics, neighbour trees, cross-validation splitters, scorers, optimizers);
- ``_INTERNAL_NAMES``: single internal types (``Tree``, ``TreePredictor``, ``Bunch``...) and
  the pure functions scikit-learn stores as defaults in fitted models (univariate scores,
  scorer functions);
- numpy and scipy data types: ndarray, masked arrays, dtypes and scalar types, random
  generators and bit generators, the sparse matrix and array classes, B-splines.

The set was checked empirically (``tests/flavors/test_skops_allowlist.py``): fitting and
dumping a broad set of estimators and pipelines needs nothing outside it. Everything else
(the registrant's own transformers, xgboost inside a pipeline, any other function) must be
named with ``--trust-type``. A name outside the set that does not resolve is not allowed
either: only names that import to exactly the listed object are kept.

Before skops reads a file at all, the zip is checked for its member count, declared sizes
and compression ratio (``check_bounds``), so a crafted file cannot exhaust memory.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from shipyard.errors import ModelLoadError, ShipyardError, UnsafeFormat
from shipyard.fs.archives import DEFAULT_MAX_RATIO, open_zip

logger = logging.getLogger(__name__)

MAX_MEMBERS = 200_000
"""Members of one skops file (a forest stores a few arrays per tree)."""
MAX_TOTAL_BYTES = 8 << 30
"""Declared uncompressed bytes of one skops file; skops stores arrays uncompressed by default."""

# Single internal types a fitted model holds, and the pure functions scikit-learn stores in
# fitted models as parameter defaults. Names that do not resolve in the installed version
# are dropped (scikit-learn moves internals between releases).
_INTERNAL_NAMES = (
    "sklearn.tree._tree.Tree",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.utils._bunch.Bunch",
    "sklearn.utils._metadata_requests.MetadataRequest",
    "sklearn.utils._metadata_requests.MethodMetadataRequest",
    "sklearn.utils._metadata_requests.MetadataRouter",
    "sklearn.utils._metadata_requests.MethodPair",
    "sklearn.utils._metadata_requests.MethodMapping",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.calibration._TemperatureScaling",
    "sklearn.multiclass._ConstantPredictor",
    "sklearn.metrics._scorer._PassthroughScorer",
    "sklearn.metrics._scorer._MultimetricScorer",
    "sklearn.gaussian_process._gpc._BinaryGaussianProcessClassifierLaplace",
    "sklearn.cluster._bisect_k_means._BisectingTree",
    "sklearn.compose._column_transformer._RemainderColsList",
    "sklearn.preprocessing._encoders._BaseEncoder",
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    # functions held by fitted models as defaults (all pure computations)
    "sklearn.feature_selection._univariate_selection.f_classif",
    "sklearn.feature_selection._univariate_selection.f_regression",
    "sklearn.feature_selection._univariate_selection.r_regression",
    "sklearn.feature_selection._univariate_selection.f_oneway",
    "sklearn.feature_selection._univariate_selection.chi2",
    "sklearn.feature_selection._mutual_info.mutual_info_classif",
    "sklearn.feature_selection._mutual_info.mutual_info_regression",
    "sklearn.cluster._kmeans._kmeans_single_lloyd",
    "sklearn.cluster._kmeans._kmeans_single_elkan",
    "sklearn.utils.validation.check_array",
    "numpy.mean",
    "scipy._lib.array_api_compat.numpy._aliases.asarray",
    "functools.partial",
    # numpy and scipy data
    "numpy.ndarray",
    "numpy.dtype",
    "numpy.ma.core.MaskedArray",
    "numpy.random.mtrand.RandomState",
    "numpy.random._generator.Generator",
    "numpy.random._pcg64.PCG64",
    "numpy.random._pcg64.PCG64DXSM",
    "numpy.random._mt19937.MT19937",
    "numpy.random._philox.Philox",
    "numpy.random._sfc64.SFC64",
    "numpy.random.bit_generator.SeedSequence",
    "scipy.interpolate._bsplines.BSpline",
)

# Families whose every subclass is a passive, fitted-state type.
_FAMILIES = (
    "sklearn._loss.loss.BaseLoss",
    "sklearn._loss.link.BaseLink",
    "sklearn._loss.link.Interval",
    "sklearn.gaussian_process.kernels.Kernel",
    "sklearn.gaussian_process.kernels.Hyperparameter",
    "sklearn.metrics._dist_metrics.DistanceMetric",
    "sklearn.model_selection._split.BaseCrossValidator",
    "sklearn.model_selection._split.BaseShuffleSplit",
    "sklearn.model_selection._split._RepeatedSplits",
    "sklearn.metrics._scorer._BaseScorer",
    "sklearn.neural_network._stochastic_optimizers.BaseOptimizer",
)
# A distance metric that calls a Python function the file names: that function needs trust.
_EXCLUDED = frozenset({"PyFuncDistance", "PyFuncDistance32", "PyFuncDistance64"})
_SPARSE_FORMATS = ("csr", "csc", "coo", "bsr", "dia", "dok", "lil")


def _name(obj: Any) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def _resolve(name: str) -> Any:
    module_name, _, attr = name.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, attr, None)


def _subclasses(root: type) -> Iterable[type]:
    stack = [root]
    seen: set[type] = set()
    while stack:
        cls = stack.pop()
        if cls in seen:
            continue
        seen.add(cls)
        yield cls
        stack.extend(cls.__subclasses__())


@functools.cache
def allowlist() -> frozenset[str]:
    """Every type (and function) name a skops file may use without being named by the registrant."""
    import numpy as np
    import scipy.sparse
    from sklearn.utils import all_estimators

    names: set[str] = set()
    for _, cls in all_estimators():
        if cls.__module__.startswith("sklearn."):
            names.add(_name(cls))
    for family in _FAMILIES:
        root = _resolve(family)
        if not isinstance(root, type):
            continue
        for cls in _subclasses(root):
            module = cls.__module__
            if module.startswith(("sklearn.", "numpy.", "scipy.")) and cls.__name__ not in _EXCLUDED:
                names.add(_name(cls))
    from sklearn.metrics._scorer import _SCORERS

    for scorer in _SCORERS.values():
        func = getattr(scorer, "_score_func", None)
        if inspect.isfunction(func) and func.__module__.startswith("sklearn.metrics"):
            names.add(_name(func))
    for name in _INTERNAL_NAMES:
        # skops imports exactly this name on load, so a name that resolves names what we vetted.
        obj = _resolve(name)
        if obj is not None and callable(obj):
            names.add(name)
            if isinstance(obj, type):
                names.add(_name(obj))  # where it is defined, which is what skops writes
    import numpy.dtypes

    for attr in dir(numpy.dtypes):
        obj = getattr(numpy.dtypes, attr)
        if isinstance(obj, type) and issubclass(obj, np.dtype):
            names.add(_name(obj))
    for scalar in set(np.sctypeDict.values()):
        names.add(f"numpy.{scalar.__name__}")
    for fmt in _SPARSE_FORMATS:
        for kind in ("matrix", "array"):
            cls = getattr(scipy.sparse, f"{fmt}_{kind}", None)
            if isinstance(cls, type):
                names.add(_name(cls))
    names -= {"numpy.memmap", "numpy.core.memmap.memmap", "numpy._core.memmap.memmap"}
    return frozenset(names)


def is_allowlisted(type_name: str) -> bool:
    """True when ``type_name`` is exactly one of the names ``allowlist`` holds."""
    return type_name in allowlist()


def check_bounds(path: Path) -> None:
    """Refuse a skops file whose zip holds too many members, declares too many bytes or
    expands too much, before skops reads any member (``UnsafeFormat``)."""
    with open_zip(path, max_members=MAX_MEMBERS, max_total_bytes=MAX_TOTAL_BYTES, max_ratio=DEFAULT_MAX_RATIO):
        pass


def untrusted_types(path: Path) -> list[str]:
    """Every type in the file that skops itself does not trust (read without loading)."""
    from skops.io import get_untrusted_types

    check_bounds(path)
    try:
        return sorted(get_untrusted_types(file=path))
    except ShipyardError:
        raise
    except RecursionError as exc:
        raise ModelLoadError(f"{path.name} is not a readable skops file: its object tree is too deep") from exc
    except Exception as exc:
        raise ModelLoadError(f"{path.name} is not a readable skops file: {short_reason(exc)}") from exc


def beyond_allowlist(path: Path) -> tuple[str, ...]:
    """The types in the file that the registrant must trust explicitly."""
    return tuple(name for name in untrusted_types(path) if not is_allowlisted(name))


def trusted_for_load(path: Path, extra: Iterable[str]) -> list[str]:
    """The full list to hand ``skops.io.load``, or ``UnsafeFormat`` naming what is missing."""
    named = set(extra)
    found = untrusted_types(path)
    missing = [name for name in found if name not in named and not is_allowlisted(name)]
    if missing:
        shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
        raise UnsafeFormat(
            f"{path.name} contains types that are not trusted: {shown}",
            hint=refusal_hint(missing[:10]),
            types=missing,
        )
    return found


def refusal_hint(missing: Iterable[str]) -> str:
    flags = " ".join(f"--trust-type {name}" for name in missing)
    return f"loading them may run their code; if you trust their source, register with {flags}"


def short_reason(exc: BaseException) -> str:
    # Messages from zipfile/json can quote whole paths or schema fragments: keep them short.
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 200 else text[:200] + "..."
