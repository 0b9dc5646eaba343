"""Jobs submitted as users launch stylebatch on a cluster: a real head started by `ray start --head`
with token authentication, `python -m jobs.convert ...` submitted with JobSubmissionClient and a
working_dir; the job's status, the last line of its logs and its outputs are checked."""
from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
from conftest import _free_ports
from images import encoded, photo

REPO = Path(__file__).resolve().parents[1]
SUBMIT = Path(__file__).parent / "submit_job.py"
CONVERT = "python -m jobs.convert {input} {output} --operator onnx --set preset=multistyle26 --set style=3"


def _stop_head(home: Path) -> None:
    """Stop only this head's processes (those started with its HOME); `ray stop` would stop every
    Ray on the machine, the test session's own included."""
    for process in psutil.process_iter():
        try:
            if process.environ().get("HOME") == str(home):
                process.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue


@pytest.fixture(scope="module")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    """A Ray head as `ray start --head` sets it up, token authentication on (the token made by
    `ray get-auth-token --generate` in a HOME of its own); the environment a client of it needs and
    the job API's address."""
    home = tmp_path_factory.mktemp("home")
    env = {key: value for key, value in os.environ.items()
           if key not in {"RAY_ADDRESS", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "PYTHONPATH"}}
    env.update(HOME=str(home), RAY_AUTH_MODE="token")
    subprocess.run(["ray", "get-auth-token", "--generate"], env=env, check=True, capture_output=True, timeout=60)
    # every port of its own: the test session's local Ray holds the default agent ports, and a head
    # whose job agent cannot bind them never takes a job
    names = ("port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port",
             "runtime-env-agent-port", "ray-client-server-port", "node-manager-port", "object-manager-port")
    dashboard, *numbers = _free_ports(len(names) + 1)
    ports = [f"--{name}={number}" for name, number in zip(names, numbers)]
    try:
        subprocess.run(["ray", "start", "--head", *ports, f"--dashboard-port={dashboard}",
                        "--dashboard-host=127.0.0.1", "--include-dashboard=true", "--num-cpus=2",
                        "--disable-usage-stats", f"--temp-dir={home / 'ray'}"],
                       env=env, check=True, capture_output=True, timeout=180)
        yield env, f"http://127.0.0.1:{dashboard}"
    finally:
        _stop_head(home)


def submit(env: dict[str, str], address: str, entrypoint: str) -> dict[str, str]:
    done = subprocess.run([sys.executable, str(SUBMIT), address, str(REPO), entrypoint], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def photos(folder: Path, count: int) -> Path:
    folder.mkdir()
    for k in range(count):
        (folder / f"p{k}.png").write_bytes(encoded(photo(48, 32, seed=k)))
    return folder


@pytest.mark.slow
def test_a_submitted_convert_job_succeeds_and_writes_its_outputs(ray_head, tmp_path: Path) -> None:
    env, address = ray_head
    source, output = photos(tmp_path / "in", 3), tmp_path / "out"
    job = submit(env, address, CONVERT.format(input=source, output=output))
    assert job["status"] == "SUCCEEDED", job
    last = job["logs"].strip().splitlines()[-1]
    assert last.startswith("3 converted, 0 skipped, 0 failed of 3 inputs") and f"output: {output}" in last
    assert sorted(p.name for p in output.glob("*.png")) == ["p0.png", "p1.png", "p2.png"]
    assert list((output / "_report").glob("*.html"))


@pytest.mark.slow
def test_a_job_with_a_failed_input_ends_failed_and_says_so(ray_head, tmp_path: Path) -> None:
    env, address = ray_head
    source, output = photos(tmp_path / "in", 2), tmp_path / "out"
    (source / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not a picture")
    job = submit(env, address, CONVERT.format(input=source, output=output))
    assert job["status"] == "FAILED" and "failed with exit code 1" in job["message"], job
    assert job["logs"].strip().splitlines()[-1].startswith("2 converted, 0 skipped, 1 failed of 3 inputs")
    assert len(list(output.glob("*.png"))) == 2


@pytest.mark.slow
def test_a_client_without_the_token_is_refused(ray_head) -> None:
    env, address = ray_head
    stranger = {**env, "HOME": str(Path(env["HOME"]).parent / "stranger")}
    stranger.pop("RAY_AUTH_MODE")
    done = subprocess.run([sys.executable, "-c", "import sys; from ray.job_submission import JobSubmissionClient;"
                           "JobSubmissionClient(sys.argv[1]).list_jobs()", address],
                          env=stranger, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and ("401" in done.stderr or "uthenticat" in done.stderr), done.stderr[-2000:]


@pytest.mark.slow
def test_the_readme_recipe_for_a_local_head_takes_a_job(tmp_path: Path) -> None:
    """The README's block for a head of one's own, run as written (HOME a folder of the test's, with
    the photos in ~/photos), beside the test session's own Ray."""
    block = re.search(r"<!-- local-head[^\n]*-->\n```bash\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    home = tmp_path / "home"
    home.mkdir()
    photos(home / "photos", 2)
    env = {key: value for key, value in os.environ.items() if key not in {"RAY_ADDRESS", "PYTHONPATH", "RAY_AUTH_TOKEN"}}
    env["HOME"] = str(home)
    try:
        done = subprocess.run(["bash", "-ec", block], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    finally:
        subprocess.run(["pkill", "-KILL", "-f", "/tmp/stylebatch-ray"], check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "2 converted, 0 skipped, 0 failed of 2 inputs" in done.stdout
    assert sorted(p.name for p in (home / "styled").glob("*.png")) == ["p0.png", "p1.png"]
