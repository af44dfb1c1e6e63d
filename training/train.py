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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np

from creditscorer.card import CARD_FILE
from creditscorer.distribution import training_distribution
from creditscorer.explain import DEFAULT_PERMUTATIONS, MAX_EXACT_FEATURES
from creditscorer.scoring import JOBLIB_FILE, ONNX_FILE
from creditscorer.store import POINTER, write_pointer
from training import german, report
from training.data import Dataset, load_csv

SEED = 1994
DEFAULT_DATA = Path(__file__).resolve().parent / "data" / "german_credit.csv"
N_FOLDS = 5
HOLDOUT_SHARE = 0.2
BACKGROUND_SIZE = 32
AUC_TOLERANCE = 0.005  # a cheaper candidate within this CV AUC of the best one wins
COST_BAD_APPROVED = 5.0  # UCI cost matrix: a bad applicant approved
COST_GOOD_DECLINED = 1.0  # a good applicant declined
THRESHOLD_GRID = np.round(np.arange(0.02, 0.9801, 0.005), 3)
ALGORITHMS = ("logistic", "forest")


@dataclass(frozen=True)
class Costs:
    """The cost matrix that picks the threshold: what each kind of wrong decision costs."""

    bad_approved: float = COST_BAD_APPROVED
    good_declined: float = COST_GOOD_DECLINED


UCI_COSTS = Costs()


@dataclass(frozen=True)
class Recipe:
    """A built-in model: its algorithm, its inputs and what its card says about them."""

    algorithm: str
    features: list[dict[str, Any]]
    limitations: str
    excluded_columns: list[dict[str, str]] = field(default_factory=list)


RECIPES: dict[str, Recipe] = {
    "logistic": Recipe("logistic", german.SEED_FEATURES, german.SEED_LIMITATIONS),
    "forest": Recipe("forest", german.SEED_FEATURES, german.SEED_LIMITATIONS),
    "logistic_full": Recipe(
        "logistic", german.FULL_FEATURES, german.FULL_LIMITATIONS, german.EXCLUDED_COLUMNS
    ),
    "forest_full": Recipe(
        "forest", german.FULL_FEATURES, german.FULL_LIMITATIONS, german.EXCLUDED_COLUMNS
    ),
}
MODEL_NAMES = tuple(RECIPES)


@dataclass(frozen=True)
class Candidate:
    params: dict[str, Any]
    cost: float  # relative scoring cost, for preferring the cheaper of equally good models


def _candidates(name: str, quick: bool) -> list[Candidate]:
    if name == "logistic":
        grid = [0.1, 1.0] if quick else [0.01, 0.03, 0.1, 0.3, 1.0, 10.0]
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
    raise ValueError(f"unknown algorithm {name!r}; known: {', '.join(ALGORITHMS)}")


def _build(name: str, params: dict[str, Any], seed: int, features: list[dict[str, Any]]):
    """The pipeline: one-hot for category columns (indices 0..m-1), scaling for numbers."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if name == "logistic":
        classifier = LogisticRegression(C=params["C"], max_iter=5000, random_state=seed)
    else:
        classifier = RandomForestClassifier(
            n_estimators=params["n_estimators"],
            min_samples_leaf=params["min_samples_leaf"],
            max_depth=params["max_depth"],
            random_state=seed,
            n_jobs=-1,
        )
    categories = [j for j, f in enumerate(features) if f["type"] == "category"]
    numbers = [j for j, f in enumerate(features) if f["type"] != "category"]
    if not categories:
        steps = [("scale", StandardScaler())] if name == "logistic" else []
        return Pipeline([*steps, ("classifier", classifier)])
    encoder = OneHotEncoder(
        categories=[list(range(len(features[j]["categories"]))) for j in categories],
        handle_unknown="ignore",
        sparse_output=False,
    )
    parts = [("categories", encoder, categories)]
    if numbers:
        parts.append(
            ("numbers", StandardScaler() if name == "logistic" else "passthrough", numbers)
        )
    return Pipeline([("prepare", ColumnTransformer(parts)), ("classifier", classifier)])


def _single_threaded(pipeline):
    """Predict on one thread: a forest's threads add tree votes in a varying order, which
    changes the last bits of a probability from run to run. Fitting may use every core."""
    classifier = pipeline.steps[-1][1]
    if "n_jobs" in classifier.get_params():
        classifier.set_params(n_jobs=None)
    return pipeline


def expected_cost(
    y: np.ndarray, probability: np.ndarray, threshold: float, costs: Costs = UCI_COSTS
) -> float:
    """Mean cost per applicant (UCI's matrix by default) when declining at ``p >= threshold``."""
    declined = probability >= threshold
    bad_approved = np.sum((y == 1) & ~declined)
    good_declined = np.sum((y == 0) & declined)
    return float((costs.bad_approved * bad_approved + costs.good_declined * good_declined) / len(y))


def _metrics(
    y: np.ndarray, probability: np.ndarray, threshold: float, costs: Costs = UCI_COSTS
) -> dict[str, float]:
    from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(y, probability)),
        "accuracy": float(accuracy_score(y, probability >= threshold)),
        "brier": float(brier_score_loss(y, probability)),
        "expected_cost": expected_cost(y, probability, threshold, costs),
    }


