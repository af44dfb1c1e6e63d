"""Validation rules against the card's feature schema: single applicants and tables alike."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from creditscorer.card import FeatureSpec
from creditscorer.errors import ValidationError
from creditscorer.validation import validate_record, validate_table

DURATION = FeatureSpec("duration", "integer", "months", "", 1, 120, False, False, 4, 72)
AMOUNT = FeatureSpec("amount", "number", "DM", "", 0, 1_000_000, True, False, 250, 18424)
AGE = FeatureSpec("age", "integer", "years", "", 18, 100, False, False, 19, 75)
FEATURES = (DURATION, AMOUNT, AGE)
GOOD = {"duration": 24, "amount": 4000, "age": 35}


def record_error(**changes) -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        validate_record(FEATURES, {**GOOD, **changes})
    return {e.field: e.message for e in caught.value.errors}


def test_valid_record_gives_features_in_card_order():
    validated = validate_record(FEATURES, {"age": 35, "amount": 4000.5, "duration": 24})
    assert validated.X.tolist() == [[24.0, 4000.5, 35.0]]
    assert validated.warnings == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12", 12.0),
        (" 24 ", 24.0),
        ("1 200", 1200.0),
        ("1\u00a0200.50", 1200.5),
        ("1\u202f200", 1200.0),
        ("4e3", 4000.0),
        ("24.0", 24.0),
    ],
)
def test_text_that_reads_as_a_plain_number_is_accepted(text, expected):
    column = "amount" if expected not in (12.0, 24.0) else "duration"
    validated = validate_record(FEATURES, {**GOOD, column: text})
    assert validated.X[0, [f.name for f in FEATURES].index(column)] == expected


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [
        ("amount", "1 200,50", "use '.' as the decimal separator"),
        ("amount", "1,200", "use '.' as the decimal separator"),
        ("amount", "abc", "not a number ('abc')"),
        ("amount", "", "is required"),
        ("amount", None, "is required"),
        ("amount", True, "must be a number, not true/false"),
        ("amount", [1], "not a number (list)"),
        ("amount", float("nan"), "must be a finite number"),
        ("amount", float("inf"), "must be a finite number"),
        ("amount", "nan", "must be a finite number"),
        ("amount", 10**400, "must be a finite number"),
        ("amount", 0, "must be greater than 0 and at most 1000000 (got 0)"),
        ("amount", -5, "must be greater than 0 and at most 1000000 (got -5)"),
        ("amount", 1_000_001, "must be greater than 0 and at most 1000000"),
        ("duration", 24.5, "must be a whole number (got 24.5)"),
        ("duration", 0, "must be between 1 and 120 (got 0)"),
        ("duration", 121, "must be between 1 and 120 (got 121)"),
        ("age", 17, "must be between 18 and 100 (got 17)"),
        ("age", "101", "must be between 18 and 100 (got 101)"),
    ],
)
def test_bad_value_names_the_field_and_the_rule(field, value, rule):
    errors = record_error(**{field: value})
    assert list(errors) == [field]
    assert rule in errors[field]


def test_every_broken_field_is_reported_at_once():
    with pytest.raises(ValidationError) as caught:
        validate_record(FEATURES, {"duration": "x", "age": 200})
    fields = [e.field for e in caught.value.errors]
    assert fields == ["duration", "amount", "age"]
    assert caught.value.detail == "3 fields are invalid: duration, amount, age"


def test_value_outside_training_range_scores_with_a_warning():
    validated = validate_record(FEATURES, {**GOOD, "duration": 100})
    assert validated.warnings == [
        "duration 100 is outside the training range 4–72; the score is an extrapolation"
    ]


def test_table_reports_errors_per_row_and_keeps_good_rows():
    table = validate_table(
        FEATURES,
        {
            "duration": [24, 12, "x", 100],
            "amount": [4000, "abc", 100, 5000],
            "age": [35, 40, 17, 50],
        },
        4,
    )
    assert table.valid.tolist() == [True, False, False, True]
    assert table.errors == {
        1: "amount: not a number ('abc')",
        2: "duration: not a number ('x'); age: must be between 18 and 100 (got 17)",
    }
    assert table.warnings == {
        3: "duration 100 is outside the training range 4–72; the score is an extrapolation"
    }
    assert table.X[0].tolist() == [24.0, 4000.0, 35.0]


def test_table_without_a_feature_column_is_rejected_naming_the_column():
    with pytest.raises(ValidationError) as caught:
        validate_table(FEATURES, {"duration": [1], "amount": [2]}, 1)
    assert [(e.field, e.message) for e in caught.value.errors] == [("age", "column is required")]


def test_large_clean_table_is_validated_column_wise():
    n = 100_000
    rng = np.random.default_rng(0)
    columns = {
        "duration": rng.integers(4, 72, n).tolist(),
        "amount": rng.uniform(250, 18000, n).tolist(),
        "age": [str(v) for v in rng.integers(19, 75, n)],  # text cells, as from a CSV
    }
    table = validate_table(FEATURES, columns, n)
    assert table.valid.all()
    assert table.errors == {}
    assert np.array_equal(table.X[:, 2], np.array(columns["age"], dtype=float))


def test_one_bad_value_in_a_large_text_column_fails_only_its_row():
    n = 5000
    ages = ["35"] * n
    ages[4321] = "thirty"
    table = validate_table(FEATURES, {"duration": [24] * n, "amount": [4000] * n, "age": ages}, n)
    assert table.errors == {4321: "age: not a number ('thirty')"}
    assert int(table.valid.sum()) == n - 1


cell_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["24", " 1 200 ", "1,5", "4e3", "nan", "-0", "35.0", "1e309"]),
)


@settings(max_examples=300, deadline=None)
@given(duration=cell_values, amount=cell_values, age=cell_values)
def test_single_and_table_paths_apply_the_same_rules(duration, amount, age):
    record = {"duration": duration, "amount": amount, "age": age}
    table = validate_table(FEATURES, {k: [v] for k, v in record.items()}, 1)
    try:
        single = validate_record(FEATURES, record)
    except ValidationError as error:
        expected = "; ".join(f"{e.field}: {e.message}" for e in error.errors)
        assert table.errors == {0: expected}
        assert not table.valid[0]
    else:
        assert table.valid[0]
        assert table.errors == {}
        assert table.X.tolist() == single.X.tolist()
        assert list(table.warnings.values()) == (
            ["; ".join(single.warnings)] if single.warnings else []
        )
        assert all(math.isfinite(v) for v in single.X[0])


# -- category features ------------------------------------------------------------------------

HOUSING = FeatureSpec.from_dict(
    {
        "name": "housing",
        "type": "category",
        "categories": [
            {"code": "A151", "label": "rent"},
            {"code": "A152", "label": "own"},
            {"code": "A153", "label": "for free"},
        ],
    }
)
RATE = FeatureSpec.from_dict(
    {"name": "rate", "type": "category", "categories": [{"code": "1"}, {"code": "2"}]}
)
MIXED = (DURATION, HOUSING, RATE)


@pytest.mark.parametrize(
    ("value", "index"),
    [("A151", 0), ("a152", 1), (" OWN ", 1), ("for   FREE", 2), ("Rent", 0)],
)
def test_a_category_accepts_its_code_or_its_label_in_any_case(value, index):
    validated = validate_record(MIXED, {"duration": 24, "housing": value, "rate": "2"})
    assert validated.X.tolist() == [[24.0, float(index), 1.0]]


@pytest.mark.parametrize(("value", "index"), [(1, 0), (2.0, 1), ("2", 1)])
def test_a_number_matches_a_category_code_as_the_text_it_prints_as(value, index):
    validated = validate_record(MIXED, {"duration": 24, "housing": "own", "rate": value})
    assert validated.X[0, 2] == index


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("castle", "must be one of A151 (rent), A152 (own), A153 (for free) (got 'castle')"),
        (None, "is required"),
        ("  ", "is required"),
        (True, "must be one of A151 (rent), A152 (own), A153 (for free) (got true/false)"),
        ([1], "must be one of A151 (rent), A152 (own), A153 (for free) (got list)"),
    ],
)
def test_a_wrong_category_names_the_field_and_the_allowed_values(value, message):
    with pytest.raises(ValidationError) as caught:
        validate_record(MIXED, {"duration": 24, "housing": value, "rate": 1})
    assert [(e.field, e.message) for e in caught.value.errors] == [("housing", message)]


def test_a_long_list_of_allowed_values_is_shortened():
    many = FeatureSpec.from_dict(
        {"name": "branch", "type": "category", "categories": [{"code": f"b{i}"} for i in range(40)]}
    )
    with pytest.raises(ValidationError) as caught:
        validate_record((many,), {"branch": "nowhere"})
    message = caught.value.errors[0].message
    assert "b11, and 28 more" not in message
    assert message.startswith("must be one of b0, b1, b2")
    assert "and 28 more (got 'nowhere')" in message


def test_a_card_with_an_ambiguous_category_is_refused():
    with pytest.raises(ValueError, match="names two categories"):
        FeatureSpec.from_dict(
            {
                "name": "x",
                "type": "category",
                "categories": [{"code": "a", "label": "b"}, {"code": "B", "label": "c"}],
            }
        )


def test_a_large_category_column_is_matched_through_its_distinct_values():
    n = 100_000
    column = np.array(["A151", "own", "FOR FREE", "rent"] * (n // 4), dtype=object)
    column[7] = "boat"
    table = validate_table(
        MIXED, {"duration": np.full(n, 24), "housing": column, "rate": ["1"] * n}, n
    )
    assert table.X[:4, 1].tolist() == [0.0, 1.0, 2.0, 0.0]
    assert list(table.errors) == [7]
    assert table.errors[7].startswith("housing: must be one of A151 (rent)")
    assert table.valid.sum() == n - 1


category_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["A151", "own ", "FOR free", "", " ", "1", "2.0", "castle", "a15 1"]),
    st.text(max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(housing=category_values, rate=category_values, duration=cell_values)
def test_single_and_table_paths_agree_on_categories(housing, rate, duration):
    record = {"duration": duration, "housing": housing, "rate": rate}
    table = validate_table(MIXED, {k: [v] for k, v in record.items()}, 1)
    try:
        single = validate_record(MIXED, record)
    except ValidationError as error:
        expected = "; ".join(f"{e.field}: {e.message}" for e in error.errors)
        assert table.errors == {0: expected}
    else:
        assert table.errors == {}
        assert table.X.tolist() == single.X.tolist()
