"""regional-nst: patch matching, masked styles, hard masks, doodles, maps through the pipeline."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from images import encoded, photo
from PIL import Image

from operators.errors import ConfigError
from operators.regional_nst import nearest_patches, palette_of, region_masks
from operators.registry import get_operator
from pipeline.run import ConvertConfig, convert
from pipeline.settings import ModelSettings
from pipeline.video.run import VideoConfig, convert_video

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def two_colour_map(height: int, width: int, left=RED, right=BLUE) -> np.ndarray:
    semantic = np.zeros((height, width, 3), np.uint8)
    semantic[:, : width // 2] = left
    semantic[:, width // 2 :] = right
    return semantic


@pytest.fixture(scope="module")
def style_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("regional-style")
    style = np.zeros((48, 48, 3), np.uint8)
    style[:, :24] = (200, 40, 40)
    style[::3, :24] = (250, 220, 30)
    style[:, 24:] = (30, 60, 200)
    style[:, 24::4] = (240, 240, 240)
    (folder / "style.png").write_bytes(encoded(style))
    (folder / "style.map.png").write_bytes(encoded(two_colour_map(48, 48)))
    return folder / "style.png", folder / "style.map.png"


def build(vgg19_weights: Path, style_files: tuple[Path, Path], **settings: str):
    spec = get_operator("regional-nst")
    options = spec.resolve({"vgg_weights": str(vgg19_weights), "style": str(style_files[0]),
                            "style_map": str(style_files[1]), "size": "32", "steps": "8", **settings})
    return spec.build(options, "cpu", {})


def test_patch_matching_picks_the_semantically_matching_patch() -> None:
    features = torch.ones(4, 6, 8)  # identical raw features everywhere: only the map can decide
    key_map = torch.zeros(2, 6, 8)
    key_map[0, :, :4] = 1.0  # region A on the left
    key_map[1, :, 4:] = 1.0  # region B on the right
    keys = torch.cat([features, 10 * key_map])
    query_map = torch.zeros(2, 3, 3)
    query_map[1] = 1.0  # the whole query is region B
    query = torch.cat([torch.ones(4, 3, 3), 10 * query_map])
    matches = nearest_patches(query, keys, 3)
    columns = matches % 8
    assert (columns >= 4).all(), "every query patch must come from region B"


def test_palette_and_region_masks() -> None:
    semantic = two_colour_map(10, 10)
    palette = palette_of(semantic)
    assert len(palette) == 2
    masks = region_masks(semantic, palette)
    assert masks.shape == (2, 10, 10) and (masks.sum(axis=0) == 1).all()


def test_mask_mode_leaves_pixels_outside_a_hard_mask_unchanged(vgg19_weights: Path, style_files) -> None:
    stylize = build(vgg19_weights, style_files, mode="mask")
    image = photo(40, 32)
    mask = np.zeros((32, 40, 3), np.uint8)
    mask[8:24, 10:30] = 255
    out = stylize(np.concatenate([image, mask], -1)[None])[0]
    outside = mask[..., 0] == 0
    assert np.array_equal(out[outside], image[outside])
    assert np.abs(out[~outside].astype(int) - image[~outside]).mean() > 1.0


def test_region_only_keeps_regions_the_style_lacks(vgg19_weights: Path, style_files) -> None:
    stylize = build(vgg19_weights, style_files, mode="region", region_only="true")
    image = photo(40, 32)
    semantic = two_colour_map(32, 40, left=RED, right=GREEN)  # green is not in the style map
    out = stylize(np.concatenate([image, semantic], -1)[None])[0]
    assert np.array_equal(out[:, 20:], image[:, 20:])
    assert np.abs(out[:, :20].astype(int) - image[:, :20]).mean() > 1.0


@pytest.mark.parametrize("mode", ["patch", "doodle"])
def test_patch_and_doodle_modes_paint_at_input_size(vgg19_weights: Path, style_files, mode: str) -> None:
    stylize = build(vgg19_weights, style_files, mode=mode, patch_layers="relu3_1", steps="5")
    semantic = two_colour_map(24, 32, left=BLUE, right=RED)
    images = semantic[None] if mode == "doodle" else np.concatenate([photo(32, 24), semantic], -1)[None]
    out = stylize(images)
    assert out.shape == (1, 24, 32, 3)


def test_maps_travel_beside_inputs_through_the_pipeline(ray_cluster, tmp_path: Path, vgg19_weights: Path,
                                                        style_files) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "photo.png").write_bytes(encoded(photo(40, 32)))
    mask = np.zeros((32, 40, 3), np.uint8)
    mask[:, 20:] = 255
    (source / "photo.map.png").write_bytes(encoded(mask))
    (source / "lonely.png").write_bytes(encoded(photo(40, 32)))  # no map beside it
    model = ModelSettings("regional-nst", {"mode": "mask", "vgg_weights": str(vgg19_weights),
                                           "style": str(style_files[0]), "size": "32", "steps": "5"})
    result = convert(ConvertConfig(input=str(source), output=str(tmp_path / "out"), model=model))
    assert (result.totals.inputs, result.totals.converted, result.totals.failed) == (2, 1, 1)
    out = np.asarray(Image.open(tmp_path / "out" / "photo.png"))
    assert np.array_equal(out[:, :20], photo(40, 32)[:, :20])


def test_video_refuses_an_operator_that_reads_a_map_with_every_image(tmp_path: Path, vgg19_weights: Path,
                                                                     style_files) -> None:
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"checked before it is opened")
    model = ModelSettings("regional-nst", {"mode": "mask", "vgg_weights": str(vgg19_weights),
                                           "style": str(style_files[0])})
    with pytest.raises(ConfigError, match="reads a semantic map with every image; video frames have none"):
        convert_video(VideoConfig(input=str(video), output=str(tmp_path / "out.mp4"), model=model))
