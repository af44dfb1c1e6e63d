"""Train, tune, evaluate and export CreditScorer's models.

Everything is seeded: the same data and settings give the same models, the same
ONNX bytes and the same metrics. Each run writes a new version folder (model.joblib,
model.onnx, card.json) and then points the model's ``CURRENT`` file at it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from creditscorer.card import CARD_FILE
from creditscorer.distribution import training_distribution
from creditscorer.scoring import JOBLIB_FILE, ONNX_FILE
from creditscorer.store import POINTER, write_pointer
from training.data import FEATURES, Dataset, load_csv

SEED = 1994
MODEL_NAMES = ("logistic", "forest")
DEFAULT_DATA = Path(__file__).resolve().parent / "data" / "german_credit.csv"
N_FOLDS = 5
HOLDOUT_SHARE = 0.2
BACKGROUND_SIZE = 32
AUC_TOLERANCE = 0.005  # a cheaper forest within this CV AUC of the best one wins
COST_BAD_APPROVED = 5.0  # UCI cost matrix: a bad applicant approved
COST_GOOD_DECLINED = 1.0  # a good applicant declined
THRESHOLD_GRID = np.round(np.arange(0.02, 0.9801, 0.005), 3)

FEATURE_SCHEMA: list[dict[str, Any]] = [
    {
        "name": "duration",
        "type": "integer",
        "unit": "months",
        "description": "Duration of the credit",
        "accepted": {"min": 1, "max": 120},
    },
    {
        "name": "amount",
        "type": "number",
        "unit": "DM",
        "description": "Credit amount",
        "accepted": {"min": 0, "min_exclusive": True, "max": 1_000_000},
    },
    {
        "name": "age",
        "type": "integer",
        "unit": "years",
        "description": "Age of the applicant",
        "accepted": {"min": 18, "max": 100},
    },
]

LIMITATIONS = (
    "Three predictors (duration, amount, age) carry little of the credit risk in this data: "
    "cross-validated ROC AUC is about 0.6, far below models that use the account, history "
    "and savings attributes. Scores rank applicants only weakly, and on the hold-out split "
    "their expected UCI cost is close to, or worse than, declining every applicant (see "
    "baselines); use them as one input to a human decision, never alone. Trained on 1,000 "
    "West German applicants from the 1970s "
    "(Statlog German Credit, UCI); age is a protected attribute in many jurisdictions, so "
    "check the legal basis before using it in decisions."
)


@dataclass(frozen=True)
class Candidate:
    params: dict[str, Any]
    cost: float  # relative scoring cost, for preferring the cheaper of equally good models


def _candidates(name: str, quick: bool) -> list[Candidate]:
    if name == "logistic":
        grid = [0.1, 1.0] if quick else [0.01, 0.1, 1.0, 10.0]
        return [Candidate({"C": c}, cost=1.0) for c in grid]
    if name == "forest":
        sizes = [50] if quick else [50, 100, 200]
        leaves = [20] if quick else [5, 10, 20]
        depths = [None] if quick else [None, 6]
        return [
            Candidate(
                {"n_estimators": n, "min_samples_leaf": leaf, "max_depth": depth},
                cost=n * (1.0 if depth is None else 0.5) / leaf,
            )
            for n in sizes
            for leaf in leaves
            for depth in depths
        ]
    raise ValueError(f"unknown model {name!r}; known: {', '.join(MODEL_NAMES)}")


def _build(name: str, params: dict[str, Any], seed: int):
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logistic":
        classifier = LogisticRegression(C=params["C"], max_iter=1000, random_state=seed)
        return Pipeline([("scale", StandardScaler()), ("classifier", classifier)])
    classifier = RandomForestClassifier(
        n_estimators=params["n_estimators"],
        min_samples_leaf=params["min_samples_leaf"],
        max_depth=params["max_depth"],
        random_state=seed,
        n_jobs=-1,
    )
    return Pipeline([("classifier", classifier)])


def _single_threaded(pipeline):
    """Predict on one thread: a forest's threads add tree votes in a varying order, which
    changes the last bits of a probability from run to run. Fitting may use every core."""
    classifier = pipeline.steps[-1][1]
    if "n_jobs" in classifier.get_params():
        classifier.set_params(n_jobs=None)
    return pipeline


def expected_cost(y: np.ndarray, probability: np.ndarray, threshold: float) -> float:
    """Mean UCI cost per applicant when declining at ``probability >= threshold``."""
    declined = probability >= threshold
    bad_approved = np.sum((y == 1) & ~declined)
    good_declined = np.sum((y == 0) & declined)
    return float((COST_BAD_APPROVED * bad_approved + COST_GOOD_DECLINED * good_declined) / len(y))


def _metrics(y: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(y, probability)),
        "accuracy": float(accuracy_score(y, probability >= threshold)),
        "brier": float(brier_score_loss(y, probability)),
        "expected_cost": expected_cost(y, probability, threshold),
    }


def _cross_validate(name: str, params: dict[str, Any], X, y, seed: int):
    """Out-of-fold probabilities and the fold index of each row."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=seed)
    oof = np.empty(len(y))
    fold_of = np.empty(len(y), dtype=int)
    for k, (fit_idx, val_idx) in enumerate(folds.split(X, y)):
        model = _single_threaded(_build(name, params, seed).fit(X[fit_idx], y[fit_idx]))
        oof[val_idx] = model.predict_proba(X[val_idx])[:, 1]
        fold_of[val_idx] = k
    return oof, fold_of


