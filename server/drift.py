"""Drift: where live inputs fall in the training distribution, and the population stability index.

Each numeric feature's reference is its training distribution cut at the training
deciles (ties merged, so an integer feature may have fewer bins); a category feature has
one bin per category. The query log stores, per
request, how many scored rows fell in each bin; the statistics add those counts over a
window and compare them with the training shares:

    PSI = sum over bins of (actual share - expected share) * ln(actual / expected)

with the usual reading: below 0.1 stable, 0.1 to 0.25 moderate shift, 0.25 and above a
significant shift.

The reference is ``training_distribution`` in the card's feature entries (``edges`` and
``shares`` for numbers, ``codes`` and ``shares`` for categories), written by the training
code from the training split. A card without it (written before it existed) has no
drift reference, and drift is reported as unavailable with the reason.
"""

from __future__ import annotations

import bisect
import threading
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from creditscorer.scoring import Model

SCORE_BINS = 20  # the score histogram: 20 bins of width 0.05 over [0, 1]
MODERATE, SIGNIFICANT = 0.1, 0.25
SHARE_FLOOR = 1e-4  # an empty bin counts as this share, so that the logarithm stays finite


@dataclass(frozen=True)
class FeatureReference:
    """One feature's training distribution: bin edges and the share of training rows per bin."""

    name: str
    edges: np.ndarray  # bin i holds edges[i-1] <= x < edges[i]; the outer bins are open
    shares: np.ndarray  # len(edges) + 1 shares that sum to 1
    categories: tuple[str, ...] | None = None  # a category feature's codes, one bin each

    def bins(self, values: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.edges, values, side="right")

    def bin_of(self, value: float) -> int:
        """The bin of one value (the same rule as ``bins``, without array overhead)."""
        return bisect.bisect_right(self.edges_list, value)

    @cached_property
    def edges_list(self) -> list[float]:
        return self.edges.tolist()


@dataclass(frozen=True)
class Reference:
    """The drift reference of one model version, and where it came from."""

    source: str
    features: tuple[FeatureReference, ...]


def _feature_reference(feature: dict[str, Any]) -> FeatureReference | None:
    distribution = feature.get("training_distribution")
    if not isinstance(distribution, dict):
        return None
    shares = np.asarray(distribution["shares"], dtype=np.float64)
    if feature.get("type") == "category":
        codes = tuple(str(c) for c in distribution.get("codes", ()))
        if codes != tuple(str(c["code"]) for c in feature["categories"]) or len(codes) != len(
            shares
        ):
            return None
        # Category i is the matrix value i; edges between the indices make each its own bin.
        edges = np.arange(len(codes) - 1, dtype=np.float64) + 0.5
        return FeatureReference(feature["name"], edges, shares, codes)
    edges = np.asarray(distribution["edges"], dtype=np.float64)
    if shares.shape != (len(edges) + 1,):
        return None
    return FeatureReference(feature["name"], edges, shares)


def _from_card(model: Model) -> Reference | None:
    """The card's ``training_distribution`` of every feature, or None if one lacks it."""
    found = []
    for feature in model.card.raw.get("features", []):
        reference = _feature_reference(feature)
        if reference is None:
            return None
        found.append(reference)
    return Reference("card: training_distribution", tuple(found)) if found else None


_cache: dict[tuple[str, str], Reference | None] = {}
_lock = threading.Lock()


def reference_for(model: Model) -> Reference | None:
    """The drift reference of this model version (cached), or None when there is none."""
    key = (model.name, model.version)
    if key not in _cache:
        with _lock:
            if key not in _cache:
                _cache[key] = _from_card(model)
    return _cache[key]


def score_bin(probability: float) -> int:
    """The histogram bin of one probability (see ``score_bins``)."""
    return min(int(probability * SCORE_BINS), SCORE_BINS - 1)


def score_bins(probabilities: np.ndarray) -> np.ndarray:
    """The histogram bin (0 … SCORE_BINS-1) of each probability; 1.0 goes in the last bin."""
    return np.minimum((np.asarray(probabilities) * SCORE_BINS).astype(np.int64), SCORE_BINS - 1)


def psi(expected: np.ndarray, actual_counts: np.ndarray) -> float | None:
    """Population stability index of observed counts against expected shares; None if no rows."""
    total = float(np.sum(actual_counts))
    if total <= 0:
        return None
    actual = np.maximum(np.asarray(actual_counts, dtype=np.float64) / total, SHARE_FLOOR)
    expected = np.maximum(np.asarray(expected, dtype=np.float64), SHARE_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def band(value: float | None) -> str | None:
    """'stable' below 0.1, 'moderate' from 0.1, 'significant' from 0.25."""
    if value is None:
        return None
    if value >= SIGNIFICANT:
        return "significant"
    return "moderate" if value >= MODERATE else "stable"
