"""Video colours: RGB to yuv420p for the encoders in the input's matrix and range (swscale's luma,
chroma filtered over each 2x2 block, PyAV's layout), frames to RGB through their own tags, outputs
tagged as their inputs, 10-bit kept, HDR tone-mapped (or kept), and no bias through a whole run."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from av.video.reformatter import ColorRange, Interpolation
from videos import colour_clip, moving_pattern

from pipeline.settings import ModelSettings
from pipeline.video.colour import VideoColour, frame_rgb, rgb_to_yuv
from pipeline.video.colour_plan import ColourPlan
from pipeline.video.hdr_light import HdrLight
from pipeline.video.run import VideoConfig, convert_video
from pipeline.video.tonemap import HLG, PQ, REFERENCE_WHITE, ToneMap, nits_to_pq

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
    ours, theirs = rgb_to_yuv(rgb, colour), swscale(rgb, colour)
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
    u, v = chroma(rgb_to_yuv(rgb, BT601), h, w)
    purple = np.full((2, 2, 3), (127.5, 0, 127.5))
    expected_u = -0.148 * purple[0, 0, 0] - 0.291 * purple[0, 0, 1] + 0.439 * purple[0, 0, 2] + 128
    expected_v = 0.439 * purple[0, 0, 0] - 0.368 * purple[0, 0, 1] - 0.071 * purple[0, 0, 2] + 128
    assert np.abs(u - expected_u).max() <= 1.5 and np.abs(v - expected_v).max() <= 1.5
    y = rgb_to_yuv(rgb, BT601)[:h].astype(int)
    assert abs(y[0, 0] - 82) <= 1 and abs(y[0, 1] - 41) <= 1  # luma stays per pixel: red's and blue's


PQ_10 = VideoColour("bt2020", primaries=9, transfer=PQ, bits=10)
HLG_10 = VideoColour("bt2020", primaries=9, transfer=HLG, bits=10)


def frame_of(yuv: np.ndarray, colour: VideoColour) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p10le" if colour.bits > 8 else "yuv420p")
    colour.tag(frame)
    return frame


def smooth_picture(height: int, width: int) -> np.ndarray:
    """Colours waving slowly across the picture, none at 0 or 255."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([128 + 100 * np.sin(x / 17.3 + y / 21.1), 128 + 90 * np.sin(y / 15.7 - x / 23.3),
                     128 + 80 * np.cos((x + y) / 19.1)], -1).round().astype(np.uint8)


def grey_patches(signals: list[float], colour: VideoColour) -> av.VideoFrame:
    """A frame of 8x8 grey patches, one a signal level (0-1, non-linear)."""
    rgb = np.repeat(np.repeat(np.array(signals, np.float32)[None, :, None] * 255, 8, axis=0), 8, axis=1)
    return frame_of(rgb_to_yuv(np.repeat(rgb, 3, axis=2), colour), colour)


@pytest.mark.parametrize("colour", [VideoColour("bt709", bits=10), VideoColour("bt2020", full_range=True, bits=10)],
                         ids=VideoColour.describe)
def test_ten_bit_codes_round_trip(colour: VideoColour) -> None:
    """RGB to 10-bit YUV and back, limited and full range (BT.2100's codes): a grey picture (no
    chroma to subsample) within a level everywhere, a colour one unbiased."""
    rgb = smooth_picture(48, 64)
    back = frame_rgb(frame_of(rgb_to_yuv(rgb, colour), colour)).astype(float)
    assert np.abs((back - rgb).reshape(-1, 3).mean(axis=0)).max() < 0.2
    grey = np.repeat(rgb[..., :1], 3, axis=2)
    back = frame_rgb(frame_of(rgb_to_yuv(grey, colour), colour)).astype(float)
    assert np.abs(back - grey).max() <= 1 and abs((back - grey).mean()) < 0.1


