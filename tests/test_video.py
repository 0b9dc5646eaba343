"""`stylebatch video`: segments in parallel, same frames and duration, sound kept, segment resume."""
from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import BUCKET
from videos import describe, make_video, moving_pattern

from operators.errors import ConfigError
from pipeline.settings import ModelSettings
from pipeline.video import run as video_run
from pipeline.video.codec_choice import Encoder, choose_decoder, choose_encoder, opens
from pipeline.video.run import VideoConfig, convert_video
from pipeline.video.segments import plan_segments, probe, video_frames
from pipeline.video.segment_actor import CHUNK_BYTES, CHUNK_FRAMES, frame_chunks

SETTINGS = {"preset": "multistyle26", "style": "3"}


def test_probe_and_segments_of_bounded_length_whatever_the_keyframes(tmp_path: Path) -> None:
    info = probe(str(make_video(tmp_path / "in.mp4", frames=60, gop=12)), {})
    assert info.frames == 60 and float(info.fps) == 24 and (info.width, info.height) == (64, 48)
    assert info.keyframes[:3] == (0, 12, 24) and info.has_audio
    assert plan_segments(info, 0.75) == [(0, 18), (18, 36), (36, 54), (54, 60)]  # cuts between keyframes
    sparse = probe(str(make_video(tmp_path / "sparse.mp4", frames=96, gop=1000)), {})
    assert sparse.keyframes == (0,) and len(plan_segments(sparse, 1.0)) == 4  # one keyframe, four segments


def test_frames_cut_between_keyframes_are_exact(tmp_path: Path) -> None:
    """Decoding frames [30, 41) of a clip with a keyframe every 24 gives exactly the frames a full
    decode gives at those positions."""
    source = make_video(tmp_path / "in.mp4", frames=60, gop=24)
    info = probe(str(source), {})
    every = [rgb for rgb, _ in video_frames(str(source), {}, info.frame_pts, 0, 60, 0)]
    cut = [rgb for rgb, _ in video_frames(str(source), {}, info.frame_pts, 30, 41, 0)]
    assert len(cut) == 11 and all(np.array_equal(a, b) for a, b in zip(cut, every[30:41]))


def test_chunks_hold_a_bounded_size_of_frames_but_a_whole_model_batch() -> None:
    def sizes(width: int, height: int, frames: int, model_batch: int = 1) -> list[int]:
        frame = np.zeros((height, width, 3), np.uint8)
        return [len(chunk) for chunk in frame_chunks(iter([(frame, None)] * frames), model_batch)]

    assert CHUNK_FRAMES == 8 and sizes(640, 360, 20) == [8, 8, 4]
    assert CHUNK_BYTES // (3840 * 2160 * 3) == 2 and sizes(3840, 2160, 5) == [2, 2, 1]  # 4K: 50 MB a chunk, not 200
    assert sizes(3840, 2160, 8, model_batch=8) == [8]  # a GPU's batch is not split


@pytest.mark.slow
def test_video_converts_with_frames_duration_and_sound(ray_cluster, tmp_path: Path) -> None:
    source = make_video(tmp_path / "movie.mp4", frames=72)
    output = tmp_path / "out" / "movie-styled.mp4"
    result = convert_video(VideoConfig(input=str(source), output=str(output), model=ModelSettings("onnx", SETTINGS),
                                       segment_seconds=1.0, crf=20, preset="veryfast", deflicker=0.7))
    assert result.exit_code == 0 and result.totals.converted == 3
    assert "flicker" in result.note and "less" in result.note
    before, after = describe(source), describe(output)
    assert after["frames"] == before["frames"] == 72
    assert abs(after["duration"] - before["duration"]) <= 1 / 24
    assert (after["width"], after["height"]) == (64, 48) and after["audio"] == 1
    assert abs(after["container_duration"] - before["container_duration"]) <= 0.1
    report = Path(result.report)  # the report: segment timeline, frame pairs, flicker
    assert report.parent == tmp_path / "out" / "movie-styled.mp4.work" / "_report"
    page = report.read_text()
    assert page.count("<rect") >= 3 and "frames 0-23" in page and "flicker" in page
    card = json.loads(report.with_suffix(".json").read_text())
    assert card["kind"] == "video" and len(card["pictures"]) == 4
    assert all((report.parent / p["after"]).exists() for p in card["pictures"])


