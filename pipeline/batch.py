"""The rows a step is given and returns: Ray Data's numpy batches, a column each."""
from __future__ import annotations

import numpy as np

Batch = dict[str, np.ndarray]


def objects(values: list) -> np.ndarray:
    """A 1-D object array (keeps ragged image arrays, and lists of equal length, apart)."""
    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array