@pytest.mark.parametrize("colour", [PQ_10, HLG_10], ids=["PQ", "HLG"])
def test_hdr_comes_back_to_the_sdr_picture_it_was_made_from(colour: VideoColour) -> None:
    """SDR -> HDR (`--hdr keep`'s way out) -> SDR (the model's way in) is the identity, within the
    chroma subsampling's error (an SDR round trip's, give or take a fifth), unbiased."""
    rgb = smooth_picture(64, 96)
    tone = ToneMap(colour.transfer)
    back = tone.to_sdr(frame_of(rgb_to_yuv(tone.to_hdr(rgb), colour), colour)).astype(float)
    sdr = VideoColour("bt709")
    subsampled = frame_rgb(frame_of(rgb_to_yuv(rgb, sdr), sdr)).astype(float)
    assert np.abs((back - rgb).reshape(-1, 3).mean(axis=0)).max() < 0.3
    assert np.abs(back - rgb).mean() < 1.2 * np.abs(subsampled - rgb).mean()


def test_pq_is_tone_mapped_not_washed_out() -> None:
    """Grey patches of known light: BT.2408's reference white (203 nits) becomes near SDR white,
    the peak (1000 nits) white, darker ones darker in order; read as it is (what a run did before
    tone mapping), the reference white was a flat grey."""
    nits = [0.1, 1, 10, 100, REFERENCE_WHITE, 1000]
    signals = [float(nits_to_pq(np.float64(n))) for n in nits]
    sdr = ToneMap(PQ).to_sdr(grey_patches(signals, PQ_10))[4, 4::8].astype(int)
    assert np.all(np.abs(sdr - sdr[:, :1]) <= 1), sdr  # grey stays grey
    levels = sdr[:, 0]
    assert list(levels) == sorted(levels) and len(set(levels)) == len(levels), levels
    assert levels[-1] >= 254 and levels[4] >= 220 and levels[1] <= 40, levels
    as_is = frame_rgb(grey_patches(signals, PQ_10))[4, 4::8, 0]
    assert as_is[4] < 160  # the washed-out reading


def test_hlg_reference_white_is_near_sdr_white() -> None:
    """HLG's reference white is its 75% signal (BT.2408)."""
    levels = ToneMap(HLG).to_sdr(grey_patches([0.25, 0.5, 0.75, 1.0], HLG_10))[4, 4::8, 1].astype(int)
    assert list(levels) == sorted(levels) and levels[2] >= 220 and levels[3] >= 254 and levels[0] <= 80, levels


GRADED = HdrLight(primaries=((0.68, 0.32), (0.265, 0.69), (0.15, 0.06), (0.3127, 0.329)), min_nits=0.005,
                  max_nits=1000.0, max_cll=1000, max_fall=400)  # a P3 mastering display, HDR10's usual grade


def x264_light(light: HdrLight) -> str:
    """`x264-params` writing `light` as x265 would (x264 names the two options otherwise)."""
    params = light.x265_params().replace("hdr10=1:", "bframes=0:")
    return params.replace("master-display", "mastering-display").replace("max-cll", "cll")


def test_pq_highlights_are_mapped_from_the_streams_own_peak() -> None:
    """MaxCLL (else the mastering peak, else 1000 nits) is where the tone map starts: a 4000-nit
    grade keeps its 1000-nit highlights below white instead of clipping them; HLG is mapped for
    its nominal 1000-nit display whatever the stream says."""
    assert ColourPlan(PQ_10, light=HdrLight(max_nits=4000, max_cll=2000)).tone.peak == 2000
    assert ColourPlan(PQ_10, light=HdrLight(max_nits=4000)).tone.peak == 4000
    assert ColourPlan(PQ_10).tone.peak == ColourPlan(HLG_10, light=GRADED).tone.peak == 1000
    signals = [float(nits_to_pq(np.float64(n))) for n in (REFERENCE_WHITE, 1000, 4000)]
    levels = ColourPlan(PQ_10, light=HdrLight(max_nits=4000)).tone.to_sdr(grey_patches(signals, PQ_10))[4, 4::8, 1]
    assert levels[0] >= 200 and levels[1] <= 251 and levels[2] >= 254, levels  # at a 1000-nit peak: 1000 is 255


