"""Pages as people see them: rendered by real headless Chromium."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")


def screenshot(url: str, path: Path) -> np.ndarray:
    """The page at `url` as Chromium renders it, as an RGB array."""
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={path}", "--window-size=1200,2400", "--virtual-time-budget=5000", url],
                   check=True, capture_output=True, timeout=120)
    return np.asarray(Image.open(path).convert("RGB"))
