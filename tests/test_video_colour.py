"""Video colours: RGB to yuv420p for the encoders in the input's matrix and range (swscale's luma,
chroma filtered over each 2x2 block, PyAV's layout), frames to RGB through their own tags, outputs
tagged as their inputs, and no bias through a whole run."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from av.video.reformatter import ColorRange, Interpolation
from videos import moving_pattern

from pipeline.settings import ModelSettings
from pipeline.video.colour import VideoColour, frame_rgb, rgb_to_yuv420p
from pipeline.video.run import VideoConfig, convert_video

SWSCALE_MATRIX = {"bt601": "ITU601", "bt709": "ITU709", "bt2020": "BT2020"}

BT601 = VideoColour("bt601", primaries=6, transfer=6)
COLOURS = [BT601, VideoColour("bt709"), VideoColour("bt709", full_range=True), VideoColour("bt2020", primaries=9, transfer=14),
           VideoColour("bt601", full_range=True, primaries=6, transfer=6)]


def swscale(rgb: np.ndarray, colour: VideoColour = BT601) -> np.ndarray:
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
        format="yuv420p", dst_colorspace=SWSCALE_MATRIX[colour.matrix],
        dst_color_range=ColorRange.JPEG if colour.full_range else ColorRange.MPEG,
        interpolation=Interpolation.BILINEAR | Interpolation.ACCURATE_RND).to_ndarray()


def chroma(yuv: np.ndarray, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    planes = yuv.reshape(-1)[h * w :].astype(int)
    return planes[: planes.size // 2].reshape(h // 2, w // 2), planes[planes.size // 2 :].reshape(h // 2, w // 2)


@pytest.mark.parametrize("colour", COLOURS, ids=VideoColour.describe)
@pytest.mark.parametrize("h, w", [(48, 64), (6, 10), (542, 962)])  # 6 and 542 rows: planes end mid-row
def test_planes_are_swscales_in_pyavs_layout(h: int, w: int, colour: VideoColour) -> None:
    """Luma equals swscale's (in each matrix and range) within a level at every pixel; chroma too,
    away from colour edges (where the two filters differ); PyAV reads the layout back as the picture."""
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 256, (-(-h // 16), -(-w // 16), 3), dtype=np.uint8)
    rgb = np.ascontiguousarray(patches.repeat(16, axis=0).repeat(16, axis=1)[:h, :w])
    ours, theirs = rgb_to_yuv420p(rgb, colour), swscale(rgb, colour)
    assert ours.shape == theirs.shape == (h * 3 // 2, w)
    assert np.abs(ours[:h].astype(int) - theirs[:h]).max() <= 1
    rows, cols = np.mgrid[0 : h // 2, 0 : w // 2]
    # chroma samples whose neighbours all lie in the same patch
    inside = (rows % 8 > 0) & (rows % 8 < 7) & (cols % 8 > 0) & (cols % 8 < 7)
    for mine, reference in zip(chroma(ours, h, w), chroma(theirs, h, w)):
        assert np.abs(mine - reference)[inside].max() <= 1
    frame = av.VideoFrame.from_ndarray(ours, format="yuv420p")
    colour.tag(frame)
    back = frame_rgb(frame)
    inside_pixels = np.kron(inside, np.ones((2, 2), bool))
    assert np.abs(back.astype(int) - rgb)[: inside_pixels.shape[0], : inside_pixels.shape[1]][inside_pixels].mean() < 1.5


def test_chroma_is_the_average_of_each_block_not_one_pixel() -> None:
    """Red and blue columns alternating: every 2x2 block holds both, so its chroma is purple's, not
    red's or blue's as a point-sampling conversion (OpenCV's own I420) would give."""
    h, w = 8, 16
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:, 0::2, 0] = 255
    rgb[:, 1::2, 2] = 255
    u, v = chroma(rgb_to_yuv420p(rgb, BT601), h, w)
    purple = np.full((2, 2, 3), (127.5, 0, 127.5))
    expected_u = -0.148 * purple[0, 0, 0] - 0.291 * purple[0, 0, 1] + 0.439 * purple[0, 0, 2] + 128
    expected_v = 0.439 * purple[0, 0, 0] - 0.368 * purple[0, 0, 1] - 0.071 * purple[0, 0, 2] + 128
    assert np.abs(u - expected_u).max() <= 1.5 and np.abs(v - expected_v).max() <= 1.5
    y = rgb_to_yuv420p(rgb, BT601)[:h].astype(int)
    assert abs(y[0, 0] - 82) <= 1 and abs(y[0, 1] - 41) <= 1  # luma stays per pixel: red's and blue's


