"""``python -m training.retrain <job folder> [lock fd]``: one retrain job, in a child process.

The server (``server/retrain.py``) validates the upload by the live card, writes the job
folder and starts this module; it never imports the training code itself. Here the
model is retrained with the live version's features (categories included), algorithm,
excluded columns and fairness groupings, gated against the live version on the same
hold-out rows, and promoted if it passes (or if the job says ``force``). The outcome is
written to the job's ``job.json``, which any server worker can read.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from creditscorer.files import atomic_write_json, utc_now
from creditscorer.scoring import Model
from creditscorer.store import pointer_lock, promote_version, read_pointer
from training import german
from training.data import TARGET, DataError, encode, labels, read_table
from training.train import (
    DEFAULT_DATA,
    HOLDOUT_SHARE,
    RECIPES,
    SEED,
    german_dataset,
    train_model,
)

JOB_FILE = "job.json"
DATA_FILE = "data.csv"
ALGORITHM_OF = {"LogisticRegression": "logistic", "RandomForestClassifier": "forest"}
_TRAINING_KEYS = ("training_range", "training_distribution")


def live_features(live: Model) -> list[dict[str, Any]]:
    """The live card's feature entries without what training measures anew."""
    return [
        {k: v for k, v in feature.items() if k not in _TRAINING_KEYS}
        for feature in live.card.raw["features"]
    ]


def _auc(y: np.ndarray, probability: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, probability))


def run_job(job: dict[str, Any], job_dir: Path) -> dict[str, Any]:
    """Train, gate and maybe promote; return the job's final fields."""
    from sklearn.model_selection import train_test_split

    model_dir = Path(job["model_dir"])
    name = job["model"]
    folder = model_dir / name
    live = Model.load(folder / read_pointer(folder))
    algorithm = ALGORITHM_OF.get(live.card.algorithm)
    if algorithm is None or live.card.raw.get("imported"):
        raise DataError(f"{name} ({live.card.algorithm}) has no training recipe here")
    features = live_features(live)
    fairness = live.card.raw.get("fairness") or {}
    groups = fairness.get("definitions", german.FAIRNESS_GROUPS if name in RECIPES else [])
    if (job_dir / DATA_FILE).exists():
        table = read_table((job_dir / DATA_FILE).read_bytes(), f"upload {job['data']['source']}")
        dataset = encode(table, features, labels(table, TARGET, positive="1"))
    elif name in RECIPES:
        dataset = german_dataset(features, DEFAULT_DATA)
    else:
        raise DataError(f"{name} is not a built-in model: upload its training data")
    new_folder, card = train_model(
        name,
        dataset,
        model_dir,
        quick=job["quick"],
        promote=False,
        algorithm=algorithm,
        limitations=live.card.raw.get("limitations", ""),
        excluded_columns=live.card.raw.get("excluded_columns", []),
        groups=groups,
    )
    new_version = card["version"]
    # The gate scores both models on the rows the candidate never saw: the same stratified
    # split that train_model holds out (same seed, same share). Both have the same features.
    _, holdout = train_test_split(
        np.arange(dataset.n_rows), test_size=HOLDOUT_SHARE, stratify=dataset.y, random_state=SEED
    )
    X_holdout, y_holdout = dataset.X[holdout], dataset.y[holdout]
    candidate_auc = _auc(y_holdout, Model.load(new_folder).predict_proba(X_holdout))
    max_drop = float(job["max_auc_drop"])
    with pointer_lock(folder):
        live_version = read_pointer(folder)
        live = Model.load(folder / live_version)
        live_auc = _auc(y_holdout, live.predict_proba(X_holdout))
        measured_on = f"the candidate's hold-out split ({len(holdout)} rows of {dataset.source})"
        drop = live_auc - candidate_auc
        if new_version == live_version:
            status, reason = "unchanged", "the new model is identical to the live version"
        elif job["force"]:
            status = "promoted"
            reason = f"forced (the gate would have {'passed' if drop <= max_drop else 'failed'})"
        elif drop <= max_drop:
            status = "promoted"
            reason = (
                f"passed the gate: hold-out AUC {candidate_auc:.4f} is not worse than the "
                f"live model's {live_auc:.4f} by more than {max_drop:g}"
            )
        else:
            status = "rejected"
            reason = (
                f"failed the gate: hold-out AUC {candidate_auc:.4f} is worse than the live "
                f"model's {live_auc:.4f} by {drop:.4f} > {max_drop:g}; version {new_version} "
                "is kept but not live (retrain with force=true to promote it anyway)"
            )
        if status == "promoted":
            promote_version(folder, new_version, note=f"retrain job {job['job_id']}: {reason}")
    return {
        "status": status,
        "promoted": status == "promoted",
        "reason": reason,
        "old_version": live_version,
        "new_version": new_version,
        "live_version": new_version if status == "promoted" else live_version,
        "auc": {
            "candidate": round(candidate_auc, 6),
            "live": round(live_auc, 6),
            "max_drop": max_drop,
            "measured_on": measured_on,
        },
        "data": {**job["data"], "rows": dataset.n_rows, "sha256": dataset.sha256},
        "training_seconds": card["training_seconds"],
    }


def main(argv: list[str] | None = None) -> int:
    """Run one job and record its outcome; close the inherited lock as soon as it is on disk,
    so the next retrain may start while this process is still winding down."""
    args = sys.argv[1:] if argv is None else argv
    job_dir = Path(args[0])
    if hasattr(os, "nice"):
        os.nice(10)  # scoring requests come first on a busy machine
    job = json.loads((job_dir / JOB_FILE).read_text(encoding="utf-8"))
    try:
        outcome = run_job(job, job_dir)
    except DataError as error:
        outcome = {"status": "failed", "promoted": False, "reason": str(error)}
    except Exception as error:
        traceback.print_exc()  # into the job's log.txt, never into an HTTP reply
        outcome = {
            "status": "failed",
            "promoted": False,
            "reason": f"training failed ({type(error).__name__}); see the job's log.txt",
        }
    job.update(outcome, finished_at=utc_now())
    atomic_write_json(job_dir / JOB_FILE, job)
    if len(args) > 1:
        os.close(int(args[1]))  # releases the model's retrain lock
    return 0 if outcome["status"] != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
