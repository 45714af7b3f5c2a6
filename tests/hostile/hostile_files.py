"""Hand-built hostile model files: crafted skops schemas, bombs, ONNX pointing outside itself."""

from __future__ import annotations

import itertools
import json
import zipfile
from pathlib import Path
from typing import Any

_ids = itertools.count(1)


def json_node(value: Any) -> dict[str, Any]:
    return {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
        "__id__": next(_ids),
    }


def tuple_node(*values: Any) -> dict[str, Any]:
    return {
        "__class__": "tuple",
        "__module__": "builtins",
        "__loader__": "TupleNode",
        "content": [json_node(v) for v in values],
        "__id__": next(_ids),
    }


def call_node(module: str, name: str, *args: Any) -> dict[str, Any]:
    """A node skops loads by calling ``module.name(*args)`` (its reduce-constructor loader)."""
    return {
        "__class__": name,
        "__module__": module,
        "__loader__": "ConstructorFromReduceNode",
        "content": tuple_node(*args),
        "__id__": next(_ids),
    }


def function_node(module: str, name: str) -> dict[str, Any]:
    return {"__class__": name, "__module__": module, "__loader__": "FunctionNode", "__id__": next(_ids)}


def write_skops(path: Path, root: dict[str, Any], *, extra: dict[str, bytes] | None = None) -> Path:
    schema = {**root, "protocol": 2, "_skops_version": "0.16.0"}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("schema.json", json.dumps(schema))
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return path


def skops_calling(path: Path, module: str, name: str, *args: Any) -> Path:
    """A skops file whose top object is ``module.name(*args)``, in a list (as a pipeline would hold it)."""
    root = {
        "__class__": "list",
        "__module__": "builtins",
        "__loader__": "ListNode",
        "content": [call_node(module, name, *args)],
        "__id__": next(_ids),
    }
    return write_skops(path, root)


def skops_bomb(path: Path, *, uncompressed: int = 800 << 20) -> Path:
    """A valid-looking skops file with one array member that deflates to ``uncompressed`` bytes."""
    header = (
        b"\x93NUMPY\x01\x00"
        + b"v\x00"
        + f"{{'descr': '|u1', 'fortran_order': False, 'shape': ({uncompressed},), }}".encode().ljust(117)
        + b"\n"
    )
    root = {
        "__class__": "ndarray",
        "__module__": "numpy",
        "__loader__": "NdArrayNode",
        "type": "numpy",
        "file": "bomb.npy",
        "__id__": next(_ids),
    }
    schema = {**root, "protocol": 2, "_skops_version": "0.16.0"}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("schema.json", json.dumps(schema))
        with zf.open("bomb.npy", "w", force_zip64=True) as out:
            out.write(header)
            chunk = bytes(1 << 20)
            for _ in range(uncompressed >> 20):
                out.write(chunk)
    return path


def zip_bomb(path: Path, *, uncompressed: int = 800 << 20, members: int = 1) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        per = uncompressed // members
        for index in range(members):
            with zf.open(f"pkg/data{index}.bin", "w", force_zip64=True) as out:
                chunk = bytes(1 << 20)
                left = per
                while left > 0:
                    out.write(chunk[: min(left, len(chunk))])
                    left -= len(chunk)
        zf.writestr("pkg/model.py", "class Model:\n    def predict(self, X):\n        return X\n")
    return path


def onnx_with_external_data(path: Path, location: str) -> Path:
    """A small ONNX graph (Y = X + W) whose initializer W lives at ``location`` (external data)."""
    from onnx import TensorProto, helper

    weight = helper.make_tensor("W", TensorProto.FLOAT, [2], [1.0, 2.0])
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "8")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "W"], ["Y"])],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path.write_bytes(model.SerializeToString())
    return path


def snapshot_tree(root: Path, *, ignore: tuple[str, ...] = (".log",)) -> dict[str, tuple[int, int]]:
    """Every file (relative path: size, mtime ns) and directory (path: -1, 0) under ``root``,
    logs left out, so a leftover temporary directory counts as a change too.

    SQLite's WAL and shared-memory files change on reads, so the registry database is
    compared through the API or the store instead (see the callers)."""
    out: dict[str, tuple[int, int]] = {}
    for path in sorted(root.rglob("*")):
        if path.name.endswith(ignore) or "registry.db" in path.name:
            continue
        relative = path.relative_to(root).as_posix()
        if path.is_dir():
            # The scratch root itself is made on first use; what is left inside it counts.
            if relative != "tmp":
                out[relative] = (-1, 0)
        elif path.is_file():
            stat = path.stat()
            out[relative] = (stat.st_size, stat.st_mtime_ns)
    return out
