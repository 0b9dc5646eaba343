"""`stylebatch train handwriting`: 2 Ray Train workers on CPU, data and checkpoints in S3, a loadable model."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from conftest import BUCKET, needs_fonts

from jobs import cli
from jobs.common import run_command
from operators.registry import get_operator
from pipeline.training.handwriting import HandwritingHyperparameters, heldout_l1, train_handwriting
from pipeline.training.line_shards import LineDataConfig, generate, heldout_pairs
from pipeline.training.trainer import TrainRun

pytestmark = needs_fonts  # renders Debian fonts (see README, Handwriting)


@pytest.mark.slow
def test_two_workers_write_a_checkpoint_the_operator_loads_and_resume(ray_cluster, s3) -> None:
    data = f"s3://{BUCKET}/hw-train/lines"
    generate(LineDataConfig(output=data, train_lines=24, heldout_lines=4, shard_lines=12, seed=5))
    run = TrainRun(data=data, output=f"s3://{BUCKET}/hw-train/run", max_steps=2, workers=2, checkpoint_every=1)
    hyper = HandwritingHyperparameters(crop_width=64, batch_size=4, epochs=1, heldout_lines=4)
    final = train_handwriting(run, hyper)
    assert final == f"s3://{BUCKET}/hw-train/run/handwriting.pth"
    s3.invalidate_cache()
    assert s3.find(f"{BUCKET}/hw-train/run/checkpoints")
    history = json.loads(s3.cat(f"{BUCKET}/hw-train/run/metrics.json"))
    assert [m["epoch"] for m in history] == [1] and 0 < history[0]["l1_identity"] < 1
    spec = get_operator("handwriting")
    stylize = spec.build(spec.resolve({"weights": final}), "cpu", {})
    typed = heldout_pairs(data, {}, limit=1)[0][0]
    assert [page.shape for page in stylize(typed[None, ..., None])] == [(*typed.shape, 1)]

    first = s3.cat(final)
    resumed = train_handwriting(replace(run, max_steps=3), replace(hyper, epochs=2))
    s3.invalidate_cache()
    assert resumed == final and s3.cat(final) != first
    assert [m["epoch"] for m in json.loads(s3.cat(f"{BUCKET}/hw-train/run/metrics.json"))] == [1, 2]


def test_heldout_figure_by_hand() -> None:
    typed = np.full((2, 4), 255, np.uint8)
    typed[0, 0] = 0
    hand = np.full((2, 4), 255, np.uint8)
    hand[1, 3] = 0
    figures = heldout_l1(lambda lines: [hand.copy() for _ in lines], [(typed, hand)])
    assert figures["l1_model"] == 0.0
    assert figures["l1_identity"] == pytest.approx(2 / 8)
    assert figures["l1_blank"] == pytest.approx(1 / 8)
    assert figures["gain_over_identity"] == 1.0


def test_training_without_shards_exits_2(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_command(cli.main, ["train", "handwriting", "--data", str(tmp_path), "--output", str(tmp_path / "m")])
    assert exit_info.value.code == 2 and "stylebatch handwriting-data" in capsys.readouterr().err
