"""The null model of the benchmarks: an ONNX graph that returns its image unchanged, run through the
`onnx` operator, so a benchmark measures everything but the network."""
from __future__ import annotations

from pathlib import Path

import onnx
from onnx import TensorProto, helper


def identity_model(path: Path) -> Path:
    """An ONNX graph that returns its NCHW image input unchanged."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["out"])], "identity",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, "h", "w"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["n", 3, "h", "w"])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)
    return path