def _cross_validate(name: str, params: dict[str, Any], X, y, seed: int, features):
    """Out-of-fold probabilities and the fold index of each row."""
    from sklearn.model_selection import StratifiedKFold

    folds = StratifiedKFold(n_splits=N_FOLDS, shuffle=True, random_state=seed)
    oof = np.empty(len(y))
    fold_of = np.empty(len(y), dtype=int)
    for k, (fit_idx, val_idx) in enumerate(folds.split(X, y)):
        model = _single_threaded(_build(name, params, seed, features).fit(X[fit_idx], y[fit_idx]))
        oof[val_idx] = model.predict_proba(X[val_idx])[:, 1]
        fold_of[val_idx] = k
    return oof, fold_of


def choose_threshold(y: np.ndarray, probability: np.ndarray, costs: Costs = UCI_COSTS) -> float:
    """The grid threshold with the least cost; ties go to the one nearest the calibrated optimum."""
    totals = np.array([expected_cost(y, probability, t, costs) for t in THRESHOLD_GRID])
    best = np.flatnonzero(np.isclose(totals, totals.min()))
    optimum = costs.good_declined / (costs.good_declined + costs.bad_approved)
    return float(THRESHOLD_GRID[best[np.argmin(np.abs(THRESHOLD_GRID[best] - optimum))]])


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


def _design(X: np.ndarray, features: list[dict[str, Any]]) -> np.ndarray:
    """Standardised numbers and one-hot categories: the space the background is clustered in."""
    parts = []
    for j, feature in enumerate(features):
        column = X[:, j]
        if feature["type"] == "category":
            parts.append(np.eye(len(feature["categories"]))[column.astype(np.intp)])
        else:
            std = column.std() or 1.0
            parts.append(((column - column.mean()) / std)[:, None])
    return np.hstack(parts)


def _background(
    X: np.ndarray, seed: int, features: list[dict[str, Any]]
) -> tuple[np.ndarray, np.ndarray]:
    """A weighted summary of the training rows: k-means on the standardised design.

    With numbers only, the centres themselves (as before). With a category feature a
    centre would hold fractional categories, so each centre is replaced by the training
    row nearest to it, and rows chosen twice merge their weights.
    """
    from sklearn.cluster import KMeans

    design = _design(X, features)
    k = min(BACKGROUND_SIZE, len(X))
    kmeans = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(design)
    weights = np.bincount(kmeans.labels_, minlength=k) / len(X)
    if all(f["type"] != "category" for f in features):
        mean, std = X.mean(axis=0), X.std(axis=0)
        std[std == 0] = 1.0
        return np.round(kmeans.cluster_centers_ * std + mean, 6), weights
    distances = ((design[None, :, :] - kmeans.cluster_centers_[:, None, :]) ** 2).sum(axis=-1)
    nearest = distances.argmin(axis=1)
    rows, inverse = np.unique(nearest, return_inverse=True)
    merged = np.bincount(inverse.reshape(-1), weights=weights, minlength=len(rows))
    return X[rows], merged


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


