"""The driver's checks before any work: cheap (no network built, no big file read whole) and specific."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import psutil
import pytest
import torch
from images import encoded, photo

from operators.errors import ConfigError
from operators.registry import get_operator


def test_gatys_checks_vgg19_keys_and_shapes_without_loading_it(tmp_path: Path, vgg19_weights: Path) -> None:
    style = tmp_path / "style.png"
    style.write_bytes(encoded(photo(32, 32)))
    spec = get_operator("gatys")
    options = spec.resolve({"style": str(style), "vgg_weights": str(vgg19_weights)})
    assert vgg19_weights.stat().st_size > 500e6  # the real size of torchvision's file
    before = psutil.Process().memory_info().rss
    spec.check(options, {})
    assert psutil.Process().memory_info().rss - before < 100e6
    assert spec.files_of(options) == {"style": [str(style)], "vgg_weights": [str(vgg19_weights)]}


def test_a_vgg_file_with_a_wrong_layer_shape_is_refused(tmp_path: Path) -> None:
    import torchvision

    state = torchvision.models.vgg19(weights=None).state_dict()
    state["features.28.weight"] = torch.zeros(512, 256, 3, 3)
    path = tmp_path / "vgg19.pth"
    torch.save(state, path)
    style = tmp_path / "style.png"
    style.write_bytes(encoded(photo(32, 32)))
    spec = get_operator("gatys")
    with pytest.raises(ConfigError, match=r"does not fit vgg19: features.28.weight is \(512, 256, 3, 3\)"):
        spec.check(spec.resolve({"style": str(style), "vgg_weights": str(path)}), {})
    with pytest.raises(ConfigError, match="no file at"):
        spec.check(spec.resolve({"style": str(tmp_path / "nope.png"), "vgg_weights": str(path)}), {})
    with pytest.raises(ConfigError, match="vgg19 has no layer conv9_1"):
        spec.check(spec.resolve({"style": str(style), "vgg_weights": "torchvision", "style_layers": "conv9_1"}), {})


def test_animegan_checkpoint_shapes_are_checked_on_the_driver(tmp_path: Path, animegan_weights: Path) -> None:
    spec = get_operator("animegan")
    spec.check(spec.resolve({"weights": str(animegan_weights)}), {})
    state = torch.load(animegan_weights, weights_only=True)
    state["out_layer.0.weight"] = torch.zeros(3, 64, 1, 1)
    wrong = tmp_path / "wrong.pt"
    torch.save(state, wrong)
    with pytest.raises(ConfigError, match=r"does not fit Generator: out_layer.0.weight is \(3, 64, 1, 1\)"):
        spec.check(spec.resolve({"weights": str(wrong)}), {})


def test_regional_modes_and_onnx_graphs_are_checked_without_a_session(tmp_path: Path) -> None:
    regional = get_operator("regional-nst")
    with pytest.raises(ConfigError, match="needs --set style_map"):
        regional.check(regional.resolve({"mode": "region", "style": "s.png", "vgg_weights": "torchvision"}), {})
    assert regional.companion(regional.resolve({"mode": "mask"})).suffix == ".map"
    assert regional.companion(regional.resolve({"preset": "doodle"})) is None
    onnx_spec = get_operator("onnx")
    onnx_spec.check(onnx_spec.resolve({"preset": "multistyle26"}), {})
    with pytest.raises(ConfigError, match="needs input"):
        onnx_spec.check(onnx_spec.resolve({"preset": "multistyle26", "style": ""}), {})
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not a loadable ONNX model"):
        onnx_spec.check(onnx_spec.resolve({"weights": str(junk)}), {})


def test_legacy_format_checkpoints_are_checked_and_loaded(tmp_path: Path) -> None:
    """pytorch/examples' saved fast-neural-style models predate the zip format (they cannot be mapped)."""
    from operators.fast_nst import TransformerNet

    state = TransformerNet().state_dict()
    state["in1.running_mean"] = torch.zeros(32)  # pre-0.4 instance norms saved running statistics
    path = tmp_path / "mosaic.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)
    spec = get_operator("fast-nst")
    options = spec.resolve({"weights": str(path)})
    spec.check(options, {})
    assert spec.build(options, "cpu", {})(np.zeros((1, 16, 16, 3), np.uint8)).shape == (1, 16, 16, 3)
