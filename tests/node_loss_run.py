"""A conversion on a three-node Ray cluster that loses a worker node mid-run (run by test_node_loss.py
in its own process, since a test session already holds a local Ray).

    python tests/node_loss_run.py INPUT OUTPUT WEIGHTS

The two worker nodes declare one GPU each, so the pool puts one model actor on each (torch runs on
the CPU); the second worker node is removed once a few outputs exist. Prints the run's totals as JSON.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import ray
from ray.cluster_utils import Cluster

from pipeline.run import ConvertConfig, RunResult, convert
from pipeline.settings import ModelSettings


def main(source: str, output: str, weights: str) -> None:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    workers = [cluster.add_node(num_cpus=1, num_gpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, logging_level="WARNING")
    results: list[RunResult] = []
    run = threading.Thread(target=lambda: results.append(
        convert(ConvertConfig(source, output, ModelSettings("animegan", {"weights": weights})))))
    run.start()
    while len(list(Path(output).glob("*.png"))) < 4 and run.is_alive():
        time.sleep(0.1)
    lost_at = len(list(Path(output).glob("*.png")))
    cluster.remove_node(workers[1])
    run.join()
    totals = results[0].totals
    print(json.dumps({"converted": totals.converted, "skipped": totals.skipped, "failed": totals.failed,
                      "inputs": totals.inputs, "manifest": results[0].manifest, "outputs_when_lost": lost_at}))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(*sys.argv[1:4])