def _version(onnx_bytes: bytes) -> tuple[datetime, str]:
    """When a model is made and its version: that time, then the start of the ONNX file's
    sha256 (two models made in the same second differ)."""
    trained_at = _trained_at()
    onnx_sha = hashlib.sha256(onnx_bytes).hexdigest()
    return trained_at, f"{trained_at:%Y%m%dT%H%M%SZ}-{onnx_sha[:6]}"


def _provenance(trained_at: datetime, started: float, difference: float) -> dict[str, Any]:
    """The card's record of how a model was made, trained here or imported: ONNX against
    scikit-learn, when, how long since ``started`` (``time.perf_counter()``), with what."""
    return {
        "onnx_max_abs_difference": difference,
        "trained_at": trained_at.isoformat().replace("+00:00", "Z"),
        "training_seconds": round(time.perf_counter() - started, 2),
        "libraries": _libraries(),
    }


def _probe(X: np.ndarray, features: list[dict[str, Any]], n: int = 2000) -> np.ndarray:
    """The data plus random rows across each feature's accepted range (or all categories)."""
    rng = np.random.default_rng(SEED)
    columns = []
    for feature in features:
        if feature["type"] == "category":
            columns.append(rng.integers(0, len(feature["categories"]), n).astype(float))
            continue
        lo, hi = float(feature["accepted"]["min"]), float(feature["accepted"]["max"])
        values = rng.uniform(lo, hi, n)
        if feature["type"] == "integer":
            values = np.clip(np.round(values), np.ceil(lo), np.floor(hi))
        columns.append(values)
    return np.vstack([X, np.column_stack(columns)])


def _onnx_predictor(onnx_bytes: bytes):
    import onnxruntime as ort

    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    output = session.get_outputs()[-1].name

    def predict(X: np.ndarray) -> np.ndarray:
        return session.run([output], {"features": np.ascontiguousarray(X, np.float64)})[0][:, 1]

    return predict


def _category_distribution(column: np.ndarray, feature: dict[str, Any]) -> dict[str, Any]:
    m = len(feature["categories"])
    counts = np.bincount(column.astype(np.intp), minlength=m)
    return {
        "codes": [c["code"] for c in feature["categories"]],
        "shares": [round(float(s), 6) for s in counts / counts.sum()],
    }


def _feature_entries(features: list[dict[str, Any]], X_train: np.ndarray) -> list[dict[str, Any]]:
    entries = []
    for j, spec in enumerate(features):
        column = X_train[:, j]
        if spec["type"] == "category":
            entries.append({**spec, "training_distribution": _category_distribution(column, spec)})
            continue
        edges, shares = training_distribution(column)
        entries.append(
            {
                **spec,
                "training_range": {"min": _plain(column.min()), "max": _plain(column.max())},
                "training_distribution": {
                    "edges": [_plain(round(float(e), 6)) for e in edges],
                    "shares": [round(float(s), 6) for s in shares],
                },
            }
        )
    return entries


def fairness_groups(
    dataset: Dataset, rows: np.ndarray, specs: list[dict[str, Any]]
) -> dict[str, np.ndarray]:
    """Each fairness grouping's label for ``rows`` of the data; groupings whose column is absent
    are left out."""
    groups = {}
    for spec in specs:
        raw = dataset.columns.get(spec["column"])
        if raw is None:
            continue
        groups[spec["name"]] = report.group_labels(spec, raw[rows])
    return groups


