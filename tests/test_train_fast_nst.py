"""`stylebatch train fast-nst`: 2 Ray Train workers on CPU, checkpoints in S3, a loadable model."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import BUCKET
from images import encoded, photo

from jobs import cli
from operators.registry import get_operator
from pipeline.training.fast_nst import FastNSTHyperparameters, train_fast_nst
from pipeline.training.trainer import TrainRun


@pytest.mark.slow
def test_two_workers_write_a_loadable_checkpoint_and_resume(ray_cluster, s3, vgg16_weights: Path,
                                                             tmp_path: Path) -> None:
    for i in range(6):
        s3.pipe(f"{BUCKET}/train/content/img{i}.jpg", encoded(photo(80, 60, seed=i), "JPEG"))
    s3.pipe(f"{BUCKET}/train/content/broken.jpg", b"not an image")  # left out, not fatal
    s3.pipe(f"{BUCKET}/train/style.png", encoded(photo(64, 64, seed=9)))
    s3.put(str(vgg16_weights), f"{BUCKET}/models/vgg16-397923af.pth")
    run = TrainRun(data=f"s3://{BUCKET}/train/content", output=f"s3://{BUCKET}/train/run", max_steps=2, workers=2,
                   checkpoint_every=1)
    hyper = FastNSTHyperparameters(style=f"s3://{BUCKET}/train/style.png",
                                   vgg_weights=f"s3://{BUCKET}/models/vgg16-397923af.pth", image_size=32,
                                   style_size=32, batch_size=2, epochs=1)
    final = train_fast_nst(run, hyper)
    assert final == f"s3://{BUCKET}/train/run/fast-nst.pth"
    s3.invalidate_cache()
    assert s3.find(f"{BUCKET}/train/run/checkpoints")
    spec = get_operator("fast-nst")
    stylize = spec.build(spec.resolve({"weights": final}), "cpu", {})
    images = np.stack([photo(36, 28)])
    assert stylize(images).shape == images.shape

    first = s3.cat(f"{BUCKET}/train/run/fast-nst.pth")
    resumed = train_fast_nst(replace(run, max_steps=3), replace(hyper, epochs=2))
    assert resumed == final and s3.cat(f"{BUCKET}/train/run/fast-nst.pth") != first


def test_untrainable_operator_exits_2(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        from jobs.common import run_command

        run_command(cli.main, ["train", "animegan", "--data", "x", "--output", "y", "--style", "s",
                               "--vgg-weights", "v"])
    assert exit_info.value.code == 2 and "no training job" in capsys.readouterr().err