def choose_threshold(y: np.ndarray, probability: np.ndarray) -> float:
    """The grid threshold with the least UCI cost; ties go to the one nearest 1/6."""
    costs = np.array([expected_cost(y, probability, t) for t in THRESHOLD_GRID])
    best = np.flatnonzero(np.isclose(costs, costs.min()))
    return float(THRESHOLD_GRID[best[np.argmin(np.abs(THRESHOLD_GRID[best] - 1 / 6))]])


def _summarise(values: list[float]) -> dict[str, float]:
    return {"mean": float(np.mean(values)), "std": float(np.std(values, ddof=1))}


def _export_onnx(pipeline, n_features: int) -> bytes:
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType

    classifier = pipeline.steps[-1][1]
    onnx_model = to_onnx(
        pipeline,
        initial_types=[("features", DoubleTensorType([None, n_features]))],
        options={id(classifier): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    return onnx_model.SerializeToString()


def _background(X: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A weighted summary of the training rows: k-means centres on standardised features."""
    from sklearn.cluster import KMeans

    mean, std = X.mean(axis=0), X.std(axis=0)
    k = min(BACKGROUND_SIZE, len(X))
    kmeans = KMeans(n_clusters=k, n_init=4, random_state=seed).fit((X - mean) / std)
    centres = kmeans.cluster_centers_ * std + mean
    weights = np.bincount(kmeans.labels_, minlength=k) / len(X)
    return np.round(centres, 6), weights


def _libraries() -> dict[str, str]:
    names = ["scikit-learn", "numpy", "scipy", "joblib", "skl2onnx", "onnx", "onnxruntime"]
    found = {"python": platform.python_version()}
    for name in names:
        found[name] = package_version(name)
    return found


def _trained_at() -> datetime:
    # SOURCE_DATE_EPOCH, the reproducible-builds convention, pins the timestamp when set.
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch:
        return datetime.fromtimestamp(int(epoch), tz=UTC)
    return datetime.now(tz=UTC).replace(microsecond=0)


def _max_onnx_difference(pipeline, onnx_bytes: bytes, X: np.ndarray) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(SEED)
    probe = np.vstack(
        [
            X,
            np.column_stack(
                [
                    rng.integers(1, 121, 2000),
                    rng.uniform(1, 1_000_000, 2000),
                    rng.integers(18, 101, 2000),
                ]
            ),
        ]
    )
    onnx_p = session.run([session.get_outputs()[-1].name], {"features": probe})[0][:, 1]
    return float(np.max(np.abs(onnx_p - pipeline.predict_proba(probe)[:, 1])))


def train_model(
    name: str,
    dataset: Dataset,
    out_root: Path,
    quick: bool = False,
    seed: int = SEED,
    promote: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """Train one model on ``dataset``; write its version folder; return (folder, card)."""
    import joblib
    from sklearn.model_selection import train_test_split

    started = time.perf_counter()
    X, y = dataset.X, dataset.y
    idx_train, idx_holdout = train_test_split(
        np.arange(len(y)), test_size=HOLDOUT_SHARE, stratify=y, random_state=seed
    )
    X_train, y_train, X_holdout, y_holdout = (
        X[idx_train],
        y[idx_train],
        X[idx_holdout],
        y[idx_holdout],
    )

    grid = []
    for candidate in _candidates(name, quick):
        oof, fold_of = _cross_validate(name, candidate.params, X_train, y_train, seed)
        from sklearn.metrics import roc_auc_score

        aucs = [roc_auc_score(y_train[fold_of == k], oof[fold_of == k]) for k in range(N_FOLDS)]
        grid.append(
            {"candidate": candidate, "auc": float(np.mean(aucs)), "oof": oof, "fold_of": fold_of}
        )
    best_auc = max(g["auc"] for g in grid)
    good_enough = [g for g in grid if g["auc"] >= best_auc - AUC_TOLERANCE]
    chosen = min(good_enough, key=lambda g: (g["candidate"].cost, -g["auc"]))
    params = chosen["candidate"].params

    threshold = choose_threshold(y_train, chosen["oof"])
    fold_metrics = [
        _metrics(y_train[chosen["fold_of"] == k], chosen["oof"][chosen["fold_of"] == k], threshold)
        for k in range(N_FOLDS)
    ]
    cv = {key: _summarise([m[key] for m in fold_metrics]) for key in fold_metrics[0]}

    pipeline = _single_threaded(_build(name, params, seed).fit(X_train, y_train))
    classifier = pipeline.steps[-1][1]
    holdout = _metrics(y_holdout, pipeline.predict_proba(X_holdout)[:, 1], threshold)

    onnx_bytes = _export_onnx(pipeline, X.shape[1])
    difference = _max_onnx_difference(pipeline, onnx_bytes, X)
    if difference > 1e-6:
        raise RuntimeError(f"{name}: ONNX export differs from scikit-learn by {difference:.2e}")
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer, compress=3)
    joblib_bytes = buffer.getvalue()

    background, weights = _background(X_train, seed)
    base_value = float(pipeline.predict_proba(background)[:, 1] @ weights)

    trained_at = _trained_at()
    onnx_sha = hashlib.sha256(onnx_bytes).hexdigest()
    version = f"{trained_at:%Y%m%dT%H%M%SZ}-{onnx_sha[:6]}"
    features = []
    for j, spec in enumerate(FEATURE_SCHEMA):
        low, high = X_train[:, j].min(), X_train[:, j].max()
        edges, shares = training_distribution(X_train[:, j])
        features.append(
            {
                **spec,
                "training_range": {"min": _plain(low), "max": _plain(high)},
                "training_distribution": {
                    "edges": [_plain(round(float(e), 6)) for e in edges],
                    "shares": [round(float(s), 6) for s in shares],
                },
            }
        )
    card = {
        "schema_version": 1,
        "name": name,
        "version": version,
        "algorithm": type(classifier).__name__,
        "pipeline": [step for step, _ in pipeline.steps],
        "hyperparameters": _jsonable(classifier.get_params()),
        "tuning": {
            "method": f"stratified {N_FOLDS}-fold CV on the training split, ROC AUC",
            "rule": (
                f"the cheapest candidate whose mean CV ROC AUC is within {AUC_TOLERANCE} "
                "of the best (cost: trees / leaf size; shallower is cheaper)"
            ),
            "grid": [
                {"params": g["candidate"].params, "cv_roc_auc": round(g["auc"], 4)} for g in grid
            ],
            "chosen": params,
        },
        "features": features,
        "target": {
            "name": "default",
            "meaning": "1 = bad credit risk (UCI class 2), 0 = good",
            "base_rate_training": float(y_train.mean()),
        },
        "threshold": {
            "value": threshold,
            "method": (
                "minimises the mean UCI cost (a bad applicant approved costs "
                f"{COST_BAD_APPROVED:g}, a good one declined costs {COST_GOOD_DECLINED:g}) "
                "over the "
                "out-of-fold CV probabilities of the training split, on a grid of step 0.005"
            ),
            "calibrated_optimum": round(
                COST_GOOD_DECLINED / (COST_GOOD_DECLINED + COST_BAD_APPROVED), 4
            ),
            "decision_rule": "decline when probability_default >= threshold, else approve",
            "cost_matrix": {"bad_approved": COST_BAD_APPROVED, "good_declined": COST_GOOD_DECLINED},
        },
        "baselines": {
            "holdout_expected_cost_decline_everyone": expected_cost(
                y_holdout, np.ones(len(y_holdout)), threshold
            ),
            "holdout_expected_cost_approve_everyone": expected_cost(
                y_holdout, np.zeros(len(y_holdout)), threshold
            ),
            "notes": "what the UCI cost would be without a model, for comparison",
        },
        "metrics": {
            "cv": cv,
            "holdout": holdout,
            "notes": (
                "CV: mean and standard deviation over the folds of the training split, "
                "accuracy and cost at the threshold; holdout: the shipped model on the "
                f"{int(HOLDOUT_SHARE * 100)}% stratified hold-out split, never used for fitting, "
                "tuning or choosing the threshold."
            ),
        },
        "rows": {"total": len(y), "train": len(y_train), "holdout": len(y_holdout)},
        "data": {"source": dataset.source, "sha256": dataset.sha256},
        "explanation": {
            "method": (
                "exact interventional Shapley values of probability_default against a weighted "
                f"background of {len(weights)} k-means centres of the training split"
            ),
            "base_value": base_value,
            "background": background.tolist(),
            "background_weights": weights.tolist(),
        },
        "seed": seed,
        "onnx_max_abs_difference": difference,
        "trained_at": trained_at.isoformat().replace("+00:00", "Z"),
        "training_seconds": round(time.perf_counter() - started, 2),
        "libraries": _libraries(),
        "limitations": LIMITATIONS,
        "artifacts": {
            JOBLIB_FILE: hashlib.sha256(joblib_bytes).hexdigest(),
            ONNX_FILE: onnx_sha,
        },
    }
    folder = _publish(
        Path(out_root) / name,
        version,
        {
            JOBLIB_FILE: joblib_bytes,
            ONNX_FILE: onnx_bytes,
            CARD_FILE: (json.dumps(card, indent=2) + "\n").encode("utf-8"),
        },
    )
    if promote:
        write_pointer(folder.parent, version)
    return folder, card


def _publish(model_folder: Path, version: str, files: dict[str, bytes]) -> Path:
    """Write a complete version folder under a temporary name, then rename it into place."""
    model_folder.mkdir(parents=True, exist_ok=True)
    target = model_folder / version
    if target.exists():  # same second and same ONNX bytes: the same model, already there
        return target
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_folder))
    try:
        for filename, data in files.items():
            with open(staging / filename, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def _jsonable(params: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v if isinstance(v, str | int | float | bool | type(None)) else repr(v)
        for k, v in sorted(params.items())
    }


def train_all(
    out_root: Path, data: Path = DEFAULT_DATA, quick: bool = False, names=MODEL_NAMES
) -> dict[str, dict[str, Any]]:
    """Train every model on ``data`` into ``out_root``; return the cards by name."""
    dataset = load_csv(data)
    return {name: train_model(name, dataset, out_root, quick=quick)[1] for name in names}


def ensure_models(out_root: Path, quick: bool = False) -> list[str]:
    """Train the models that have no current version yet; return the names trained."""
    missing = [n for n in MODEL_NAMES if not (Path(out_root) / n / POINTER).is_file()]
    if missing:
        train_all(out_root, quick=quick, names=missing)
    return missing


__all__ = ["FEATURES", "expected_cost", "train_all", "train_model"]
