"""Credentials come from the standard AWS chain in every process (so temporary ones refresh), and
no secret reaches the manifest, the summary, the logs or Ray's runtime env."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import BUCKET
from images import encoded, photo

ROOT = Path(__file__).resolve().parents[1]
SECRET = "sekret-do-not-log"
CREDENTIALS = """#!/bin/sh
echo call >> {counter}
expires=$(date -u -d '+11 minutes' +%Y-%m-%dT%H:%M:%SZ)
printf '{{"Version": 1, "AccessKeyId": "AKIDSTYLEBATCH", "SecretAccessKey": "{secret}-%s", '\\
'"SessionToken": "token-{secret}", "Expiration": "%s"}}' "$(wc -l < {counter})" "$expires"
"""


@pytest.mark.slow
def test_short_lived_credentials_refresh_and_never_leak(s3, s3_endpoint: str, tmp_path: Path) -> None:
    for i in range(6):
        s3.pipe(f"{BUCKET}/creds/in/{i}.png", encoded(photo(12, 12, seed=i)))
    counter, script = tmp_path / "calls", tmp_path / "credentials.sh"
    ray_tmp = Path(tempfile.mkdtemp(prefix="sb-ray-"))  # Ray's socket paths must stay short
    script.write_text(CREDENTIALS.format(counter=counter, secret=SECRET))
    script.chmod(0o755)
    (tmp_path / "config").write_text(f"[profile batch]\ncredential_process = {script}\nregion = us-east-1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAY_"))}
    env.update(AWS_CONFIG_FILE=str(tmp_path / "config"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_PROFILE="batch", AWS_ENDPOINT_URL=s3_endpoint, RAY_TMPDIR=str(ray_tmp),
               PYTHONPATH=str(Path(__file__).parent))
    done = subprocess.run([sys.executable, "-m", "jobs.convert", f"s3://{BUCKET}/creds/in", f"s3://{BUCKET}/creds/out",
                           "--operator", "poison_operator:SPEC"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "6 converted" in done.stdout
    calls = len(counter.read_text().splitlines())
    assert calls >= 3, calls  # the driver and the tasks each asked the chain, and asked again as expiry neared
    s3.invalidate_cache()
    leaks = ["stdout/stderr"] if SECRET in done.stdout + done.stderr else []
    for key in s3.find(f"{BUCKET}/creds/out"):
        if SECRET.encode() in s3.cat(key):
            leaks.append(key)
    for path in ray_tmp.rglob("*"):  # Ray's logs, and the runtime env it recorded
        if path.is_file() and SECRET.encode() in path.read_bytes():
            leaks.append(str(path))
    shutil.rmtree(ray_tmp, ignore_errors=True)
    assert not leaks
