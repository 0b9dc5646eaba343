"""The AnimeGANv2 generator: checkpoint format, loading, pre/post-processing, sizes."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from images import photo

from operators.animegan import Generator
from operators.errors import ConfigError
from operators.registry import get_operator

SPEC = get_operator("animegan")


def build(weights: Path | str, **settings: str):
    return SPEC.build(SPEC.resolve({"weights": str(weights), **settings}), "cpu", {})


def test_module_tree_reproduces_public_checkpoint_keys() -> None:
    state = Generator().state_dict()
    assert state["block_a.0.1.weight"].shape == (32, 3, 7, 7)
    assert state["block_c.1.layers.1.1.bias"].shape == (256,)  # depthwise conv of the first inverted block
    assert state["block_c.1.layers.2.weight"].shape == (256, 256, 1, 1)
    assert state["out_layer.0.weight"].shape == (3, 32, 1, 1)
    assert {k.split(".")[0] for k in state} == {"block_a", "block_b", "block_c", "block_d", "block_e", "out_layer"}
    assert len(state) == 77 and sum(v.numel() for v in state.values()) == 2_143_552


@pytest.mark.parametrize("align_corners", ["false", "true"])
@pytest.mark.parametrize("size", [(37, 51), (64, 64), (5, 3), (1, 1)])
def test_any_size_in_same_size_out(animegan_weights: Path, align_corners: str, size: tuple[int, int]) -> None:
    stylize = build(animegan_weights, align_corners=align_corners)
    images = np.stack([photo(size[1], size[0], seed=s) for s in range(2)])
    out = stylize(images)
    assert out.shape == images.shape and out.dtype == np.uint8


@pytest.mark.parametrize("align_corners", [False, True])
def test_output_is_the_generator_on_inputs_scaled_to_plus_minus_one(animegan_weights: Path, align_corners: bool) -> None:
    net = Generator()
    net.load_state_dict(torch.load(animegan_weights, weights_only=True))
    net.eval()
    image = photo(64, 48)
    with torch.no_grad():
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        expected = ((net(x, align_corners)[0].permute(1, 2, 0).numpy() + 1.0) * 127.5).clip(0, 255)
    out = build(animegan_weights, align_corners=str(align_corners))(image[None])[0]
    assert np.abs(out.astype(np.float64) - expected).max() <= 1.0


@pytest.mark.parametrize("size", [(257, 333), (31 + 32, 45), (64, 48)])
def test_align_corners_runs_every_size_as_the_reference_does(animegan_weights: Path, size: tuple[int, int]) -> None:
    """The reference generator with upsample_align takes the image as it is (no padding): so must we."""
    net = Generator()
    net.load_state_dict(torch.load(animegan_weights, weights_only=True))
    net.eval()
    image = photo(size[1], size[0], seed=3)
    with torch.no_grad():
        x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 127.5 - 1.0
        reference = ((net(x, True)[0].permute(1, 2, 0).numpy() + 1.0) * 127.5).clip(0, 255)
    out = build(animegan_weights, align_corners="true")(image[None])[0].astype(np.float64)
    assert out.shape == reference.shape
    assert np.percentile(np.abs(out - reference), 99.9) <= 1.0


def test_upsampling_modes_differ(animegan_weights: Path) -> None:
    image = photo(64, 48)[None]
    assert not np.array_equal(build(animegan_weights, align_corners="true")(image),
                              build(animegan_weights, align_corners="false")(image))


def test_folder_plus_preset_names_the_public_file(animegan_weights: Path) -> None:
    options = SPEC.resolve({"weights": str(animegan_weights.parent) + "/", "preset": "paprika"})
    assert options["weights"] == str(animegan_weights)
    SPEC.build(options, "cpu", {})


def test_missing_weights_say_where_to_get_them() -> None:
    with pytest.raises(ConfigError, match="public checkpoints"):
        SPEC.resolve({})


def test_nonexistent_weights_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no file at"):
        build(tmp_path / "nope.pt")


def test_wrong_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(ConfigError, match="does not fit Generator"):
        build(path)


class Payload:
    """Anything that is not a tensor: unpickling it would run code."""

    def __reduce__(self):
        return (os.getcwd, ())


def test_checkpoint_with_pickled_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"block_a.0.1.weight": Payload()}, path)
    with pytest.raises(ConfigError, match="refusing .*pickled Python objects"):
        build(path)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "text.pt"
    path.write_text("hello")
    with pytest.raises(ConfigError, match="not a PyTorch checkpoint|refusing"):
        build(path)


def test_unknown_option_and_bad_value() -> None:
    with pytest.raises(ConfigError, match="no option"):
        SPEC.resolve({"weights": "x.pt", "colour": "red"})
    with pytest.raises(ConfigError, match="not a valid bool"):
        SPEC.resolve({"weights": "x.pt", "align_corners": "maybe"})
