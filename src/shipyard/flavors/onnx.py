"""ONNX graphs run by onnxruntime on the CPU.

Outputs answer under the names every other flavor uses: at registration the usual
classifier pairs of converters (``output_label``/``output_probability``,
``label``/``probabilities``) become ``predict``/``predict_proba``, and the registrant may
name any graph output (``output_names``); the mapping is recorded in the version's metadata
(``OUTPUT_NAMES_KEY``), so a version registered before keeps its graph's names. A ZipMap
output, a list of ``{class: probability}`` dicts per row, becomes a 2-D float32 array with
one column per class in the graph's class order; converting with ``zipmap=False`` avoids it.

Thread safety: ``InferenceSession.run`` may be called from several threads at once. Each
session uses one intra-op thread by default because the server already runs requests in
parallel; set ``metadata["onnx_intra_op_threads"]`` to change it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import InvalidRequest, ModelLoadError, SignatureMismatch, UnsafeFormat, UnsupportedFormat
from shipyard.flavors.base import Flavor, LoadedModel, LoadOptions, SavedModel
from shipyard.flavors.classifier_outputs import PREDICT, PREDICT_PROBA
from shipyard.schema.batch import Batch, Outputs
from shipyard.schema.signature import FieldSpec, Signature, numpy_dtype

logger = logging.getLogger(__name__)

FILENAME = "model.onnx"
THREADS_KEY = "onnx_intra_op_threads"
OUTPUT_NAMES_KEY = "output_names"
"""``{graph output: name it answers as}`` in the version's metadata."""
USUAL_PAIRS = (("output_label", "output_probability"), ("label", "probabilities"))
"""Converters' classifier outputs (skl2onnx, onnxmltools, tf2onnx), named ``predict`` and
``predict_proba`` as every other flavor names them."""
_OUTPUT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")
# Field 1 of ModelProto (ir_version, a varint) is what every ONNX serializer writes first.
_IR_VERSION_TAG = 0x08

_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(double)": "float64",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(uint8)": "uint8",
    "tensor(uint16)": "uint16",
    "tensor(uint32)": "uint32",
    "tensor(uint64)": "uint64",
    "tensor(bool)": "bool",
    "tensor(string)": "string",
}
_NUMERIC = frozenset(v for v in _ORT_DTYPES.values() if v not in ("bool", "string"))


def _dtype(ort_type: str, where: str) -> str:
    try:
        return _ORT_DTYPES[ort_type]
    except KeyError:
        raise UnsupportedFormat(f"ONNX {where} has type {ort_type}, which Shipyard cannot serve") from None


def _shape(dims: list[Any]) -> tuple[int, ...]:
    # The first dimension is the batch; symbolic or unknown dimensions become -1.
    rest = tuple(d if isinstance(d, int) and d > 0 else -1 for d in dims[1:])
    return (-1, *rest)


def _zipmap_labels(model: Any) -> dict[str, np.ndarray]:
    """Class labels of each ZipMap node's output, in the order the converter wrote them."""
    labels: dict[str, np.ndarray] = {}
    for node in model.graph.node:
        if node.op_type != "ZipMap":
            continue
        for attr in node.attribute:
            if attr.name == "classlabels_strings":
                labels[node.output[0]] = np.asarray([s.decode() for s in attr.strings], dtype=object)
            elif attr.name == "classlabels_int64s":
                labels[node.output[0]] = np.asarray(list(attr.ints), dtype=np.int64)
    return labels


