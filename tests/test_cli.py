"""The command line: listings, exit statuses 0/1/2, one-line errors, the demo, the cluster config."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from images import bad_and_odd_inputs, encoded, photo

from jobs import cli, demo

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-m", "jobs.cli", *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
    return done.returncode, done.stdout, done.stderr


@pytest.mark.slow
def test_operators_lists_options_and_presets() -> None:
    code, out, _ = run_cli("operators")
    assert code == 0
    assert "animegan:" in out and "--set align_corners=False" in out and "paprika" in out
    assert "onnx:" in out and "multistyle26" in out
    assert all(f"{name}:" in out for name in ("fast-nst", "gatys", "regional-nst", "handwriting"))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--operator", "nope"], "unknown operator 'nope'"),
        (["--operator", "animegan"], "animegan needs a checkpoint"),
        (["--operator", "animegan", "--weights", "/no/such/file.pt"], "no file at /no/such/file.pt"),
        (["--operator", "onnx", "--set", "preset=multistyle26", "--set", "style=x"], "style='x'"),
        (["--operator", "onnx", "--set", "preset=multistyle26", "--format", "tiff"], "invalid choice"),
    ],
)
@pytest.mark.slow
def test_configuration_errors_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "a.png").write_bytes(encoded(photo(8, 8)))
    code, out, err = run_cli("convert", str(tmp_path), str(tmp_path / "out"), *args)
    assert code == 2 and message in err
    assert not (tmp_path / "out").exists()  # nothing was started
    if "invalid choice" not in message:
        assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_missing_input_exits_2(tmp_path: Path) -> None:
    code, _, err = run_cli("convert", str(tmp_path / "absent"), str(tmp_path / "out"), "--operator", "onnx",
                           "--set", "preset=multistyle26")
    assert code == 2 and "does not exist" in err


@pytest.mark.slow
def test_pickled_checkpoint_is_refused_before_work(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(encoded(photo(8, 8)))
    torch.save({"w": torch.nn.Linear(2, 2)}, tmp_path / "module.pt")  # a pickled module, not a state dict
    code, _, err = run_cli("convert", str(tmp_path), str(tmp_path / "out"), "--operator", "animegan",
                           "--weights", str(tmp_path / "module.pt"))
    assert code == 2 and "refusing" in err


def test_some_failed_inputs_exit_1_and_report(ray_cluster, tmp_path: Path, animegan_weights: Path, capsys) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "good.png").write_bytes(encoded(photo(16, 12)))
    (source / "zero.jpg").write_bytes(bad_and_odd_inputs()["zero.jpg"])
    code = cli.main(["convert", str(source), str(tmp_path / "out"), "--operator", "animegan",
                     "--weights", str(animegan_weights), "--batch-size", "2"])
    out = capsys.readouterr().out
    assert code == 1
    assert "1 converted, 0 skipped, 1 failed of 2 inputs" in out and "manifest:" in out and "_manifest/" in out
    assert (tmp_path / "out" / "good.png").exists()


def test_demo_converts_the_samples_with_the_bundled_model(ray_cluster, tmp_path: Path, capsys) -> None:
    assert demo.main(["--output", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"{len(demo.SAMPLES)} converted" in out and "contact sheet:" in out
    assert (tmp_path / "contact-sheet.png").stat().st_size > 10_000
    assert len(list((tmp_path / "stylized").glob("*.png"))) == len(demo.SAMPLES)


def test_cluster_config_passes_rays_validation() -> None:
    from ray.autoscaler._private.util import fillout_defaults, validate_config

    config = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    validate_config(fillout_defaults(config))
    with pytest.raises(Exception, match="is not of type"):  # the validation really checks
        validate_config(fillout_defaults({**config, "idle_timeout_minutes": "soon"}))
    assert config["provider"]["type"] == "aws" and config["idle_timeout_minutes"] > 0
    assert any("pip install" in c for c in config["setup_commands"])
    gpu_setup = " ".join(config["available_node_types"]["gpu_worker"]["worker_setup_commands"])
    assert "stylebatch[gpu]" in gpu_setup and "[cpu]" not in gpu_setup  # one ONNX Runtime build a node
    assert "stylebatch[cpu]" in " ".join(config["head_setup_commands"])
    head, workers = config["head_start_ray_commands"][-1], config["worker_start_ray_commands"][-1]
    assert "RAY_AUTH_MODE=token" in head and "RAY_AUTH_MODE=token" in workers  # every node checks the token
    assert "--dashboard-host=127.0.0.1" in head  # the job API is reached through `ray dashboard` only
    assert "~/.ray/auth_token" in config["file_mounts"].values()
