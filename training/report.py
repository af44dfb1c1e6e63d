"""What a card reports about a model beyond its metrics: calibration, fairness, reason error."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from creditscorer.explain import ShapleyExplainer, exact_shapley

CALIBRATION_BINS = 10


def calibration_table(y: np.ndarray, probability: np.ndarray) -> dict[str, Any]:
    """Ten bins of equal count by predicted probability: mean predicted vs observed rate."""
    order = np.argsort(probability, kind="stable")
    bins = []
    for part in np.array_split(order, CALIBRATION_BINS):
        if part.size == 0:
            continue
        bins.append(
            {
                "mean_predicted": round(float(probability[part].mean()), 4),
                "observed_default_rate": round(float(y[part].mean()), 4),
                "count": int(part.size),
                "min_predicted": round(float(probability[part].min()), 4),
                "max_predicted": round(float(probability[part].max()), 4),
            }
        )
    return {
        "method": (
            f"the hold-out rows sorted by predicted probability and cut into {CALIBRATION_BINS} "
            "bins of (nearly) equal count"
        ),
        "bins": bins,
    }


def band_names(edges: list[float]) -> list[str]:
    names = [f"< {edges[0]:g}"]
    names += [f"{lo:g}–{hi - 1:g}" for lo, hi in itertools.pairwise(edges)]
    names.append(f"{edges[-1]:g}+")
    return names


def group_order(spec: dict[str, Any]) -> list[str]:
    """The groups of a grouping in reading order (bands ascending, map values as listed)."""
    if "bands" in spec:
        return band_names(list(spec["bands"]))
    return list(dict.fromkeys(spec["map"].values()))


def group_labels(spec: dict[str, Any], raw: np.ndarray) -> np.ndarray:
    """The fairness group of each raw value: numeric bands or a code map."""
    if "bands" in spec:
        edges = list(spec["bands"])
        values = np.array([float(v) for v in raw.tolist()])
        names = band_names(edges)
        return np.array(names, dtype=object)[np.searchsorted(edges, values, side="right")]
    mapping = spec["map"]
    return np.array([mapping.get(" ".join(str(v).split()), str(v)) for v in raw.tolist()])


def quartile_bands(raw: np.ndarray) -> list[float]:
    values = np.array([float(v) for v in raw.tolist()])
    edges = np.unique(np.round(np.quantile(values, [0.25, 0.5, 0.75]), 6))
    return [float(e) for e in edges] or [float(np.median(values))]


def fairness_table(
    y: np.ndarray,
    probability: np.ndarray,
    threshold: float,
    groups: dict[str, np.ndarray],
    minimum_group: int = 10,
    orders: dict[str, list[str]] | None = None,
) -> dict[str, Any] | None:
    """Approval rate, default rate and ROC AUC by group (fairlearn's MetricFrame).

    ``groups`` maps a grouping's name to each hold-out row's group. The largest
    approval-rate gap compares groups of at least ``minimum_group`` rows, since a rate
    of a handful of applicants says little.
    """
    if not groups:
        return None
    from fairlearn.metrics import MetricFrame
    from sklearn.metrics import roc_auc_score

    def approval_rate(_y: np.ndarray, p: np.ndarray) -> float:
        return float(np.mean(np.asarray(p) < threshold))

    def default_rate(y_true: np.ndarray, _p: np.ndarray) -> float:
        return float(np.mean(y_true))

    def roc_auc(y_true: np.ndarray, p: np.ndarray) -> float:
        y_true = np.asarray(y_true)
        return float(roc_auc_score(y_true, p)) if 0 < y_true.sum() < len(y_true) else float("nan")

    def count(y_true: np.ndarray, _p: np.ndarray) -> int:
        return len(y_true)

    metrics: dict[str, Callable] = {
        "count": count,
        "approval_rate": approval_rate,
        "default_rate": default_rate,
        "roc_auc": roc_auc,
    }
    table: dict[str, list[dict[str, Any]]] = {}
    gaps = []
    for name, labels in groups.items():
        frame = MetricFrame(
            metrics=metrics, y_true=y, y_pred=probability, sensitive_features=labels
        ).by_group
        rows = []
        for group, values in frame.iterrows():
            auc = values["roc_auc"]
            rows.append(
                {
                    "group": str(group),
                    "count": int(values["count"]),
                    "approval_rate": round(float(values["approval_rate"]), 4),
                    "default_rate": round(float(values["default_rate"]), 4),
                    "roc_auc": None if np.isnan(auc) else round(float(auc), 4),
                }
            )
        order = (orders or {}).get(name, [])
        rank = {group: i for i, group in enumerate(order)}
        rows.sort(key=lambda r: (rank.get(r["group"], len(rank)), r["group"]))
        table[name] = rows
        sized = [r for r in rows if r["count"] >= minimum_group]
        if len(sized) >= 2:
            high = max(sized, key=lambda r: r["approval_rate"])
            low = min(sized, key=lambda r: r["approval_rate"])
            gaps.append(
                {
                    "by": name,
                    "gap": round(high["approval_rate"] - low["approval_rate"], 4),
                    "highest": {"group": high["group"], "approval_rate": high["approval_rate"]},
                    "lowest": {"group": low["group"], "approval_rate": low["approval_rate"]},
                }
            )
    largest = max(gaps, key=lambda g: g["gap"]) if gaps else None
    return {
        "method": (
            "fairlearn MetricFrame on the hold-out rows: approval rate (probability below the "
            "threshold), observed default rate and ROC AUC per group; the gap compares groups "
            f"of at least {minimum_group} rows"
        ),
        "groups": table,
        "approval_gaps": gaps,
        "largest_approval_gap": largest,
    }


def reason_error(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    background: np.ndarray,
    weights: np.ndarray,
    permutations: int,
    seed: int,
    applicants: int,
    background_rows: int,
) -> dict[str, Any]:
    """The permutation estimate's error against exact Shapley values, on ``applicants`` rows.

    Exact values over 2**k coalitions are affordable offline only with a small
    background, so both are computed against the ``background_rows`` heaviest background
    rows (re-weighted). The served estimate averages over the whole background, i.e.
    more paths, so this error is an upper estimate of the served one.
    """
    heaviest = np.argsort(-weights, kind="stable")[:background_rows]
    sub_background, sub_weights = background[heaviest], weights[heaviest] / weights[heaviest].sum()
    rows = X[:applicants]
    estimate = ShapleyExplainer(
        predict,
        sub_background,
        sub_weights,
        method="permutation",
        permutations=permutations,
        seed=seed,
    )
    scores = predict(rows)
    approximate = estimate.explain(rows, scores)
    exact = exact_shapley(predict, rows, sub_background, sub_weights, estimate.base_value, scores)
    difference = np.abs(approximate - exact)
    return {
        "applicants": int(rows.shape[0]),
        "background_rows": int(sub_background.shape[0]),
        "max_abs": float(difference.max()),
        "mean_abs": float(difference.mean()),
        "mean_abs_exact": float(np.abs(exact).mean()),
        "method": (
            f"hold-out applicants, the {sub_background.shape[0]} heaviest background rows for "
            "both; the served estimate uses the whole background (more paths, less error)"
        ),
    }
