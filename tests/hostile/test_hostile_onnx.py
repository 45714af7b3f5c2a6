"""ONNX: only self-contained models load; a tensor whose data lives in another file is refused."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from hostile_files import onnx_with_external_data, snapshot_tree

from homes import open_home
from shipyard.errors import ModelRejected, UnsafeFormat
from shipyard.flavors.base import LoadOptions
from shipyard.flavors.onnx import OnnxFlavor

WEIGHTS = struct.pack("<2f", 10.0, 20.0)


def test_the_crafted_model_really_reads_the_outside_file(tmp_path: Path) -> None:
    # Proof the hostile file works as an attacker means it to when loaded by path.
    import onnxruntime as ort

    (tmp_path / "w.bin").write_bytes(WEIGHTS)
    path = onnx_with_external_data(tmp_path / "m.onnx", "w.bin")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, {"X": np.zeros((1, 2), np.float32)})
    assert out.tolist() == [[10.0, 20.0]]


@pytest.mark.parametrize(
    "location",
    ["{outside}", "../outside/w.bin", "../../outside/w.bin", "w.bin", "./w.bin", "sub/../w.bin", "/etc/passwd"],
)
def test_external_data_anywhere_is_refused(location: str, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "w.bin").write_bytes(WEIGHTS)
    bundle = tmp_path / "bundle" / "x"
    bundle.mkdir(parents=True)
    (bundle / "w.bin").write_bytes(WEIGHTS)
    path = onnx_with_external_data(bundle / "model.onnx", location.format(outside=outside / "w.bin"))
    with pytest.raises(UnsafeFormat, match="self-contained") as info:
        OnnxFlavor().load(path, LoadOptions())
    assert str(tmp_path) not in info.value.message


def test_an_external_data_registration_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "w.bin").write_bytes(WEIGHTS)
    path = onnx_with_external_data(tmp_path / "model.onnx", str(tmp_path / "w.bin"))
    services = open_home(home)
    try:
        before = snapshot_tree(home)
        with pytest.raises((UnsafeFormat, ModelRejected)):
            services.registry.register("ext", path, sample=np.zeros((1, 2), np.float32))
        assert snapshot_tree(home) == before
        assert services.store.list_models() == []
    finally:
        services.close()


def test_a_self_contained_model_still_loads(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    weight = helper.make_tensor("W", TensorProto.FLOAT, [2], [1.0, 2.0])
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "W"], ["Y"])],
        "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 2])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "ok.onnx"
    onnx.save_model(model, str(path))
    loaded = OnnxFlavor().load(path, LoadOptions())
    assert loaded.input_signature() is not None
