"""Is the output true to its input? Video colours through `stylebatch video` with the null (identity)
model against a plain libx264 transcode of the same file at the same settings (crf 18, preset
medium), and photo colours of wide-gamut photos read into sRGB. Players' view: chroma upsampled
bilinearly, then the file's own matrix and range.

    python benchmarks/bench_fidelity.py

Video sources are 2-s clips panning across a photograph, their YUV made in each case's matrix and
range and tagged so (or not), encoded near-losslessly. Every file is decoded as a player decodes
it: through its tags, an untagged one as BT.601 below 720 lines and BT.709 from 720. Prints the
tables for docs/benchmarks.md.
"""
from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from pathlib import Path

import av
import cv2
import numpy as np
import skimage
from null_model import identity_model
from PIL import Image, ImageCms

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # tests/icc.py: ICC profiles from primaries
from icc import SPACES, profile
from videos import colour_clip

from pipeline.codecs import decode_image
from pipeline.colour import SRGB
from pipeline.video.colour import VideoColour, frame_rgb_float
from pipeline.video.tonemap import HLG, PQ

FPS, SECONDS = 24, 2
PQ_10 = VideoColour("bt2020", primaries=9, transfer=PQ, bits=10)
CASES = {  # name: (width, height, colours, tagged, --hdr)
    "BT.709 limited, 1280x720": (1280, 720, VideoColour("bt709"), True, None),
    "BT.709 full, 1280x720": (1280, 720, VideoColour("bt709", full_range=True), True, None),
    "BT.601 limited, 640x360": (640, 360, VideoColour("bt601", primaries=6, transfer=6), True, None),
    "BT.2020 limited 10-bit, 1280x720": (1280, 720, VideoColour("bt2020", primaries=9, transfer=14, bits=10), True,
                                         None),
    "untagged (BT.601), 640x360": (640, 360, VideoColour("bt601", primaries=6, transfer=6), False, None),
    "untagged (BT.709), 1280x720": (1280, 720, VideoColour("bt709"), False, None),
    "HDR PQ 10-bit, 1280x720, --hdr keep": (1280, 720, PQ_10, True, "keep"),
    "HDR HLG 10-bit, 1280x720, --hdr keep": (1280, 720, VideoColour("bt2020", primaries=9, transfer=HLG, bits=10), True,
                                             "keep"),
    "HDR PQ 10-bit, 1280x720, --hdr tonemap": (1280, 720, PQ_10, True, "tonemap"),
}


