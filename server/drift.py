"""Drift: where live inputs fall in the training distribution, and the population stability index.

Each feature's reference is its training distribution cut at the training deciles
(ties merged, so an integer feature may have fewer bins). The query log stores, per
request, how many scored rows fell in each bin; the statistics add those counts over a
window and compare them with the training shares:

    PSI = sum over bins of (actual share - expected share) * ln(actual / expected)

with the usual reading: below 0.1 stable, 0.1 to 0.25 moderate shift, 0.25 and above a
significant shift.

Where the reference comes from, in order of preference:

1. ``training_distribution`` in the card's feature entry (``edges`` and ``shares``),
   written by the training code from the training split;
2. the shipped training data, ``training/data/german_credit.csv``, when its sha256 is the
   one the card records (all 1,000 rows: the training split plus the hold-out);
3. none: drift is reported as unavailable, with the reason.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from creditscorer.distribution import training_distribution
from creditscorer.scoring import Model

SCORE_BINS = 20  # the score histogram: 20 bins of width 0.05 over [0, 1]
MODERATE, SIGNIFICANT = 0.1, 0.25
SHARE_FLOOR = 1e-4  # an empty bin counts as this share, so that the logarithm stays finite
TRAINING_CSV = Path(__file__).resolve().parent.parent / "training" / "data" / "german_credit.csv"


@dataclass(frozen=True)
class FeatureReference:
    """One feature's training distribution: bin edges and the share of training rows per bin."""

    name: str
    edges: np.ndarray  # bin i holds edges[i-1] <= x < edges[i]; the outer bins are open
    shares: np.ndarray  # len(edges) + 1 shares that sum to 1

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


def _from_card(model: Model) -> Reference | None:
    found = []
    for feature in model.card.raw.get("features", []):
        distribution = feature.get("training_distribution")
        if not isinstance(distribution, dict):
            return None
        edges = np.asarray(distribution["edges"], dtype=np.float64)
        shares = np.asarray(distribution["shares"], dtype=np.float64)
        if shares.shape != (len(edges) + 1,):
            return None
        found.append(FeatureReference(feature["name"], edges, shares))
    return Reference("card: training_distribution", tuple(found)) if found else None


def _from_shipped_data(model: Model) -> Reference | None:
    recorded = model.card.raw.get("data", {}).get("sha256")
    try:
        data = TRAINING_CSV.read_bytes()
    except OSError:
        return None
    if not recorded or hashlib.sha256(data).hexdigest() != recorded:
        return None
    from training.data import parse_labelled_csv

    dataset = parse_labelled_csv(data, TRAINING_CSV.name, features=tuple(model.card.feature_names))
    features = []
    for j, name in enumerate(model.card.feature_names):
        edges, shares = training_distribution(dataset.X[:, j])
        features.append(FeatureReference(name, edges, shares))
    return Reference(
        f"training data {TRAINING_CSV.name} (sha256 matches the card; all {dataset.n_rows} rows)",
        tuple(features),
    )


_cache: dict[tuple[str, str], Reference | None] = {}
_lock = threading.Lock()


def reference_for(model: Model) -> Reference | None:
    """The drift reference of this model version (cached), or None when there is none."""
    key = (model.name, model.version)
    if key not in _cache:
        with _lock:
            if key not in _cache:
                _cache[key] = _from_card(model) or _from_shipped_data(model)
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