class OnnxModel(LoadedModel):
    flavor = "onnx"

    def __init__(self, session: Any, zipmaps: Mapping[str, np.ndarray], names: Mapping[str, str] | None = None) -> None:
        self._session = session
        self._inputs = [(i.name, i.type, list(i.shape)) for i in session.get_inputs()]
        self._zipmaps = dict(zipmaps)
        names = names or {}
        specs = []
        self._graph_outputs = []
        for out in session.get_outputs():
            self._graph_outputs.append(out.name)
            name = names.get(out.name, out.name)
            if out.name in self._zipmaps:
                specs.append(FieldSpec(name, "float32", shape=(-1, len(self._zipmaps[out.name]))))
            else:
                specs.append(FieldSpec(name, _dtype(out.type, f"output {out.name!r}"), shape=_shape(out.shape)))
        self._outputs = tuple(specs)
        self._signature = self._describe_inputs()

    def _describe_inputs(self) -> Signature:
        if len(self._inputs) == 1:
            _, ort_type, dims = self._inputs[0]
            dtype = _dtype(ort_type, "input")
            if dtype in _NUMERIC and len(dims) == 2 and isinstance(dims[1], int) and dims[1] > 0:
                return Signature(kind="columns", inputs=tuple(FieldSpec(f"x{i}", dtype) for i in range(dims[1])))
        fields = tuple(
            FieldSpec(name, _dtype(ort_type, f"input {name!r}"), shape=_shape(dims) if dims else (-1,))
            for name, ort_type, dims in self._inputs
        )
        return Signature(kind="tensors", inputs=fields)

    @property
    def outputs(self) -> tuple[FieldSpec, ...]:
        return self._outputs

    @property
    def graph_input_names(self) -> tuple[str, ...]:
        return tuple(name for name, _, _ in self._inputs)

    def input_signature(self) -> Signature:
        return self._signature

    def compilable(self, signature: Signature) -> None:
        raise UnsupportedFormat("the model is already ONNX")

    def predict(self, batch: Batch) -> Outputs:
        results = self._session.run(None, self._feeds(batch))
        outputs: Outputs = {}
        for spec, graph_name, value in zip(self._outputs, self._graph_outputs, results, strict=True):
            if graph_name in self._zipmaps:
                outputs[spec.name] = _unzip(value, self._zipmaps[graph_name])
            elif spec.dtype == "string":
                outputs[spec.name] = np.asarray(value, dtype=object)
            else:
                outputs[spec.name] = np.asarray(value)
        return outputs

    def _feeds(self, batch: Batch) -> dict[str, np.ndarray]:
        if self._signature.kind == "columns" and not batch.tensors:
            name = self._inputs[0][0]
            return {name: batch.as_matrix(numpy_dtype(self._signature.inputs[0].dtype))}
        feeds = {}
        for spec in self._signature.inputs:
            if spec.name in batch.tensors:
                value = batch.tensors[spec.name]
            elif not batch.tensors and spec.name in batch.signature.input_names:
                # A table whose columns are the graph's [N, 1] inputs (skl2onnx from a DataFrame).
                value = batch.column(spec.name).reshape(-1, 1)
            else:
                raise SignatureMismatch(f"the ONNX graph needs input {spec.name!r}")
            feeds[spec.name] = _as_input(value, spec.dtype)
        return feeds


