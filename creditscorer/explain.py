"""Shapley values of a model's probability against a weighted background sample.

Both methods explain ``probability_default`` for each *input* feature of the card (a
category feature is one feature, however many one-hot columns the pipeline makes of it)
and both sum exactly to ``probability_default - base_probability``:

``exact``
    Interventional Shapley values over all 2**k coalitions: the value of a coalition S
    for applicant x is the weighted mean prediction over the background rows with the
    features in S set to x's values. The empty coalition is the base value, the full one
    the score. With k features that is 2**k - 2 coalitions times the background, so it
    is used while k is small (``MAX_EXACT_FEATURES``).

``permutation``
    A seeded, antithetic permutation estimate for wider models. For each background row
    b and each of its permutations, the applicant's values replace b's one feature at a
    time in the permutation's order; each feature is credited with the change in the
    prediction at its step. The steps of one path telescope to f(x) - f(b), so the
    weighted mean over the paths sums exactly to f(x) - base value, whatever the
    sampling error of the single values. Every second permutation is the reverse of the
    one before (antithetic pairs), which cancels much of that error. The permutations
    are drawn once from the card's seed, so the same applicant always gets the same
    reasons. The error against exact values is measured at training time and written
    in the card.
"""

from __future__ import annotations

from collections.abc import Callable
from math import factorial

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]

MAX_EXACT_FEATURES = 8  # 254 coalitions per background row; beyond that exact stops being cheap
DEFAULT_PERMUTATIONS = 2  # per background row: one antithetic pair
_CHUNK_POINTS = 262_144  # model inputs built at once, to bound memory for batches


def _subset_masks(k: int) -> np.ndarray:
    """Boolean (2**k, k) matrix: row s has feature j when bit j of s is set."""
    return ((np.arange(2**k)[:, None] >> np.arange(k)[None, :]) & 1).astype(bool)


def shapley_weights(k: int) -> np.ndarray:
    """Matrix M (2**k, k) with phi = v @ M for the values v of all coalitions (by bit mask)."""
    masks = _subset_masks(k)
    sizes = masks.sum(axis=1)
    weight = np.array([factorial(m) * factorial(k - m - 1) / factorial(k) for m in range(k)])
    matrix = np.zeros((2**k, k))
    # A coalition s that holds j gains w(|s| - 1) for j; one that lacks j loses w(|s|).
    has = masks
    matrix[has] = np.broadcast_to(weight[np.clip(sizes - 1, 0, k - 1)][:, None], has.shape)[has]
    lacks = ~masks
    matrix[lacks] = -np.broadcast_to(weight[np.clip(sizes, 0, k - 1)][:, None], lacks.shape)[lacks]
    return matrix


