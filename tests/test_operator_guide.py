"""The "Adding an operator" guide's example, taken from operators/README.md as it stands, honours the contract."""
from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from operators.errors import ConfigError

GUIDE = Path(__file__).parent.parent / "operators" / "README.md"


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory):
    """The guide's operator module, written out and imported."""
    code = re.search(r"```python\n(.*?)```", GUIDE.read_text(), re.S).group(1)
    path = tmp_path_factory.mktemp("guide") / "colour_mix.py"
    path.write_text(code)
    spec = importlib.util.spec_from_file_location("guide_colour_mix", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_validates_builds_and_stylizes(example, tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "mix.pth"
    torch.save(example.ColourMix().state_dict(), weights)
    options = example.SPEC.resolve({"weights": str(weights), "strength": "0.5"})
    assert example.SPEC.files_of(options) == {"weights": [str(weights)]}
    example.SPEC.check(options, {})
    images = np.random.default_rng(0).integers(0, 256, (2, 9, 7, 3), dtype=np.uint8)
    images.flags.writeable = False  # batches arrive read-only
    out = example.SPEC.build(options, "cpu", {})(images)
    assert out.shape == images.shape and out.dtype == np.uint8
    untouched = example.SPEC.build({**options, "strength": 0.0}, "cpu", {})(images)
    assert np.abs(untouched.astype(int) - images).max() <= 1


def test_the_example_refuses_a_checkpoint_of_another_network_on_the_driver(example, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pth"
    torch.save({"mix.weight": torch.zeros(3, 3, 3, 3)}, wrong)
    with pytest.raises(ConfigError, match="does not fit ColourMix: missing mix.bias; mix.weight is"):
        example.SPEC.check(example.SPEC.resolve({"weights": str(wrong)}), {})
    with pytest.raises(ConfigError, match="needs a checkpoint"):
        example.SPEC.check(example.SPEC.resolve({}), {})