def test_hdr_is_said_not_silent() -> None:
    assert "HDR (PQ) read as it is, not tone-mapped" in VideoColour("bt2020", primaries=9, transfer=16).describe()
    assert "HDR" not in VideoColour("bt2020", primaries=9, transfer=14).describe()


def tagged_clip(path: Path, width: int, height: int, colour: VideoColour, tagged: bool = True,
                pix_fmt: str = "yuv420p", frames: int = 24) -> Path:
    """A clip whose YUV is in `colour`'s matrix and range, its stream tagged so (or not), at `pix_fmt`
    (yuv420p10le: 10-bit)."""
    pictures = moving_pattern(frames, width, height)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24, options={"crf": "12", "preset": "veryfast", "x264-params": "bframes=0"})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if tagged:
            colour.tag(stream.codec_context)
        for t, rgb in enumerate(pictures):
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv420p(rgb, colour), format="yuv420p")
            if pix_fmt != "yuv420p":
                frame = frame.reformat(format=pix_fmt)
            if tagged:
                colour.tag(frame)
            frame.pts = t
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def frames_and_tags(path: Path) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([frame_rgb(frame) for frame in container.decode(stream)]).astype(np.float64)
        context = stream.codec_context
        return frames, (int(context.colorspace), int(context.color_range), int(context.color_primaries),
                        int(context.color_trc))


CASES = {  # name: (width, height, the clip's colours, tagged, pixel format, the tags the output must carry)
    "bt709 limited HD": (320, 720, VideoColour("bt709"), True, "yuv420p", (1, 1, 1, 1)),
    "bt601 limited SD": (320, 240, BT601, True, "yuv420p", (6, 1, 6, 6)),
    "bt709 full": (320, 240, VideoColour("bt709", full_range=True), True, "yuv420p", (1, 2, 1, 1)),
    "bt2020 limited 10-bit": (320, 240, VideoColour("bt2020", primaries=9, transfer=14), True, "yuv420p10le", (9, 1, 9, 14)),
    "untagged SD": (320, 240, BT601, False, "yuv420p", (6, 1, 6, 6)),
    "untagged HD": (320, 720, VideoColour("bt709"), False, "yuv420p", (1, 1, 1, 1)),
}


@pytest.mark.parametrize("case", [pytest.param(name, marks=[] if name == "bt709 limited HD" else pytest.mark.slow)
                                  for name in CASES])
def test_a_run_keeps_the_colours_and_tags_of_its_input(ray_cluster, tmp_path: Path, case: str) -> None:
    width, height, colour, tagged, pix_fmt, expected = CASES[case]
    source = tagged_clip(tmp_path / "in.mp4", width, height, colour, tagged, pix_fmt)
    output = tmp_path / "out.mp4"
    result = convert_video(VideoConfig(input=str(source), output=str(output), preset="veryfast", crf=12,
                                       model=ModelSettings("slow_operator:SPEC", {"seconds": "0"})))
    assert result.totals.converted == 1
    before, _ = frames_and_tags(source)
    after, tags = frames_and_tags(output)
    assert tags == expected
    shift = (after - before).reshape(-1, 3).mean(axis=0)
    assert np.abs(shift).max() < 0.4, shift  # no level lost on the way (it used to lose 1-2)
    assert f"colour: {colour.matrix}" in result.note