def exact_shapley(
    predict: Predict,
    X: np.ndarray,
    background: np.ndarray,
    weights: np.ndarray,
    base_value: float,
    full_scores: np.ndarray,
    masks: np.ndarray | None = None,
    matrix: np.ndarray | None = None,
) -> np.ndarray:
    """Exact interventional Shapley values (n, k) for the rows of X."""
    n, k = X.shape
    masks = _subset_masks(k) if masks is None else masks
    matrix = shapley_weights(k) if matrix is None else matrix
    inner = masks[1:-1]  # neither the empty nor the full coalition needs the model
    b = background.shape[0]
    values = np.empty((n, 2**k))
    values[:, 0] = base_value
    values[:, -1] = full_scores
    per_step = max(1, _CHUNK_POINTS // b)
    for i in range(n):
        for start in range(0, len(inner), per_step):
            chunk = inner[start : start + per_step]
            points = np.where(chunk[:, None, :], X[i][None, None, :], background[None, :, :])
            predictions = predict(points.reshape(-1, k)).reshape(len(chunk), b)
            values[i, 1 + start : 1 + start + len(chunk)] = predictions @ weights
    return values @ matrix


class ShapleyExplainer:
    """Precomputes the design once per model; ``explain`` then costs one predict call per chunk."""

    def __init__(
        self,
        predict: Predict,
        background: np.ndarray,
        weights: np.ndarray | None = None,
        method: str = "auto",
        permutations: int = DEFAULT_PERMUTATIONS,
        seed: int = 0,
    ):
        background = np.asarray(background, dtype=np.float64)
        if background.ndim != 2 or background.shape[0] == 0:
            raise ValueError("background must be a non-empty 2-D array")
        k = background.shape[1]
        if method == "auto":
            method = "exact" if k <= MAX_EXACT_FEATURES else "permutation"
        if method not in ("exact", "permutation"):
            raise ValueError(f"unknown explanation method {method!r}")
        if method == "exact" and k > MAX_EXACT_FEATURES:
            raise ValueError(f"exact Shapley values need at most {MAX_EXACT_FEATURES} features")
        w = np.ones(background.shape[0]) if weights is None else np.asarray(weights, float)
        self._predict = predict
        self._background = background
        self._weights = w / w.sum()
        self.n_features = k
        self.method = method
        self._background_scores = self._predict(background)
        self.base_value = float(self._background_scores @ self._weights)
        if method == "exact":
            self._masks = _subset_masks(k)
            self._matrix = shapley_weights(k)
        else:
            self._init_permutations(max(2, permutations + permutations % 2), seed)

    def _init_permutations(self, per_row: int, seed: int) -> None:
        k, b = self.n_features, self._background.shape[0]
        rng = np.random.default_rng(seed)
        half = np.array([[rng.permutation(k) for _ in range(per_row // 2)] for _ in range(b)])
        order = np.concatenate([half, half[:, :, ::-1]], axis=1)  # (b, p, k), antithetic pairs
        p = order.shape[1]
        # steps[b, p, t, j]: feature j already set to the applicant's value after step t
        # (t = 0 .. k-2; after the last step the point is the applicant itself).
        position = np.argsort(order, axis=-1)  # where each feature sits in each permutation
        steps = position[:, :, None, :] <= np.arange(k - 1)[None, None, :, None]
        self._steps = steps.reshape(-1, k)
        self._position = position  # (b, p, k)
        self._path_weights = np.repeat(self._weights / p, p).reshape(b, p)
        self._paths = (b, p)

    def explain(self, X: np.ndarray, full_scores: np.ndarray | None = None) -> np.ndarray:
        """Contributions (n, k) for the rows of X; each row sums to score - base value."""
        X = np.asarray(X, dtype=np.float64)
        if full_scores is None:
            full_scores = self._predict(X)
        full_scores = np.asarray(full_scores, dtype=np.float64)
        if self.method == "exact":
            return exact_shapley(
                self._predict,
                X,
                self._background,
                self._weights,
                self.base_value,
                full_scores,
                self._masks,
                self._matrix,
            )
        return self._permutation(X, full_scores)

    def _permutation(self, X: np.ndarray, full_scores: np.ndarray) -> np.ndarray:
        n, k = X.shape
        b, p = self._paths
        per_row = self._steps.shape[0]
        rows_per_chunk = max(1, _CHUNK_POINTS // per_row)
        background = np.repeat(self._background, p * (k - 1), axis=0)  # aligned with _steps
        out = np.empty((n, k))
        for start in range(0, n, rows_per_chunk):
            chunk = X[start : start + rows_per_chunk]
            m = chunk.shape[0]
            points = np.where(self._steps[None], chunk[:, None, :], background[None])
            predictions = self._predict(points.reshape(-1, k)).reshape(m, b, p, k - 1)
            path = np.concatenate(
                [
                    np.broadcast_to(self._background_scores[None, :, None, None], (m, b, p, 1)),
                    predictions,
                    np.broadcast_to(full_scores[start : start + m, None, None, None], (m, b, p, 1)),
                ],
                axis=-1,
            )
            deltas = np.diff(path, axis=-1)  # (m, b, p, k): the gain at each step
            # The gain at step position[b, p, j] belongs to feature j.
            per_feature = np.take_along_axis(
                deltas, np.broadcast_to(self._position[None], deltas.shape), axis=-1
            )
            out[start : start + m] = np.einsum("mbpk,bp->mk", per_feature, self._path_weights)
        return out