def _as_input(value: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "string":
        return value if value.dtype.kind in ("U", "O") else value.astype(str)
    return value.astype(numpy_dtype(dtype), copy=False)


def _unzip(rows: list[dict[Any, float]], labels: np.ndarray) -> np.ndarray:
    keys = labels.tolist()
    out = np.empty((len(rows), len(keys)), dtype=np.float32)
    for i, row in enumerate(rows):
        out[i] = [row[k] for k in keys]
    return out


class OnnxFlavor(Flavor):
    """ONNX protobuf files, run with onnxruntime's CPU provider."""

    name = "onnx"

    def sniff(self, head: bytes, path: Path) -> bool:
        if not head or head[0] != _IR_VERSION_TAG:
            return False
        import onnx

        try:
            model = onnx.load(str(path), load_external_data=False)
        except Exception:
            # Protobuf parse errors have no common base class worth naming.
            return False
        return model.ir_version > 0 and len(model.graph.node) > 0 and len(model.graph.output) > 0

    def can_save(self, obj: Any) -> bool:
        return any(f"{c.__module__}.{c.__name__}" == "onnx.onnx_ml_pb2.ModelProto" for c in type(obj).__mro__)

    def output_metadata(self, path: Path, requested: Mapping[str, str] | None) -> dict[str, Any]:
        import onnx

        try:
            graph = onnx.load(str(path), load_external_data=False).graph
        except Exception as exc:
            raise ModelLoadError(f"{path.name} is not a readable ONNX model: {_reason(exc)}") from exc
        return {OUTPUT_NAMES_KEY: output_names([o.name for o in graph.output], requested or {})}

    def save(self, obj: Any, dest_dir: Path, *, trusted_types: tuple[str, ...] = ()) -> SavedModel:
        import onnx

        dest_dir.mkdir(parents=True, exist_ok=True)
        path = dest_dir / FILENAME
        try:
            onnx.save_model(obj, str(path))
        except Exception as exc:
            raise UnsupportedFormat(f"could not save the ONNX model: {exc}") from exc
        return SavedModel(path=path, flavor=self.name)

    def load(self, path: Path, options: LoadOptions) -> OnnxModel:
        import onnx
        import onnxruntime as ort

        threads = int(options.metadata.get(THREADS_KEY, 1))
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = threads
        session_options.inter_op_num_threads = 1
        session_options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        try:
            data = path.read_bytes()
            graph = onnx.load_model_from_string(data)
        except Exception as exc:
            raise ModelLoadError(f"{path.name} is not a readable ONNX model: {_reason(exc)}") from exc
        external = external_tensors(graph)
        if external:
            raise UnsafeFormat(
                f"{path.name} keeps tensor data in other files ({', '.join(external[:5])}): "
                "only self-contained ONNX models are accepted",
                hint="save the model with onnx.save_model(model, path, save_as_external_data=False)",
            )
        try:
            # From bytes, not the path: onnxruntime then has no directory to resolve any
            # external data against, whatever the graph says.
            session = ort.InferenceSession(data, sess_options=session_options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelLoadError(f"onnxruntime could not load {path.name}: {_reason(exc)}") from exc
        logger.debug("loaded ONNX graph %s with %d intra-op threads", path.name, threads)
        names = options.metadata.get(OUTPUT_NAMES_KEY) or {}
        return OnnxModel(session, _zipmap_labels(graph), {str(k): str(v) for k, v in dict(names).items()})


def output_names(graph_outputs: list[str], requested: Mapping[str, str]) -> dict[str, str]:
    """``{graph output: name}``: the usual classifier pair renamed, then the registrant's own
    names over it; refuses names of outputs the graph lacks, and two outputs with one name."""
    unknown = [k for k in requested if k not in graph_outputs]
    if unknown:
        raise InvalidRequest(
            f"the ONNX graph has no output {unknown[0]!r}", hint=f"its outputs are {', '.join(graph_outputs)}"
        )
    bad = [v for v in requested.values() if not isinstance(v, str) or not _OUTPUT_NAME.match(v)]
    if bad:
        raise InvalidRequest(f"output name {bad[0]!r} is not a valid name (letters, digits, _ . : -)")
    names: dict[str, str] = {}
    for label, proba in USUAL_PAIRS:
        if graph_outputs[:2] == [label, proba]:
            names = {label: PREDICT, proba: PREDICT_PROBA}
    names.update(requested)
    answered = [names.get(o, o) for o in graph_outputs]
    twice = sorted({n for n in answered if answered.count(n) > 1})
    if twice:
        raise InvalidRequest(f"two ONNX outputs would both be named {twice[0]!r}", hint="name each output once")
    return {k: v for k, v in names.items() if k != v}


def external_tensors(model: Any) -> list[str]:
    """The names of the tensors whose data ``model`` keeps outside itself (external data),
    in its graph, its subgraphs and its functions."""
    from onnx import AttributeProto, TensorProto

    found: list[str] = []

    def tensor(t: Any) -> None:
        if t.data_location == TensorProto.EXTERNAL or len(t.external_data):
            found.append(t.name or "(unnamed)")

    def sparse(st: Any) -> None:
        tensor(st.values)
        tensor(st.indices)

    def nodes(items: Any) -> None:
        for node in items:
            for attr in node.attribute:
                if attr.type == AttributeProto.TENSOR or attr.HasField("t"):
                    tensor(attr.t)
                for t in attr.tensors:
                    tensor(t)
                if attr.HasField("sparse_tensor"):
                    sparse(attr.sparse_tensor)
                for st in attr.sparse_tensors:
                    sparse(st)
                if attr.HasField("g"):
                    graph(attr.g)
                for g in attr.graphs:
                    graph(g)

    def graph(g: Any) -> None:
        for t in g.initializer:
            tensor(t)
        for st in g.sparse_initializer:
            sparse(st)
        nodes(g.node)

    graph(model.graph)
    for function in model.functions:
        nodes(function.node)
    return found


def _reason(exc: BaseException) -> str:
    # onnx and onnxruntime messages can quote the file's full path; keep the first line, short.
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."
