"""Submit one job to a Ray head with JobSubmissionClient and a working_dir, wait for it to end, and
print its status and logs as JSON. Run as its own process, so that the client authenticates with the
token of the HOME it was given and the test process keeps its own Ray settings."""
from __future__ import annotations

import json
import sys
import time

from ray.job_submission import JobStatus, JobSubmissionClient

ENDED = {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED}
EXCLUDES = [".git", ".venv", "demo-output", "*.egg-info", "__pycache__"]


def submit_when_ready(client: JobSubmissionClient, ready_within: float = 120, **job: object) -> str:
    """Submit a job; a head that has just started answers "No available agent" until its job agent is
    up, so that answer is waited out (for at most `ready_within` seconds)."""
    deadline = time.monotonic() + ready_within
    while True:
        try:
            return client.submit_job(**job)
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(1)


def submit_and_wait(address: str, working_dir: str, entrypoint: str, timeout: float = 600) -> dict[str, str]:
    client = JobSubmissionClient(address)
    job = submit_when_ready(client, entrypoint=entrypoint, runtime_env={"working_dir": working_dir, "excludes": EXCLUDES})
    deadline = time.monotonic() + timeout
    while (status := client.get_job_status(job)) not in ENDED and time.monotonic() < deadline:
        time.sleep(1)
    return {"status": str(status.value), "logs": client.get_job_logs(job), "message": client.get_job_info(job).message or ""}


if __name__ == "__main__":
    print(json.dumps(submit_and_wait(sys.argv[1], sys.argv[2], sys.argv[3])))
