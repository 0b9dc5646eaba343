"""The model actor keeps freed memory for its next forward pass instead of mapping it from the kernel again."""
from __future__ import annotations

import subprocess
import sys

import pytest

# Allocate an activation-sized buffer, free it, allocate again: say whether the second one lies in the
# process heap (reused memory) or in a mapping of its own (fresh from the kernel, zeroed page by page).
REALLOCATE = """
import sys
import numpy as np
if sys.argv[1] == "keep":
    from pipeline.inference import keep_freed_memory
    keep_freed_memory()
size = 48 << 20  # a 64-channel activation at 384x384 is 38 MiB
a = np.ones(size, np.uint8); del a
b = np.ones(size, np.uint8)
heap = next(line.split()[0] for line in open("/proc/self/maps") if line.rstrip().endswith("[heap]"))
low, high = (int(x, 16) for x in heap.split("-"))
print("heap" if low <= b.ctypes.data < high else "mapped")
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_large_activations_reuse_freed_memory() -> None:
    def where(mode: str) -> str:
        return subprocess.run([sys.executable, "-c", REALLOCATE, mode], capture_output=True, text=True,
                              check=True).stdout.strip()

    assert where("default") == "mapped"
    assert where("keep") == "heap"