@pytest.mark.slow
def test_one_actor_runs_two_segments_at_once(ray_cluster, tmp_path: Path) -> None:
    """A segment spends 0.6 s in the model: time enough for the pool to hand its one actor the next."""
    source = make_video(tmp_path / "clip.mp4", frames=96, audio=False)
    result = convert_video(VideoConfig(str(source), str(tmp_path / "out.mp4"),
                                       ModelSettings("slow_operator:SPEC", {"seconds": 0.05}),
                                       segment_seconds=0.5, preset="ultrafast"))
    assert result.totals.converted == 8 and describe(tmp_path / "out.mp4")["frames"] == 96
    spans = sorted((row["finished_at"].timestamp() - row["seconds"], row["finished_at"].timestamp())
                   for row in pq.read_table(result.manifest).to_pylist())
    assert any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:])), spans


@pytest.mark.slow
def test_segment_resume_redoes_only_missing_segments(ray_cluster, s3, tmp_path: Path) -> None:
    source = make_video(tmp_path / "clip.mp4", frames=72)
    s3.put(str(source), f"{BUCKET}/videos/clip.mp4")
    cfg = VideoConfig(input=f"s3://{BUCKET}/videos/clip.mp4", output=f"s3://{BUCKET}/videos-out/clip.mp4",
                      model=ModelSettings("onnx", SETTINGS), segment_seconds=1.0, preset="veryfast", keep_segments=True)
    first = convert_video(cfg)
    assert first.totals.converted == 3
    s3.invalidate_cache()
    segments = sorted(s3.glob(f"{BUCKET}/videos-out/clip.mp4.work/*/seg-*.mp4"))
    assert len(segments) == 3
    s3.rm(segments[1])  # as if the job had been killed before this segment finished
    s3.rm(f"{BUCKET}/videos-out/clip.mp4")
    second = convert_video(cfg)
    assert (second.totals.converted, second.totals.skipped) == (1, 2)
    local = tmp_path / "joined.mp4"
    s3.invalidate_cache()
    s3.get(f"{BUCKET}/videos-out/clip.mp4", str(local))
    assert describe(local)["frames"] == 72 and describe(local)["audio"] == 1


def _subtitle_texts(path: Path) -> list[str]:
    import av

    with av.open(str(path)) as container:
        stream = container.streams.subtitles[0]
        return [bytes(p).decode().split(",,")[-1] for p in container.demux(stream) if p.size]


@pytest.mark.slow
def test_subtitle_and_audio_streams_are_copied(ray_cluster, tmp_path: Path) -> None:
    events = [(0.2, 1.0, "First words"), (1.5, 2.5, "Second words")]
    source = make_video(tmp_path / "talk.mkv", frames=72, subtitles=events)
    output = tmp_path / "talk-styled.mkv"
    result = convert_video(VideoConfig(input=str(source), output=str(output), model=ModelSettings("onnx", SETTINGS),
                                       segment_seconds=1.0, preset="veryfast"))
    assert result.exit_code == 0
    after = describe(output)
    assert (after["frames"], after["audio"], after["subtitles"]) == (72, 1, 1)
    assert _subtitle_texts(output) == ["First words", "Second words"]


@pytest.mark.slow
def test_frame_archive_is_a_video_input_with_fps(ray_cluster, s3, tmp_path: Path) -> None:
    import io
    import zipfile

    from PIL import Image
    from videos import moving_pattern

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for t, frame in enumerate(moving_pattern(30, 64, 48)):
            png = io.BytesIO()
            Image.fromarray(frame).save(png, "PNG")
            archive.writestr(f"shot/frame{t}.png", png.getvalue())  # frame2 before frame10: natural order
        archive.writestr("shot/notes.txt", b"not a frame")
    s3.pipe(f"{BUCKET}/videos/frames.zip", buffer.getvalue())
    output = tmp_path / "frames.mp4"
    cfg = VideoConfig(input=f"s3://{BUCKET}/videos/frames.zip", output=str(output), model=ModelSettings("onnx",
                      SETTINGS), segment_seconds=0.5, preset="veryfast", fps=12)
    result = convert_video(cfg)
    assert result.exit_code == 0 and result.totals.converted == 5  # 6 frames (0.5 s at 12 fps) per segment
    after = describe(output)
    assert (after["frames"], after["fps"], after["width"], after["height"], after["audio"]) == (30, 12.0, 64, 48, 0)
    from operators.errors import ConfigError

    with pytest.raises(ConfigError, match="--fps"):
        convert_video(replace(cfg, fps=None))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "huge"])
