"""Exact Shapley values of a model's probability against a weighted background sample.

With k features there are 2**k coalitions; for the three features here that is 8, so
the exact values are cheaper than any approximation. The value of a coalition S for
applicant x is the (weighted) mean prediction over the background rows with the
features in S replaced by x's values ("interventional" Shapley values). The empty
coalition is the base value, the mean prediction over the background; the full
coalition is the score itself, so the contributions add up to score - base value.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from math import factorial

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]

MAX_EXACT_FEATURES = 10  # 1,024 coalitions; beyond that exact values stop being cheap


class ShapleyExplainer:
    """Precomputes the coalition design once per model; ``explain`` then costs one predict call."""

    def __init__(self, predict: Predict, background: np.ndarray, weights: np.ndarray | None = None):
        background = np.asarray(background, dtype=np.float64)
        if background.ndim != 2 or background.shape[0] == 0:
            raise ValueError("background must be a non-empty 2-D array")
        k = background.shape[1]
        if k > MAX_EXACT_FEATURES:
            raise ValueError(f"exact Shapley values need at most {MAX_EXACT_FEATURES} features")
        w = np.ones(background.shape[0]) if weights is None else np.asarray(weights, float)
        self._predict = predict
        self._background = background
        self._weights = w / w.sum()
        self.n_features = k
        # Coalitions other than the empty and the full one need the background.
        self._coalitions = [
            frozenset(c) for size in range(1, k) for c in combinations(range(k), size)
        ]
        self._masks = np.array(
            [[j in c for j in range(k)] for c in self._coalitions], dtype=bool
        ).reshape(len(self._coalitions), k)
        self.base_value = float(self._predict(background) @ self._weights)
        self._phi_matrix = self._shapley_matrix(k)

    def _shapley_matrix(self, k: int) -> np.ndarray:
        """Matrix M with phi = v @ M, where v holds the values of all 2**k coalitions."""
        everything = [frozenset(), *self._coalitions, frozenset(range(k))]
        index = {c: i for i, c in enumerate(everything)}
        matrix = np.zeros((len(everything), k))
        for j in range(k):
            for coalition in everything:
                if j in coalition:
                    continue
                weight = (
                    factorial(len(coalition)) * factorial(k - len(coalition) - 1) / factorial(k)
                )
                matrix[index[coalition | {j}], j] += weight
                matrix[index[coalition], j] -= weight
        return matrix

    def explain(self, X: np.ndarray, full_scores: np.ndarray | None = None) -> np.ndarray:
        """Contributions of shape (n, k) for the rows of X; each row sums to score - base value."""
        X = np.asarray(X, dtype=np.float64)
        n, k = X.shape
        b = self._background.shape[0]
        c = len(self._coalitions)
        # One composite matrix: for each row, each coalition, each background row.
        composite = np.broadcast_to(self._background, (n, c, b, k)).copy()
        mask = np.broadcast_to(self._masks[None, :, None, :], composite.shape)
        values = np.broadcast_to(X[:, None, None, :], composite.shape)
        composite[mask] = values[mask]
        predictions = self._predict(composite.reshape(-1, k)).reshape(n, c, b)
        coalition_values = predictions @ self._weights
        if full_scores is None:
            full_scores = self._predict(X)
        v = np.column_stack([np.full(n, self.base_value), coalition_values, full_scores])
        return v @ self._phi_matrix
