"""The Kubernetes manifests parse and carry what KubeRay and Kubernetes require, and hold no secret."""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from jobs.convert import build_parser

K8S = Path(__file__).resolve().parents[1] / "k8s"


def containers(pod_template: dict) -> list[dict]:
    spec = pod_template["spec"]
    assert spec["containers"], "a pod needs a container"
    for container in spec["containers"]:
        assert container["name"] and container["image"]
    return spec["containers"]


def test_rayjob_has_the_fields_kuberay_requires() -> None:
    (job,) = yaml.safe_load_all((K8S / "rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert job["metadata"].get("name") or job["metadata"].get("generateName")
    spec = job["spec"]
    argv = shlex.split(spec["entrypoint"])
    assert argv[:3] == ["python", "-m", "jobs.convert"]
    args = build_parser().parse_args(argv[3:])  # the entrypoint is a valid stylebatch command line
    assert args.gpus_per_actor == 1 and args.actors >= 1
    assert spec["shutdownAfterJobFinishes"] is True and spec["submissionMode"] in {"K8sJobMode", "HTTPMode", "SidecarMode"}
    cluster = spec["rayClusterSpec"]
    assert cluster["enableInTreeAutoscaling"] is True and cluster["authOptions"]["mode"] == "token"
    head = cluster["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    head_container = containers(head["template"])[0]
    assert {port["name"] for port in head_container["ports"]} >= {"gcs-server", "dashboard", "client"}
    assert "nvidia.com/gpu" not in head_container["resources"]["limits"]  # a CPU head
    (gpu,) = cluster["workerGroupSpecs"]
    assert gpu["groupName"] and isinstance(gpu["rayStartParams"], dict)
    assert gpu["minReplicas"] == 0 < gpu["maxReplicas"] and gpu["minReplicas"] <= gpu["replicas"] <= gpu["maxReplicas"]
    assert containers(gpu["template"])[0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_nightly_cronjob_creates_rayjobs_with_only_that_right() -> None:
    documents = {doc["kind"]: doc for doc in yaml.safe_load_all((K8S / "nightly.yaml").read_text())}
    cron = documents["CronJob"]
    assert cron["apiVersion"] == "batch/v1" and len(cron["spec"]["schedule"].split()) == 5
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["spec"]["restartPolicy"] in {"OnFailure", "Never"}
    (launcher,) = containers(pod)
    assert launcher["args"][:2] == ["create", "-f"]  # create (not apply): generateName gives each night a name
    assert pod["spec"]["serviceAccountName"] == documents["ServiceAccount"]["metadata"]["name"]
    (rule,) = documents["Role"]["rules"]
    assert rule == {"apiGroups": ["ray.io"], "resources": ["rayjobs"], "verbs": ["create"]}
    assert documents["RoleBinding"]["roleRef"]["name"] == documents["Role"]["metadata"]["name"]


def test_no_credentials_in_the_manifests() -> None:
    for path in K8S.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            for env in _env_entries(doc):
                if re.search(r"SECRET|TOKEN|PASSWORD|KEY", env["name"]):
                    assert "value" not in env, f"{path.name}: {env['name']} must come from a Secret"
        assert not re.search(r"AKIA[0-9A-Z]{16}|aws_secret_access_key", path.read_text(), re.I)


def _env_entries(node: object) -> list[dict]:
    if isinstance(node, dict):
        found = list(node.get("env", [])) if isinstance(node.get("env"), list) else []
        return found + [e for value in node.values() for e in _env_entries(value)]
    if isinstance(node, list):
        return [e for value in node for e in _env_entries(value)]
    return []
