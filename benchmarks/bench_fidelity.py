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

from pipeline.codecs import decode_image
from pipeline.colour import SRGB
from pipeline.video.colour import VideoColour, frame_rgb, rgb_to_yuv

FPS, SECONDS = 24, 2
CASES = {  # name: (width, height, colours, tagged, pixel format)
    "BT.709 limited, 1280x720": (1280, 720, VideoColour("bt709"), True, "yuv420p"),
    "BT.709 full, 1280x720": (1280, 720, VideoColour("bt709", full_range=True), True, "yuv420p"),
    "BT.601 limited, 640x360": (640, 360, VideoColour("bt601", primaries=6, transfer=6), True, "yuv420p"),
    "BT.2020 limited 10-bit, 1280x720": (1280, 720, VideoColour("bt2020", primaries=9, transfer=14), True,
                                         "yuv420p10le"),
    "untagged (BT.601), 640x360": (640, 360, VideoColour("bt601", primaries=6, transfer=6), False, "yuv420p"),
    "untagged (BT.709), 1280x720": (1280, 720, VideoColour("bt709"), False, "yuv420p"),
}


def pictures(width: int, height: int) -> np.ndarray:
    photo = Image.open(Path(skimage.__file__).parent / "data" / "coffee.png").convert("RGB")
    wide = np.asarray(photo.resize((int(width * 1.25), height)))
    frames = FPS * SECONDS
    return np.stack([wide[:, (wide.shape[1] - width) * k // (frames - 1):][:, :width] for k in range(frames)])


def source_clip(path: Path, width: int, height: int, colour: VideoColour, tagged: bool, pix_fmt: str) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"crf": "8", "preset": "veryfast"})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if tagged:
            colour.tag(stream.codec_context)
        for t, rgb in enumerate(pictures(width, height)):
            frame = av.VideoFrame.from_ndarray(rgb_to_yuv(np.ascontiguousarray(rgb), colour), format="yuv420p")
            frame = frame.reformat(format=pix_fmt) if pix_fmt != "yuv420p" else frame
            if tagged:
                colour.tag(frame)
            frame.pts = t
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def transcode(source: Path, path: Path) -> None:
    """What `ffmpeg -i source -c:v libx264 -crf 18 -preset medium` writes: the decoded YUV as it is,
    the tags copied."""
    with av.open(str(source)) as inp, av.open(str(path), "w") as out:
        video = inp.streams.video[0]
        stream = out.add_stream("libx264", rate=FPS, options={"crf": "18", "preset": "medium"})
        stream.width, stream.height, stream.pix_fmt = video.codec_context.width, video.codec_context.height, "yuv420p"
        for name in ("colorspace", "color_range", "color_primaries", "color_trc"):
            setattr(stream.codec_context, name, getattr(video.codec_context, name))
        for frame in inp.decode(video):
            frame = frame.reformat(format="yuv420p") if frame.format.name != "yuv420p" else frame
            frame.pict_type = av.video.frame.PictureType.NONE
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def decoded(path: Path) -> tuple[np.ndarray, str]:
    """Every frame as a player shows it, and the stream's tags as "matrix/range/primaries/transfer"."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([frame_rgb(frame, cv2.INTER_LINEAR) for frame in container.decode(stream)]).astype(np.float64)
        c = stream.codec_context
        tags = f"{int(c.colorspace)}/{int(c.color_range)}/{int(c.color_primaries)}/{int(c.color_trc)}"
        return frames, tags.replace("2/0/2/2", "none").replace("2/1/2/2", "none")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255**2 / np.mean((a - b) ** 2)))


def video_table(folder: Path) -> list[str]:
    model = identity_model(folder / "identity.onnx")
    header = ("| case | tags in | tags out (transcode / stylebatch) | PSNR transcode dB | PSNR stylebatch dB | "
              "mean shift R/G/B (stylebatch) |")
    rows = [header, "|---|---|---|---|---|---|"]
    for name, (width, height, colour, tagged, pix_fmt) in CASES.items():
        source, plain, ours = folder / "source.mp4", folder / "plain.mp4", folder / "ours.mp4"
        for path in (plain, ours):
            path.unlink(missing_ok=True)
        source_clip(source, width, height, colour, tagged, pix_fmt)
        transcode(source, plain)
        subprocess.run([sys.executable, "-m", "jobs.cli", "video", str(source), str(ours), "--operator", "onnx",
                        "--weights", str(model), "--no-resume"], check=True, capture_output=True)
        (original, tags_in), (reference, tags_plain), (result, tags_out) = map(decoded, (source, plain, ours))
        shift = (result - original).reshape(-1, 3).mean(axis=0)
        rows.append(f"| {name} | {tags_in} | {tags_plain} / {tags_out} | {psnr(original, reference):.2f} | "
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