def test_a_damaged_or_absurd_video_is_refused_before_any_work(ray_cluster, tmp_path: Path, damage: str) -> None:
    source = tmp_path / "in.mp4"
    if damage == "huge":  # one frame declaring more pixels than any run converts
        make_video(source, frames=1, width=7000, height=6000)
    else:
        make_video(source, frames=24)
        data = source.read_bytes()
        source.write_bytes(os.urandom(len(data)) if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(ConfigError, match="cannot read video") as refused:
        convert_video(VideoConfig(str(source), str(tmp_path / "out.mp4"), ModelSettings("onnx", {"preset": "multistyle26"})))
    if damage == "huge":
        assert "declares 7000x6000 pixels" in str(refused.value)
    assert not (tmp_path / "out.mp4.work").exists()


def stall(seconds: float) -> None:
    time.sleep(seconds)


def test_a_probe_that_stalls_is_stopped(ray_cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(video_run, "PROBE_SECONDS", 2)
    started = time.monotonic()
    with pytest.raises(ConfigError, match="took longer than 2 s"):
        video_run._probed("stall.mp4", stall, 60)
    assert time.monotonic() - started < 20


@pytest.mark.slow
def test_a_segment_streams_and_is_never_held_whole(ray_cluster, tmp_path: Path) -> None:
    """One 40-second segment of 640x360 (632 MB as one array, twice that with its stylized copy):
    the model actor's peak memory grows by a fraction of that while it streams the segment through."""
    source = make_video(tmp_path / "long.mp4", frames=960, width=640, height=360, gop=1000, audio=False)
    log = tmp_path / "rss.log"
    result = convert_video(VideoConfig(str(source), str(tmp_path / "out.mp4"),
                                       ModelSettings("memory_operator:SPEC", {"log": str(log)}),
                                       segment_seconds=40, preset="ultrafast"))
    assert result.totals.converted == 1 and describe(tmp_path / "out.mp4")["frames"] == 960
    peaks = [int(line) for line in log.read_text().split()]
    assert len(peaks) >= 960 // 8
    growth_mb = (peaks[-1] - peaks[0]) / 1024
    whole_mb = 960 * 640 * 360 * 3 / 2**20
    assert growth_mb < whole_mb / 4, (growth_mb, whole_mb)


def test_codec_choice_and_fallback_on_a_machine_without_nvenc() -> None:
    assert not opens("h264_nvenc")  # this machine has no NVIDIA GPU: NVENC must not open
    encoder, why = choose_encoder("auto", has_gpu=True, crf=20, preset="veryfast", threads=7)
    assert encoder.name == "libx264" and encoder.options["threads"] == "7"  # the cores the GPU actor reserved
    assert why == "auto: this GPU has no NVENC (H100, H200 and A100 have none): libx264 on the node's cores, 7 threads"
    assert "threads" not in choose_encoder("auto", has_gpu=False, crf=20, preset="veryfast")[0].options
    assert choose_encoder("auto", has_gpu=False, crf=20, preset="veryfast")[0].options["crf"] == "20"
    with pytest.raises(RuntimeError, match="--encoder hevc_nvenc does not open"):
        choose_encoder("hevc_nvenc", has_gpu=True, crf=20, preset="medium")
    assert Encoder.of("h264_nvenc", 20, "veryfast").options == {"rc": "vbr", "cq": "20", "preset": "p3", "bf": "0"}
    assert choose_decoder("auto", has_gpu=False) == (None, "auto: the actor has no GPU")
    with pytest.raises(RuntimeError, match="--decoder cuda needs a GPU"):
        choose_decoder("cuda", has_gpu=False)


@pytest.mark.slow
def test_the_run_says_which_codecs_it_used_and_encodes_hevc_when_asked(ray_cluster, tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", frames=30)
    auto = convert_video(VideoConfig(str(source), str(tmp_path / "auto.mp4"), ModelSettings("onnx", SETTINGS),
                                     preset="ultrafast"))
    assert "decoder cpu (auto: the actor has no GPU), encoder libx264 (auto: the actor has no GPU)" in auto.note
    hevc = convert_video(VideoConfig(str(source), str(tmp_path / "hevc.mp4"), ModelSettings("onnx", SETTINGS),
                                     preset="ultrafast", encoder="libx265", segment_seconds=0.5))
    assert "encoder libx265 (asked for)" in hevc.note
    with av.open(str(tmp_path / "hevc.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "hevc"
    assert describe(tmp_path / "hevc.mp4")["frames"] == 30


def awkward_video(path: Path, width: int, height: int, pix_fmt: str, frames: int = 24, rotation: int = 0) -> Path:
    """A clip in `pix_fmt`; with `rotation`, a display matrix rotating it that many degrees
    counter-clockwise (FFmpeg's sense; a portrait phone clip says -90), and a red mark in the
    top-left corner of every stored picture."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if rotation:
            stream.set_display_rotation(rotation)
        for t, array in enumerate(moving_pattern(frames, width, height)):
            if rotation:
                array[:8, :8] = (255, 0, 0)
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = t
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


@pytest.mark.parametrize(("width", "height", "pix_fmt"), [(65, 49, "yuv444p"), (64, 48, "yuv420p10le")])
def test_odd_sizes_and_10_bit_input_convert(ray_cluster, tmp_path: Path, width: int, height: int, pix_fmt: str) -> None:
    """Odd sides are cropped by one pixel to even; 10-bit (or 4:4:4) frames come out as 8-bit 4:2:0."""
    source = awkward_video(tmp_path / "in.mkv", width, height, pix_fmt)
    result = convert_video(VideoConfig(str(source), str(tmp_path / "out.mp4"), ModelSettings("onnx", SETTINGS),
                                       preset="ultrafast"))
    assert result.exit_code == 0
    after = describe(tmp_path / "out.mp4")
    assert (after["width"], after["height"], after["frames"]) == (width // 2 * 2, height // 2 * 2, 24)


@pytest.mark.parametrize(("rotation", "mark_at"), [(-90, (0, -1)), (90, (-1, 0)), (180, (-1, -1))])
def test_frames_are_turned_as_players_show_them(tmp_path: Path, rotation: int, mark_at: tuple[int, int]) -> None:
    """A display matrix turns the decoded frames the way FFmpeg's command line does: -90 (a portrait
    phone clip) is a quarter turn clockwise, so the stored top-left corner is shown top-right; the
    probe gives the size as shown."""
    source = awkward_video(tmp_path / "in.mp4", 64, 32, "yuv420p", frames=3, rotation=rotation)
    info = probe(str(source), {})
    assert (info.width, info.height) == ((32, 64) if rotation % 180 else (64, 32))
    frame, _ = next(video_frames(str(source), {}, info.frame_pts, 0, 3, 0))
    assert frame.shape[:2] == (info.height, info.width)
    row, column = (0 if k == 0 else frame.shape[i] - 1 for i, k in enumerate(mark_at))
    assert frame[row, column, 0] > 200 and frame[row, column, 1:].max() < 60  # the red mark's corner
    assert frame[:, :, 0].mean() < 250  # not all red: one corner only


@pytest.mark.slow
def test_a_portrait_phone_clip_comes_out_upright(ray_cluster, tmp_path: Path) -> None:
    """A clip stored landscape with a -90 display matrix is written upright, taller than wide and
    with no matrix, so it plays the same everywhere (which way the frames turn: the test above)."""
    source = awkward_video(tmp_path / "phone.mp4", 64, 32, "yuv420p", rotation=-90)
    result = convert_video(VideoConfig(str(source), str(tmp_path / "out.mp4"), ModelSettings("onnx", SETTINGS),
                                       preset="ultrafast"))
    assert result.exit_code == 0
    after = describe(tmp_path / "out.mp4")
    assert (after["width"], after["height"], after["frames"]) == (32, 64, 24)
    with av.open(str(tmp_path / "out.mp4")) as container:
        assert next(container.decode(video=0)).rotation == 0


def frame_times(path: Path) -> list[float]:
    """Every decoded frame's time in seconds, in order."""
    with av.open(str(path)) as container:
        return [float(frame.pts * frame.time_base) for frame in container.decode(video=0)]


@pytest.mark.slow
def test_a_variable_frame_rate_and_a_late_start_keep_their_timing(ray_cluster, tmp_path: Path) -> None:
    """Frames 40 ms apart, then 20 ms, a half-second pause, then 33 ms, starting at 0.5 s: the output
    frames keep the input's times (so the sound stays in step), across segment joins."""
    times = [500 + 40 * k for k in range(30)]
    times += [times[-1] + 20 * k for k in range(1, 31)]
    times += [times[-1] + 500 + 33 * k for k in range(20)]
    source = tmp_path / "vfr.mp4"
    with av.open(str(source), "w") as out:
        stream = out.add_stream("libx264", rate=24)  # a nominal rate; the timestamps say otherwise
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        for ms, array in zip(times, moving_pattern(len(times), 64, 48)):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts, frame.time_base = ms, Fraction(1, 1000)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    assert frame_times(source) == pytest.approx([t / 1000 for t in times], abs=1e-3)
    result = convert_video(VideoConfig(str(source), str(tmp_path / "out.mp4"), ModelSettings("onnx", SETTINGS),
                                       preset="ultrafast", segment_seconds=1.0))
    assert result.exit_code == 0 and result.totals.converted >= 3
    assert frame_times(tmp_path / "out.mp4") == pytest.approx([t / 1000 for t in times], abs=1e-3)