def test_hdr10_light_levels_are_read_and_written_as_x265_takes_them(tmp_path: Path) -> None:
    """The mastering display and MaxCLL/MaxFALL in a stream's SEI come back as they were given,
    and `x265_params` writes them in x265's units (what a kept-HDR output carries)."""
    params = GRADED.x265_params()
    assert params == ("hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)"
                      "L(10000000,50):max-cll=1000,400")
    clip = colour_clip(tmp_path / "graded.mp4", smooth_picture(64, 96)[None].repeat(2, axis=0), PQ_10,
                       x264_params=x264_light(GRADED))
    with av.open(str(clip)) as container:
        assert HdrLight.of_frame(next(container.decode(video=0))) == GRADED
    assert HdrLight().x265_params() == "" and HdrLight().peak == 1000
    assert "MaxCLL 1000" in ColourPlan(PQ_10, light=GRADED).describe()


def test_the_note_says_what_became_of_hdr() -> None:
    assert "tone-mapped to SDR BT.709" in ColourPlan(PQ_10).describe()
    assert "kept as 10-bit HDR" in ColourPlan(HLG_10, "keep").describe()
    assert ColourPlan(PQ_10).output.transfer == 1 and ColourPlan(PQ_10, "keep").output == PQ_10
    assert "HDR" not in ColourPlan(VideoColour("bt2020", primaries=9, transfer=14, bits=10)).describe()


def tagged_clip(path: Path, width: int, height: int, colour: VideoColour, tagged: bool = True,
                pictures: np.ndarray | None = None) -> Path:
    """A clip of `pictures` (by default a moving pattern) in `colour`, tagged so (or not)."""
    return colour_clip(path, moving_pattern(24, width, height) if pictures is None else pictures, colour, tagged)


