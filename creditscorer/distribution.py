"""The training distribution of a feature: the reference that drift statistics compare with.

Training records it in the card (``training_distribution``); the server's drift module
computes the same from the shipped data for cards written before it existed.
"""

from __future__ import annotations

import numpy as np

DECILES = np.linspace(0.1, 0.9, 9)


def training_distribution(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Decile edges of ``values`` (ties merged) and the share of values in each bin."""
    values = np.asarray(values, dtype=np.float64)
    edges = np.unique(np.quantile(values, DECILES))
    counts = np.bincount(np.searchsorted(edges, values, side="right"), minlength=len(edges) + 1)
    return edges, counts / counts.sum()
