"""Scoring with the ONNX export: agreement with scikit-learn, decisions, exact Shapley reasons."""

from __future__ import annotations

from itertools import permutations
from math import factorial

import numpy as np
import pytest

from creditscorer.errors import ValidationError

MODELS = ["logistic", "forest"]


def random_applicants(n: int, seed: int = 7) -> np.ndarray:
    """Applicants over the whole accepted range, most of them inside the training range."""
    rng = np.random.default_rng(seed)
    inside = np.column_stack(
        [rng.integers(4, 73, n), rng.uniform(250, 18424, n), rng.integers(19, 76, n)]
    )
    anywhere = np.column_stack(
        [rng.integers(1, 121, n), rng.uniform(0.01, 1_000_000, n), rng.integers(18, 101, n)]
    )
    return np.vstack([inside, anywhere]).astype(np.float64)


@pytest.mark.parametrize("name", MODELS)
def test_onnx_agrees_with_the_joblib_pipeline_to_1e_6(store, name):
    model = store.get(name)
    X = random_applicants(5000)
    difference = np.abs(model.predict_proba(X) - model.predict_proba_sklearn(X))
    assert difference.max() <= 1e-6


@pytest.mark.parametrize("name", MODELS)
def test_decision_declines_at_or_above_the_threshold(store, name):
    model = store.get(name)
    probabilities = np.array([0.0, model.threshold - 1e-12, model.threshold, 1.0])
    assert model.decide(probabilities).tolist() == ["approve", "approve", "decline", "decline"]


def brute_force_shapley(predict, x, background, weights):
    """The textbook definition: average marginal contribution over all feature orders."""
    k = len(x)

    def value(coalition):
        rows = background.copy()
        for j in coalition:
            rows[:, j] = x[j]
        return float(predict(rows) @ weights)

    phi = np.zeros(k)
    for order in permutations(range(k)):
        seen: list[int] = []
        for j in order:
            phi[j] += value([*seen, j]) - value(seen)
            seen.append(j)
    return phi / factorial(k)


@pytest.mark.parametrize("name", MODELS)
def test_reasons_are_exact_shapley_values_that_sum_to_score_minus_base(store, name):
    model = store.get(name)
    explanation = model.card.raw["explanation"]
    background = np.asarray(explanation["background"])
    weights = np.asarray(explanation["background_weights"])
    for x in random_applicants(3, seed=11):
        result = model.score_one(dict(zip(["duration", "amount", "age"], x.tolist(), strict=True)))
        got = {r["feature"]: r["contribution"] for r in result.reasons}
        expected = brute_force_shapley(
            model.predict_proba_sklearn, x, background, weights / weights.sum()
        )
        assert [got[f] for f in ["duration", "amount", "age"]] == pytest.approx(expected, abs=1e-6)
        assert sum(got.values()) == pytest.approx(
            result.probability_default - result.base_probability, abs=1e-9
        )
        magnitudes = [abs(r["contribution"]) for r in result.reasons]
        assert magnitudes == sorted(magnitudes, reverse=True)


def test_base_probability_is_the_card_base_value(store):
    model = store.get("forest")
    assert model.base_probability == pytest.approx(
        model.card.raw["explanation"]["base_value"], abs=1e-6
    )


def test_score_one_without_reasons_gives_the_same_probability(store):
    model = store.get("forest")
    applicant = {"duration": 24, "amount": 4000, "age": 35}
    with_reasons = model.score_one(applicant)
    without = model.score_one(applicant, with_reasons=False)
    assert without.reasons == []
    assert without.probability_default == with_reasons.probability_default


def test_score_one_rejects_bad_input_before_scoring(store):
    with pytest.raises(ValidationError) as caught:
        store.get("logistic").score_one({"duration": 24, "amount": -1, "age": 35})
    assert [e.field for e in caught.value.errors] == ["amount"]


@pytest.mark.parametrize("name", MODELS)
def test_batch_scores_good_rows_when_one_row_is_invalid(store, name):
    model = store.get(name)
    columns = {"duration": [24, 12, 36], "amount": [4000, "abc", 9000], "age": [35, 40, 50]}
    result = model.score_table(columns, 3)
    assert result.errors == {1: "amount: not a number ('abc')"}
    assert np.isnan(result.probability_default[1])
    single = [
        model.score_one({"duration": d, "amount": a, "age": g})
        for d, a, g in [(24, 4000, 35), (36, 9000, 50)]
    ]
    assert result.probability_default[[0, 2]].tolist() == [s.probability_default for s in single]
    assert [result.decision[0], result.decision[2]] == [s.decision for s in single]
    assert result.summary == {"rows": 3, "scored": 2, "failed": 1, "warned": 0}
    rows = result.result_rows()
    assert rows[1] == [None, None, "amount: not a number ('abc')", None]


def test_batch_reasons_match_single_reasons(store):
    model = store.get("logistic")
    columns = {"duration": [24, 48], "amount": [4000, 12000], "age": [35, 23]}
    result = model.score_table(columns, 2, with_reasons=True)
    assert result.result_columns()[-3:] == [
        "contribution_duration",
        "contribution_amount",
        "contribution_age",
    ]
    for i in range(2):
        single = model.score_one({k: v[i] for k, v in columns.items()})
        by_feature = {r["feature"]: r["contribution"] for r in single.reasons}
        expected = [by_feature[f] for f in ["duration", "amount", "age"]]
        assert result.contributions[i].tolist() == pytest.approx(expected, abs=1e-12)
