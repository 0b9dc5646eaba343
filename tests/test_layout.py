"""The architecture as the tree shows it: imports run jobs -> pipeline -> operators, operators know
nothing of Ray, and the CPU task modules (and any `onnx` run) start without torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
FORBIDDEN = {"operators": ("ray", "pipeline", "jobs"), "pipeline": ("jobs",)}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_run_one_way(package: str) -> None:
    offenders = {str(path.relative_to(ROOT)): sorted(imported_roots(path) & set(FORBIDDEN[package]))
                 for path in (ROOT / package).rglob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_cpu_task_modules_do_not_import_torch() -> None:
    """Decode and encode workers are many and short-lived: they must start fast."""
    code = ("import sys, pipeline.stages, pipeline.video.segments, pipeline.video.join; "
            "print(sorted(m for m in ('torch', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_an_onnx_run_never_imports_torch() -> None:
    """The driver of a command and an `onnx` model actor import only the operator they run: torch
    costs seconds of every start (operators are looked up by name, their modules imported on use)."""
    code = ("import sys, jobs.cli, jobs.convert, jobs.video, pipeline.video.segment_actor; "
            "from operators.registry import get_operator; get_operator('onnx'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
