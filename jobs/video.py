"""`stylebatch video INPUT_VIDEO OUTPUT_VIDEO --operator NAME ...`: stylize a whole video, keeping its sound."""
from __future__ import annotations

import argparse

from jobs.common import add_run_arguments, add_wait_argument, config_of, module_main, report, run_command
from pipeline.video.codec_choice import DECODERS, ENCODERS
from pipeline.video.colour_plan import HDR_MODES
from pipeline.video.run import VideoConfig, convert_video


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The video command's arguments."""
    parser = parser or argparse.ArgumentParser(prog="stylebatch video", description=__doc__)
    add_run_arguments(parser, "video file, or a .zip/.tar of frames (with --fps): local path or fsspec URL",
                      "output video (.mp4, .mkv, .mov): local path or fsspec URL")
    parser.add_argument("--max-side", type=int, default=0, help="shrink frames so the longer side is at most N")
    parser.add_argument("--segment-seconds", type=float, default=10.0,
                        help="segment length (cut anywhere, frame-exact; the unit of parallel work and resume)")
    parser.add_argument("--crf", type=int, default=18, help="quality, lower is better (x264/x265 crf, NVENC cq)")
    parser.add_argument("--preset", default="medium", help="x264 preset (ultrafast ... veryslow; NVENC p1 ... p7)")
    parser.add_argument("--encoder", default="auto", choices=ENCODERS,
                        help="auto: h264_nvenc on a GPU actor where it opens, else libx264")
    parser.add_argument("--decoder", default="auto", choices=DECODERS,
                        help="auto: NVDEC (cuda) on a GPU actor, else the CPU")
    parser.add_argument("--hdr", default="tonemap", choices=HDR_MODES,
                        help="HDR (PQ/HLG) input: tonemap to SDR BT.709 (plays everywhere), or keep it as 10-bit "
                             "HDR HEVC with the input's tags (the model sees SDR either way)")
    parser.add_argument("--no-resume", dest="resume", action="store_false", help="redo finished segments")
    parser.add_argument("--keep-segments", action="store_true", help="keep segment files after joining")
    parser.add_argument("--deflicker", type=float, default=0.0, metavar="S",
                        help="temporal smoothing 0..1: blend with the motion-compensated previous frame (0.7 is strong)")
    parser.add_argument("--fps", type=float, help="frame rate of a frame-archive INPUT (frames in natural name order)")
    add_wait_argument(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Convert the video and print where it went; 1 if some segments failed (rerun to retry them)."""
    return report(convert_video(config_of(VideoConfig, args)))


main = module_main(build_parser, run)

if __name__ == "__main__":
    run_command(main)
