"""A run that cannot complete exits 3 with one line saying why, and what finished is recorded."""
from __future__ import annotations

from pathlib import Path

import onnx
import onnx.helper as helper
import pytest
from images import encoded, photo

from jobs import cli
from jobs.common import run_command


def model_no_runtime_loads(path: Path) -> None:
    """A well-formed graph (the driver's check passes) made of an operator no runtime has."""
    image = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, "h", "w"])
    out = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, "h", "w"])
    graph = helper.make_graph([helper.make_node("NoSuchOp", ["x"], ["y"], domain="stylebatch.test")], "g", [image], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("stylebatch.test", 1)])
    model.ir_version = 8
    onnx.save(model, path)


def test_a_model_that_loads_on_no_actor_ends_the_run_with_status_3(ray_cluster, tmp_path: Path, capsys) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.png").write_bytes(encoded(photo(16, 16)))
    model_no_runtime_loads(tmp_path / "custom.onnx")
    with pytest.raises(SystemExit) as exit_info:
        run_command(cli.main, ["convert", str(source), str(tmp_path / "out"), "--operator", "onnx",
                               "--weights", str(tmp_path / "custom.onnx")])
    assert exit_info.value.code == 3
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message.startswith("stylebatch: the run could not complete: ConfigError: ")
    assert "is not a loadable ONNX model" in message and "run the same command again" in message
