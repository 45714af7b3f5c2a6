"""ONNX graphs run by onnxruntime on the CPU.

Outputs keep the graph's output names (skl2onnx classifiers answer ``label`` and
``probabilities``, or ``output_label`` and ``output_probability``). A ZipMap output, a
list of ``{class: probability}`` dicts per row, becomes a 2-D float32 array with one
column per class in the graph's class order; converting with ``zipmap=False`` avoids it.

Thread safety: ``InferenceSession.run`` may be called from several threads at once. Each
session uses one intra-op thread by default because the server already runs requests in
parallel; set ``metadata["onnx_intra_op_threads"]`` to change it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.errors import ModelLoadError, SignatureMismatch, UnsafeFormat, UnsupportedFormat
from shipyard.flavors.base import Flavor, LoadedModel, LoadOptions, SavedModel
from shipyard.schema.batch import Batch, Outputs
from shipyard.schema.signature import FieldSpec, Signature, numpy_dtype

logger = logging.getLogger(__name__)

FILENAME = "model.onnx"
THREADS_KEY = "onnx_intra_op_threads"
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

    def __init__(self, session: Any, zipmaps: Mapping[str, np.ndarray]) -> None:
        self._session = session
        self._inputs = [(i.name, i.type, list(i.shape)) for i in session.get_inputs()]
        self._zipmaps = dict(zipmaps)
        specs = []
        for out in session.get_outputs():
            if out.name in self._zipmaps:
                specs.append(FieldSpec(out.name, "float32", shape=(-1, len(self._zipmaps[out.name]))))
            else:
                specs.append(FieldSpec(out.name, _dtype(out.type, f"output {out.name!r}"), shape=_shape(out.shape)))
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

    def predict(self, batch: Batch) -> Outputs:
        results = self._session.run(None, self._feeds(batch))
        outputs: Outputs = {}
        for spec, value in zip(self._outputs, results, strict=True):
            if spec.name in self._zipmaps:
                outputs[spec.name] = _unzip(value, self._zipmaps[spec.name])
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
        return OnnxModel(session, _zipmap_labels(graph))


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