def train_model(
    name: str,
    dataset: Dataset,
    out_root: Path,
    quick: bool = False,
    seed: int = SEED,
    promote: bool = True,
    algorithm: str | None = None,
    limitations: str = "",
    excluded_columns: list[dict[str, str]] | None = None,
    groups: list[dict[str, Any]] | None = None,
    costs: Costs = UCI_COSTS,
    target_meaning: str = "1 = bad credit risk (UCI class 2), 0 = good",
) -> tuple[Path, dict[str, Any]]:
    """Train one model on ``dataset``; write its version folder; return (folder, card).

    A built-in name (``RECIPES``) supplies the algorithm, limitations and excluded columns
    when they are not given; ``python -m training fit`` passes its own.
    """
    import joblib
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    recipe = RECIPES.get(name)
    algorithm = algorithm or (recipe.algorithm if recipe else "logistic")
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}")
    if recipe is not None:
        limitations = limitations or recipe.limitations
        excluded_columns = recipe.excluded_columns if excluded_columns is None else excluded_columns
    groups = german.FAIRNESS_GROUPS if groups is None else groups
    features = dataset.features
    started = time.perf_counter()
    X, y = dataset.X, dataset.y
    idx_train, idx_holdout = train_test_split(
        np.arange(len(y)), test_size=HOLDOUT_SHARE, stratify=y, random_state=seed
    )
    X_train, y_train = X[idx_train], y[idx_train]
    X_holdout, y_holdout = X[idx_holdout], y[idx_holdout]

    grid = []
    for candidate in _candidates(algorithm, quick):
        oof, fold_of = _cross_validate(
            algorithm, candidate.params, X_train, y_train, seed, features
        )
        aucs = [roc_auc_score(y_train[fold_of == k], oof[fold_of == k]) for k in range(N_FOLDS)]
        grid.append(
            {"candidate": candidate, "auc": float(np.mean(aucs)), "oof": oof, "fold_of": fold_of}
        )
    best_auc = max(g["auc"] for g in grid)
    good_enough = [g for g in grid if g["auc"] >= best_auc - AUC_TOLERANCE]
    chosen = min(good_enough, key=lambda g: (g["candidate"].cost, -g["auc"]))
    params = chosen["candidate"].params

    threshold = choose_threshold(y_train, chosen["oof"], costs)
    fold_metrics = [
        _metrics(
            y_train[chosen["fold_of"] == k], chosen["oof"][chosen["fold_of"] == k], threshold, costs
        )
        for k in range(N_FOLDS)
    ]
    cv = {key: _summarise([m[key] for m in fold_metrics]) for key in fold_metrics[0]}

    pipeline = _single_threaded(_build(algorithm, params, seed, features).fit(X_train, y_train))
    classifier = pipeline.steps[-1][1]
    holdout_probability = pipeline.predict_proba(X_holdout)[:, 1]
    holdout = _metrics(y_holdout, holdout_probability, threshold, costs)

    onnx_bytes = _export_onnx(pipeline, X.shape[1])
    predict = _onnx_predictor(onnx_bytes)
    probe = _probe(X, features)
    difference = float(np.max(np.abs(predict(probe) - pipeline.predict_proba(probe)[:, 1])))
    if difference > 1e-6:
        raise RuntimeError(f"{name}: ONNX export differs from scikit-learn by {difference:.2e}")
    buffer = io.BytesIO()
    joblib.dump(pipeline, buffer, compress=3)
    joblib_bytes = buffer.getvalue()

    background, weights = _background(X_train, seed, features)
    explanation = _explanation(predict, background, weights, X_holdout, seed, quick)

    trained_at, version = _version(onnx_bytes)
    fairness = report.fairness_table(
        y_holdout,
        holdout_probability,
        threshold,
        fairness_groups(dataset, idx_holdout, groups),
        orders={g["name"]: report.group_order(g) for g in groups},
    )
    if fairness is not None:  # the groupings, so that a retrain can measure the same ones
        fairness["definitions"] = [g for g in groups if g["column"] in dataset.columns]
    card = {
        "schema_version": 2,
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
        "features": _feature_entries(features, X_train),
        "excluded_columns": list(excluded_columns or []),
        "onnx": {"input": "matrix"},
        "target": {
            "name": "default",
            "meaning": target_meaning,
            "base_rate_training": float(y_train.mean()),
        },
        "threshold": {
            "value": threshold,
            "method": (
                f"minimises the mean cost (a bad applicant approved costs {costs.bad_approved:g}, "
                f"a good one declined costs {costs.good_declined:g}) over the out-of-fold CV "
                "probabilities of the training split, on a grid of step 0.005"
            ),
            "calibrated_optimum": round(
                costs.good_declined / (costs.good_declined + costs.bad_approved), 4
            ),
            "decision_rule": "decline when probability_default >= threshold, else approve",
            "cost_matrix": {
                "bad_approved": costs.bad_approved,
                "good_declined": costs.good_declined,
            },
        },
        "baselines": {
            "holdout_expected_cost_decline_everyone": expected_cost(
                y_holdout, np.ones(len(y_holdout)), threshold, costs
            ),
            "holdout_expected_cost_approve_everyone": expected_cost(
                y_holdout, np.zeros(len(y_holdout)), threshold, costs
            ),
            "notes": "what the cost would be without a model, for comparison",
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
        "calibration": report.calibration_table(y_holdout, holdout_probability),
        "fairness": fairness,
        "rows": {"total": len(y), "train": len(y_train), "holdout": len(y_holdout)},
        "data": {"source": dataset.source, "sha256": dataset.sha256},
        "explanation": explanation,
        "seed": seed,
        **_provenance(trained_at, started, difference),
        "limitations": limitations,
    }
    folder = publish_model(Path(out_root) / name, card, joblib_bytes, onnx_bytes)
    if promote:
        write_pointer(folder.parent, version)
    return folder, card


def explanation_block(
    predict,
    background: np.ndarray,
    weights: np.ndarray,
    applicants: np.ndarray,
    seed: int,
    quick: bool,
) -> dict[str, Any]:
    """The card's ``explanation``: method, background, and for wide models the measured error."""
    k = background.shape[1]
    method = "exact" if k <= MAX_EXACT_FEATURES else "permutation"
    base_value = float(predict(background) @ (weights / weights.sum()))
    block: dict[str, Any] = {"method": method}
    if method == "exact":
        block["description"] = (
            "exact interventional Shapley values of probability_default over all "
            f"{2**k} coalitions, against a weighted background of {len(weights)} rows "
            "summarising the training split (k-means)"
        )
    else:
        block["description"] = (
            "a seeded, antithetic permutation estimate of interventional Shapley values of "
            f"probability_default: {DEFAULT_PERMUTATIONS} permutations (one antithetic pair) "
            f"per background row, {len(weights)} weighted background rows (training rows "
            "nearest the k-means centres); contributions sum exactly to "
            "probability_default - base_probability"
        )
        block["permutations"] = DEFAULT_PERMUTATIONS
        block["error_vs_exact"] = report.reason_error(
            predict,
            applicants,
            background,
            weights,
            DEFAULT_PERMUTATIONS,
            seed,
            applicants=3 if quick else 20,
            background_rows=4 if quick else 8,
        )
    block["seed"] = seed
    block["base_value"] = base_value
    block["background"] = background.tolist()
    block["background_weights"] = weights.tolist()
    return block


_explanation = explanation_block


def publish_model(
    model_folder: Path, card: dict[str, Any], joblib_bytes: bytes, onnx_bytes: bytes
) -> Path:
    """Record the artifacts' sha256 in the card and write the version folder (not promoted)."""
    card["artifacts"] = {
        JOBLIB_FILE: hashlib.sha256(joblib_bytes).hexdigest(),
        ONNX_FILE: hashlib.sha256(onnx_bytes).hexdigest(),
    }
    card_bytes = (json.dumps(card, indent=2) + "\n").encode("utf-8")
    files = {JOBLIB_FILE: joblib_bytes, ONNX_FILE: onnx_bytes, CARD_FILE: card_bytes}
    return publish_version(model_folder, card["version"], files)


def publish_version(model_folder: Path, version: str, files: dict[str, bytes]) -> Path:
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


def german_dataset(features: list[dict[str, Any]], data: Path = DEFAULT_DATA) -> Dataset:
    return load_csv(data, features)


def train_all(
    out_root: Path, data: Path = DEFAULT_DATA, quick: bool = False, names=MODEL_NAMES, log=None
) -> dict[str, dict[str, Any]]:
    """Train the built-in models on ``data`` into ``out_root``; return the cards by name."""
    cards = {}
    for i, name in enumerate(names, start=1):
        if log is not None:
            log(f"training {name} ({i}/{len(names)})…")
        dataset = german_dataset(RECIPES[name].features, data)
        cards[name] = train_model(name, dataset, out_root, quick=quick)[1]
    return cards


def ensure_models(out_root: Path, quick: bool = False, log=None) -> list[str]:
    """Train the built-in models that have no current version yet; return the names trained."""
    missing = [n for n in MODEL_NAMES if not (Path(out_root) / n / POINTER).is_file()]
    if missing:
        train_all(out_root, quick=quick, names=missing, log=log)
    return missing


__all__ = ["MODEL_NAMES", "RECIPES", "expected_cost", "train_all", "train_model"]