def pictures(width: int, height: int) -> np.ndarray:
    photo = Image.open(Path(skimage.__file__).parent / "data" / "coffee.png").convert("RGB")
    wide = np.asarray(photo.resize((int(width * 1.25), height)))
    frames = FPS * SECONDS
    return np.stack([wide[:, (wide.shape[1] - width) * k // (frames - 1):][:, :width] for k in range(frames)])


def source_clip(path: Path, width: int, height: int, colour: VideoColour, tagged: bool) -> None:
    """The pictures in `colour` (an HDR one graded to HDR by the tone map's inverse), near-lossless."""
    colour_clip(path, pictures(width, height), colour, tagged, fps=FPS, crf=8, x264_params="")


def transcode(source: Path, path: Path, codec: str) -> None:
    """What `ffmpeg -i source -c:v CODEC -crf 18 -preset medium -bf 0` writes: the decoded YUV as it
    is (10-bit stays 10-bit), the tags copied; without B-frames, the encoder settings stylebatch's
    segments use (B-frames alone are worth 0.5-0.8 dB at these settings)."""
    with av.open(str(source)) as inp, av.open(str(path), "w") as out:
        video = inp.streams.video[0]
        options = {"crf": "18", "preset": "medium"} | (  # no B-frames, as every segment is encoded
            {"x265-params": "bframes=0:log-level=error"} if codec == "libx265" else {"x264-params": "bframes=0"})
        stream = out.add_stream(codec, rate=FPS, options=options)
        stream.width, stream.height = video.codec_context.width, video.codec_context.height
        stream.pix_fmt = video.codec_context.pix_fmt
        for name in ("colorspace", "color_range", "color_primaries", "color_trc"):
            setattr(stream.codec_context, name, getattr(video.codec_context, name))
        for frame in inp.decode(video):
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def decoded(path: Path) -> tuple[np.ndarray, str]:
    """Every frame as a player shows it (chroma bilinear, the file's own matrix and range; the
    signal as it is, HDR too), and the stream's tags as "matrix/range/primaries/transfer"."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([player_rgb(frame) for frame in container.decode(stream)]).astype(np.float64)
        c = stream.codec_context
        tags = f"{int(c.colorspace)}/{int(c.color_range)}/{int(c.color_primaries)}/{int(c.color_trc)}"
        return frames, tags.replace("2/0/2/2", "none").replace("2/1/2/2", "none")


def player_rgb(frame: av.VideoFrame) -> np.ndarray:
    """A frame with its chroma upsampled bilinearly, then through the file's own matrix and range
    (untagged, the convention), rounded to 8 bits."""
    return np.clip(np.rint(frame_rgb_float(frame, cv2.INTER_LINEAR)), 0, 255).astype(np.uint8)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a - b) ** 2)))


def video_table(folder: Path) -> list[str]:
    model = identity_model(folder / "identity.onnx")
    header = ("| case | tags in | tags out (transcode / stylebatch) | PSNR transcode dB | PSNR stylebatch dB | "
              "mean shift R/G/B (stylebatch) |")
    rows = [header, "|---|---|---|---|---|---|"]
    for name, (width, height, colour, tagged, hdr) in CASES.items():
        source, plain, ours = folder / "source.mp4", folder / "plain.mp4", folder / "ours.mp4"
        for path in (plain, ours):
            path.unlink(missing_ok=True)
        source_clip(source, width, height, colour, tagged)
        transcode(source, plain, "libx265" if hdr == "keep" else "libx264")  # the codec stylebatch writes
        subprocess.run([sys.executable, "-m", "jobs.cli", "video", str(source), str(ours), "--operator", "onnx",
                        "--weights", str(model), "--no-resume", "--hdr", hdr or "tonemap"],
                       check=True, capture_output=True)
        (original, tags_in), (reference, tags_plain), (result, tags_out) = map(decoded, (source, plain, ours))
        if hdr == "tonemap":  # against the SDR pictures the HDR was graded from; a transcode keeps HDR
            original = pictures(width, height).astype(np.float64)
        transcoded = "-" if hdr == "tonemap" else f"{psnr(original, reference):.2f}"
        shift = (result - original).reshape(-1, 3).mean(axis=0)
        rows.append(f"| {name} | {tags_in} | {tags_plain} / {tags_out} | {transcoded} | "
                    f"{psnr(original, result):.2f} | {' / '.join(f'{s:+.2f}' for s in shift)} |")
    return rows


def photo_table() -> list[str]:
    original = Image.open(Path(skimage.__file__).parent / "data" / "coffee.png").convert("RGB")
    rows = ["| photo's profile | mean error, profile ignored | mean error, converted to sRGB |", "|---|---|---|"]
    for space in sorted(SPACES):
        wide = ImageCms.profileToProfile(original, SRGB, ImageCms.ImageCmsProfile(io.BytesIO(profile(space))),
                                         renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC)
        buffer = io.BytesIO()
        wide.save(buffer, format="PNG", icc_profile=profile(space))
        error = np.abs(decode_image(buffer.getvalue()).astype(float) - np.asarray(original, float)).mean()
        ignored = np.abs(np.asarray(wide, float) - np.asarray(original, float)).mean()
        rows.append(f"| {space} | {ignored:.2f} | {error:.2f} |")
    return rows


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        print("\n".join(video_table(Path(folder))))
    print()
    print("\n".join(photo_table()))


if __name__ == "__main__":
    main()
