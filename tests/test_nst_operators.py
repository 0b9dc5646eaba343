"""gatys and fast-nst: loss reduction, batching, checkpoint formats, sizes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from images import encoded, photo

from operators.errors import ConfigError
from operators.fast_nst import TransformerNet
from operators.registry import get_operator
from operators.tensors import to_tensor


@pytest.fixture(scope="module")
def style_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("style") / "style.png"
    rng = np.random.default_rng(1)
    stripes = np.zeros((48, 48, 3), np.uint8)
    stripes[::4] = (230, 40, 20)
    stripes[:, ::6] = (20, 40, 230)
    path.write_bytes(encoded(np.clip(stripes + rng.integers(0, 30, stripes.shape), 0, 255).astype(np.uint8)))
    return path


def gatys(vgg19_weights: Path, style_image: Path, **settings: str):
    spec = get_operator("gatys")
    options = spec.resolve({"vgg_weights": str(vgg19_weights), "style": str(style_image), "size": "32", **settings})
    return spec.build(options, "cpu", {})


@pytest.mark.parametrize("init, kept", [("noise", 0.1), ("content", 0.7)])
def test_gatys_reduces_total_loss(vgg19_weights: Path, style_image: Path, init: str, kept: float) -> None:
    """From the paper's white-noise start the loss falls by at least 90% within the step budget;
    from the content image (style loss only at the start) it falls too."""
    stylizer = gatys(vgg19_weights, style_image, steps="60", init=init)
    content = to_tensor(np.stack([photo(32, 24, seed=s) for s in range(2)]), torch.device("cpu"), 0, 1, torch.float32)
    with torch.no_grad():
        targets = stylizer.vgg(content)[stylizer.content_layer]
        before = stylizer.total_loss(stylizer.initial_image(content), targets, {}).item()
    result = stylizer.optimise(content)
    with torch.no_grad():
        after = stylizer.total_loss(result, targets, {}).item()
    assert after <= kept * before, (before, after)


def test_gatys_batch_keeps_size_and_images_apart(vgg19_weights: Path, style_image: Path) -> None:
    stylizer = gatys(vgg19_weights, style_image, steps="10", optimizer="adam", lr="0.05")
    images = np.stack([photo(40, 30, seed=0), photo(40, 30, seed=1)])
    batch = stylizer(images)
    alone = stylizer(images[1:])
    assert batch.shape == images.shape
    assert np.abs(batch[1].astype(int) - alone[0]).mean() < 1.0  # Adam is per-element: same result batched
    assert np.abs(batch.astype(int) - images).mean() > 1.0


def test_gatys_keep_colors_keeps_chroma(vgg19_weights: Path, style_image: Path) -> None:
    images = photo(32, 32)[None]
    plain = gatys(vgg19_weights, style_image, steps="15")(images)
    kept = gatys(vgg19_weights, style_image, steps="15", keep_colors="true")(images)
    def chroma(a: np.ndarray) -> np.ndarray:
        return a.astype(float) - a.astype(float).mean(axis=-1, keepdims=True)
    assert np.abs(chroma(kept) - chroma(images)).mean() < np.abs(chroma(plain) - chroma(images)).mean()


def test_gatys_needs_a_style_image(vgg19_weights: Path) -> None:
    spec = get_operator("gatys")
    with pytest.raises(ConfigError, match="a style image is needed"):
        spec.build(spec.resolve({"vgg_weights": str(vgg19_weights)}), "cpu", {})


def public_format_checkpoint(path: Path) -> Path:
    """A TransformerNet state dict as the public .pth files have it, legacy running stats included."""
    torch.manual_seed(0)
    state = TransformerNet().state_dict()
    for name in [k for k in state if k.endswith(".weight") and k.split(".")[-2].startswith("in")]:
        prefix = name[: -len("weight")]
        state[prefix + "running_mean"] = torch.zeros_like(state[name])
        state[prefix + "running_var"] = torch.ones_like(state[name])
    torch.save(state, path)
    return path


def test_fast_nst_loads_public_checkpoint_with_legacy_keys(tmp_path: Path) -> None:
    path = public_format_checkpoint(tmp_path / "mosaic.pth")
    keys = torch.load(path, weights_only=True).keys()
    assert {"conv1.conv2d.weight", "in1.weight", "res1.conv1.conv2d.weight", "deconv1.conv2d.weight",
            "in1.running_mean", "res3.in2.running_var"} <= set(keys)
    spec = get_operator("fast-nst")
    stylize = spec.build(spec.resolve({"weights": str(path)}), "cpu", {})
    for size in [(29, 43), (64, 64), (3, 5)]:
        images = np.stack([photo(size[1], size[0], seed=s) for s in range(2)])
        assert stylize(images).shape == images.shape


def test_fast_nst_is_the_network_on_0_255(tmp_path: Path) -> None:
    path = public_format_checkpoint(tmp_path / "candy.pth")
    spec = get_operator("fast-nst")
    stylize = spec.build(spec.resolve({"weights": str(path)}), "cpu", {})
    net = TransformerNet()
    net.load_state_dict({k: v for k, v in torch.load(path, weights_only=True).items() if "running" not in k})
    image = photo(32, 24)
    with torch.no_grad():
        expected = net(torch.from_numpy(image).permute(2, 0, 1)[None].float())[0].permute(1, 2, 0).clamp(0, 255)
    assert np.abs(stylize(image[None])[0].astype(float) - expected.numpy()).max() <= 1.0