def frames_and_tags(path: Path) -> tuple[np.ndarray, tuple[int, int, int, int], str, str]:
    """The frames (the signal as it is: no tone mapping), the stream's tags, pixel format and codec."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([frame_rgb(frame) for frame in container.decode(stream)]).astype(np.float64)
        context = stream.codec_context
        return frames, (int(context.colorspace), int(context.color_range), int(context.color_primaries),
                        int(context.color_trc)), context.pix_fmt, context.name


CASES = {  # name: (width, height, the clip's colours, tagged, the tags the output must carry)
    "bt709 limited HD": (320, 720, VideoColour("bt709"), True, (1, 1, 1, 1)),
    "bt601 limited SD": (320, 240, BT601, True, (6, 1, 6, 6)),
    "bt709 full": (320, 240, VideoColour("bt709", full_range=True), True, (1, 2, 1, 1)),
    "bt2020 limited 10-bit": (320, 240, VideoColour("bt2020", primaries=9, transfer=14, bits=10), True, (9, 1, 9, 14)),
    "untagged SD": (320, 240, BT601, False, (6, 1, 6, 6)),
    "untagged HD": (320, 720, VideoColour("bt709"), False, (1, 1, 1, 1)),
}


def identity_run(source: Path, output: Path, **options: str) -> object:
    return convert_video(VideoConfig(input=str(source), output=str(output), preset="veryfast", crf=12,
                                     model=ModelSettings("slow_operator:SPEC", {"seconds": "0"}), **options))


@pytest.mark.parametrize("case", [pytest.param(name, marks=[] if name == "bt709 limited HD" else pytest.mark.slow)
                                  for name in CASES])
def test_a_run_keeps_the_colours_and_tags_of_its_input(ray_cluster, tmp_path: Path, case: str) -> None:
    width, height, colour, tagged, expected = CASES[case]
    source = tagged_clip(tmp_path / "in.mp4", width, height, colour, tagged)
    output = tmp_path / "out.mp4"
    result = identity_run(source, output)
    assert result.totals.converted == 1
    before, *_ = frames_and_tags(source)
    after, tags, pix_fmt, _ = frames_and_tags(output)
    assert tags == expected
    assert pix_fmt.endswith("10le") == (colour.bits > 8)  # 10-bit stays 10-bit
    shift = (after - before).reshape(-1, 3).mean(axis=0)
    assert np.abs(shift).max() < 0.4, shift  # no level lost on the way (it used to lose 1-2)
    assert f"colour: {colour.matrix}" in result.note


@pytest.mark.slow
@pytest.mark.parametrize("transfer", [PQ, HLG], ids=["PQ", "HLG"])
def test_hdr_is_tone_mapped_to_sdr_or_kept(ray_cluster, tmp_path: Path, transfer: int) -> None:
    """--hdr tonemap (the default): SDR BT.709 8-bit H.264, the picture the HDR was graded from;
    --hdr keep: 10-bit HEVC with the input's tags, the input's signal."""
    colour = VideoColour("bt2020", primaries=9, transfer=transfer, bits=10)
    graded = np.stack([np.roll(smooth_picture(128, 192), 4 * t, axis=1) for t in range(12)])
    source = colour_clip(tmp_path / "in.mp4", graded, colour, x264_params=x264_light(GRADED))
    result = identity_run(source, tmp_path / "sdr.mp4")
    assert "tone-mapped to SDR BT.709" in result.note
    sdr, tags, pix_fmt, codec = frames_and_tags(tmp_path / "sdr.mp4")
    assert (tags, pix_fmt, codec) == ((1, 1, 1, 1), "yuv420p", "h264")
    assert np.abs((sdr - graded).reshape(-1, 3).mean(axis=0)).max() < 0.5
    result = identity_run(source, tmp_path / "hdr.mp4", hdr="keep")
    assert "kept as 10-bit HDR" in result.note
    hdr, tags, pix_fmt, codec = frames_and_tags(tmp_path / "hdr.mp4")
    assert (tags, pix_fmt, codec) == ((9, 1, 9, transfer), "yuv420p10le", "hevc")
    with av.open(str(tmp_path / "hdr.mp4")) as container:  # the mastering display and light levels carried
        assert HdrLight.of_frame(next(container.decode(video=0))) == GRADED
    before, *_ = frames_and_tags(source)
    assert np.abs((hdr - before).reshape(-1, 3).mean(axis=0)).max() < 0.5


@pytest.mark.parametrize("colour", [VideoColour("bt2020", primaries=9, transfer=14, bits=10), PQ_10, HLG_10],
                         ids=["10-bit SDR", "PQ", "HLG"])
def test_ten_bit_frames_pass_an_unchanged_picture_exactly(colour: VideoColour) -> None:
    """The model sees 8-bit RGB; the fraction rounding took off goes around it, so a 10-bit frame
    (HDR kept too: one graded within the tone map's reach) the model leaves as it is is encoded as
    it came, within a code (without the fraction, 8-bit RGB costs 0.8 codes of luma RMS)."""
    rng = np.random.default_rng(0)
    picture = smooth_picture(48, 64).astype(np.float32) + rng.uniform(-2, 2, (48, 64, 3)).astype(np.float32)
    plan = ColourPlan(colour, hdr="keep")
    codes = rgb_to_yuv(plan.tone.to_hdr(picture) if plan.tone else picture, colour)
    rgb, fraction = plan.picture(frame_of(codes, colour))
    assert rgb.dtype == np.uint8 and fraction is not None and np.abs(fraction).max() <= 0.5
    back = plan.yuv(rgb, fraction).astype(int)
    assert np.abs(back - codes).max() <= 1 and np.abs(back - codes).mean() < 0.1
    assert np.sqrt(np.square(plan.yuv(rgb).astype(int) - codes)[:48].mean()) > 0.3  # what the fraction saves
