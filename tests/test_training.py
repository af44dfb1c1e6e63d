"""Training is reproducible and its card says what a reviewer needs to know."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from creditscorer.card import ModelCard
from creditscorer.store import read_pointer
from training import MODEL_NAMES, train_all
from training.train import choose_threshold, expected_cost

DATA = Path(__file__).resolve().parent.parent / "training" / "data" / "german_credit.csv"


def load_cards(root: Path) -> dict[str, dict]:
    cards = {}
    for name in MODEL_NAMES:
        folder = root / name / read_pointer(root / name)
        cards[name] = json.loads((folder / "card.json").read_text())
    return cards


def test_shipped_data_is_the_documented_file():
    digest = hashlib.sha256(DATA.read_bytes()).hexdigest()
    assert digest == "ea1ba8e4498b5bd23884a03cc88f9cc722daff373c451345f0fe9920ae472b63"


def test_same_data_gives_the_same_models_and_metrics(model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    again = train_all(tmp_path, quick=True)
    before = load_cards(model_dir)
    for name, card in again.items():
        assert card["artifacts"]["model.onnx"] == before[name]["artifacts"]["model.onnx"]
        assert card["metrics"] == before[name]["metrics"]
        assert card["threshold"] == before[name]["threshold"]
        assert card["explanation"] == before[name]["explanation"]
        assert card["version"].startswith("20231114T221320Z-")


@pytest.mark.parametrize("name", ["logistic", "forest"])
def test_card_records_what_the_api_promises(model_dir, name):
    card = load_cards(model_dir)[name]
    parsed = ModelCard.from_dict(card)
    assert parsed.feature_names == ["duration", "amount", "age"]
    assert card["algorithm"] in {"LogisticRegression", "RandomForestClassifier"}
    for section in ("cv", "holdout"):
        assert set(card["metrics"][section]) >= {"roc_auc", "accuracy", "brier", "expected_cost"}
    assert 0.5 < card["metrics"]["holdout"]["roc_auc"] < 0.8  # three features: weak, as stated
    assert "weakly" in card["limitations"]
    assert card["rows"] == {"total": 1000, "train": 800, "holdout": 200}
    assert card["threshold"]["calibrated_optimum"] == pytest.approx(1 / 6, abs=1e-4)
    assert set(card["libraries"]) >= {"python", "scikit-learn", "onnxruntime", "skl2onnx"}
    duration = card["features"][0]
    assert duration["accepted"] == {"min": 1, "max": 120}
    assert duration["training_range"]["min"] >= 4
    assert duration["training_range"]["max"] <= 72
    assert card["onnx_max_abs_difference"] <= 1e-6
    for feature in card["features"]:  # the drift reference: decile bins of the training split
        reference = feature["training_distribution"]
        assert len(reference["shares"]) == len(reference["edges"]) + 1
        assert sum(reference["shares"]) == pytest.approx(1.0, abs=1e-5)
        assert reference["edges"] == sorted(reference["edges"])


@pytest.mark.parametrize("name", ["logistic", "forest"])
def test_card_sha256_matches_every_artifact(model_dir, name):
    folder = model_dir / name / read_pointer(model_dir / name)
    card = json.loads((folder / "card.json").read_text())
    for filename, digest in card["artifacts"].items():
        assert hashlib.sha256((folder / filename).read_bytes()).hexdigest() == digest


def test_threshold_minimises_the_uci_cost():
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.05, 0.1, 0.3, 0.2, 0.6])
    threshold = choose_threshold(y, p)
    best = min(expected_cost(y, p, t) for t in np.arange(0.0, 1.0, 0.001))
    assert expected_cost(y, p, threshold) == pytest.approx(best)


def test_expected_cost_uses_the_uci_matrix():
    y = np.array([1, 0])  # one bad applicant, one good
    assert expected_cost(y, np.array([0.0, 0.0]), 0.5) == pytest.approx(5 / 2)  # bad approved
    assert expected_cost(y, np.array([1.0, 1.0]), 0.5) == pytest.approx(1 / 2)  # good declined


# -- the full-attribute models ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["logistic_full", "forest_full"])
def test_full_models_use_every_attribute_the_law_allows(model_dir, name):
    card = load_cards(model_dir)[name]
    parsed = ModelCard.from_dict(card)
    names = parsed.feature_names
    assert len(names) == 18
    assert "personal_status_sex" not in names
    assert "foreign_worker" not in names
    assert {c["name"] for c in card["excluded_columns"]} == {
        "personal_status_sex",
        "foreign_worker",
    }
    assert parsed.protected_features == ["age"]
    checking = parsed.features[names.index("checking_status")]
    assert checking.type == "category"
    assert checking.categories[0].code == "A11"
    assert checking.categories[0].label == "< 0 DM"
    shares = card["features"][names.index("purpose")]["training_distribution"]
    assert shares["codes"][7] == "A47"
    assert shares["shares"][7] == 0.0
    assert card["explanation"]["method"] == "permutation"
    error = card["explanation"]["error_vs_exact"]
    assert error["max_abs"] < 0.02
    assert error["mean_abs"] < error["mean_abs_exact"]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_card_has_calibration_and_fairness_tables(model_dir, name):
    card = load_cards(model_dir)[name]
    bins = card["calibration"]["bins"]
    assert len(bins) == 10
    assert sum(b["count"] for b in bins) == card["rows"]["holdout"]
    means = [b["mean_predicted"] for b in bins]
    assert means == sorted(means)
    fairness = card["fairness"]
    assert set(fairness["groups"]) == {"age_band", "sex", "foreign_worker"}
    for rows in fairness["groups"].values():
        assert sum(r["count"] for r in rows) == card["rows"]["holdout"]
        assert all(0 <= r["approval_rate"] <= 1 for r in rows)
    assert {r["group"] for r in fairness["groups"]["sex"]} == {"female", "male"}
    gap = fairness["largest_approval_gap"]
    assert gap["gap"] == max(g["gap"] for g in fairness["approval_gaps"])
    assert gap["gap"] == pytest.approx(
        gap["highest"]["approval_rate"] - gap["lowest"]["approval_rate"]
    )


def test_full_model_onnx_agrees_with_its_pipeline_on_the_holdout_rows(store):
    """The serving path (ONNX with one-hot categories) against scikit-learn's own pipeline."""
    from sklearn.model_selection import train_test_split

    from training.train import HOLDOUT_SHARE, RECIPES, SEED, german_dataset

    for name in ("logistic_full", "forest_full"):
        model = store.get(name)
        dataset = german_dataset(RECIPES[name].features)
        _, holdout = train_test_split(
            np.arange(dataset.n_rows), test_size=HOLDOUT_SHARE, stratify=dataset.y,
            random_state=SEED,
        )  # fmt: skip
        X = dataset.X[holdout]
        assert np.max(np.abs(model.predict_proba(X) - model.predict_proba_sklearn(X))) <= 1e-6
        contributions = model.explain(X[:20])
        assert np.allclose(
            contributions.sum(axis=1), model.predict_proba(X[:20]) - model.base_probability
        )
