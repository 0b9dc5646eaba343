"""The GPU paths, on a machine with CUDA (skipped cleanly elsewhere; `benchmarks/gpu_check.py` runs
them): fp16 against fp32, ONNX Runtime's CUDA provider really in use, NVDEC frames against the CPU
decoder's, NVENC output decodable with every frame. Marked `gpu`: `pytest -m gpu` runs only these."""
from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch
from images import photo
from videos import make_video

from operators.animegan import AnimeGANStylizer, Generator
from operators.fast_nst import FastNSTStylizer, TransformerNet
from operators.onnx_model import SPEC as ONNX_SPEC
from operators.onnx_model import OnnxStylizer
from pipeline.video.codec_choice import Encoder, choose_decoder, opens
from pipeline.video.segments import video_frames

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")]

# fp16 against fp32 on the same weights and inputs, in 0-255 levels: the mean difference and the
# 99.9th percentile (a few pixels near saturation edges may round a few levels apart)
FP16_MEAN_LEVELS, FP16_TAIL_LEVELS = 1.0, 6.0
NVDEC_MEAN_LEVELS = 1.0  # NVDEC's frames against libavcodec's: the same stream, colour-converted alike


def _weights(tmp_path: Path, net: torch.nn.Module, name: str) -> str:
    torch.manual_seed(0)
    path = tmp_path / name
    torch.save(net.state_dict(), path)
    return str(path)


@pytest.mark.parametrize("stylizer, net, options", [
    (AnimeGANStylizer, Generator, {"align_corners": False, "tile": 0}),
    (FastNSTStylizer, TransformerNet, {"tile": 0}),
])
def test_fp16_matches_fp32_within_the_stated_tolerance(tmp_path: Path, stylizer, net, options) -> None:
    weights = _weights(tmp_path, net(), "model.pth")
    images = np.stack([photo(256, 256, seed=i) for i in range(4)])
    full = stylizer({**options, "weights": weights, "half": False}, "cuda", {})(images).astype(np.float32)
    half_model = stylizer({**options, "weights": weights, "half": True}, "cuda", {})
    assert "float16" in half_model.placement and "cuda" in half_model.placement
    diff = np.abs(half_model(images).astype(np.float32) - full)
    assert diff.mean() <= FP16_MEAN_LEVELS, diff.mean()
    assert np.percentile(diff, 99.9) <= FP16_TAIL_LEVELS, np.percentile(diff, 99.9)


def test_onnx_runs_on_the_cuda_execution_provider() -> None:
    pytest.importorskip("onnxruntime")
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.fail("ONNX Runtime has no CUDA provider: install stylebatch[gpu] (onnxruntime-gpu, not onnxruntime)")
    model = OnnxStylizer(ONNX_SPEC.resolve({"preset": "multistyle26"}), "auto", {})
    assert model.placement.startswith("cuda:0 CUDAExecutionProvider"), model.placement
    out = model(np.stack([photo(224, 224)]))
    assert out.shape == (1, 224, 224, 3)


def test_nvdec_frames_match_the_cpu_decoder(tmp_path: Path) -> None:
    hwaccel, why = choose_decoder("auto", has_gpu=True)
    if hwaccel is None:
        pytest.skip(f"no NVDEC here ({why})")
    clip = make_video(tmp_path / "clip.mp4", frames=48, width=640, height=360, audio=False)
    with av.open(str(clip)) as container:
        pts = tuple(frame.pts for frame in container.decode(video=0))
    on_cpu = [frame for frame, _ in video_frames(str(clip), {}, pts, 10, 40, 0)]
    on_gpu = [frame for frame, _ in video_frames(str(clip), {}, pts, 10, 40, 0, hwaccel)]
    assert len(on_gpu) == len(on_cpu) == 30  # frame-exact from a mid-GOP start
    diff = np.mean([np.abs(a.astype(np.float32) - b).mean() for a, b in zip(on_gpu, on_cpu)])
    assert diff <= NVDEC_MEAN_LEVELS, diff


@pytest.mark.parametrize("name", ["h264_nvenc", "hevc_nvenc"])
def test_nvenc_output_decodes_with_every_frame(tmp_path: Path, name: str) -> None:
    if not opens(name):
        pytest.skip(f"{name} does not open on this GPU (H100, H200 and A100 have no NVENC)")
    encoder = Encoder.of(name, 20, "medium")
    path = tmp_path / f"out-{name}.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream(name, rate=24, options=encoder.options)
        stream.width, stream.height, stream.pix_fmt = 640, 360, "yuv420p"
        for i in range(48):
            frame = av.VideoFrame.from_ndarray(photo(640, 360, seed=i), format="rgb24").reformat(format="yuv420p")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(path)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 48
