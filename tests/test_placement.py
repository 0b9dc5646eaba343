"""Where a run's models really run is said in its note; a GPU an actor holds but its model does not
use is a warning there, never silent."""
from __future__ import annotations

from types import SimpleNamespace

from pipeline.inference import cpus_per_gpu, where_it_runs


def test_a_model_on_the_gpu_it_holds_is_named_with_its_device() -> None:
    model = SimpleNamespace(placement="cuda:0 float16 (NVIDIA L4)")
    assert where_it_runs("animegan", model, [0]) == "animegan on cuda:0 float16 (NVIDIA L4)"


def test_a_cpu_actor_says_so_without_a_warning() -> None:
    assert where_it_runs("animegan", SimpleNamespace(placement="cpu float32"), []) == "animegan on cpu float32"


def test_an_onnx_model_that_fell_back_to_the_cpu_on_a_gpu_actor_is_a_warning_naming_the_extra() -> None:
    line = where_it_runs("onnx", SimpleNamespace(placement="cpu CPUExecutionProvider"), [1])
    assert line == ("warning: a model actor holds GPU 1 but onnx on cpu CPUExecutionProvider: ONNX Runtime has no "
                    "working CUDA provider on this node: install stylebatch[gpu] (onnxruntime-gpu in place of "
                    "onnxruntime)")


def test_a_torch_model_on_the_cpu_of_a_gpu_actor_is_a_warning() -> None:
    line = where_it_runs("fast-nst", SimpleNamespace(placement="cpu float32"), [0])
    assert line.startswith("warning: a model actor holds GPU 0 but fast-nst on cpu float32: torch sees no CUDA")


def test_cpus_per_gpu_is_the_scarcest_gpu_nodes_share() -> None:
    nodes = [{"Alive": True, "Resources": {"CPU": 8.0}},  # the CPU head: not a GPU node
             {"Alive": True, "Resources": {"CPU": 8.0, "GPU": 1.0}},  # g5.2xlarge
             {"Alive": True, "Resources": {"CPU": 48.0, "GPU": 4.0}},  # g5.12xlarge: 12 a GPU
             {"Alive": False, "Resources": {"CPU": 2.0, "GPU": 1.0}}]  # gone
    assert cpus_per_gpu(nodes) == 8.0
    assert cpus_per_gpu(nodes[:1]) == 0.0
