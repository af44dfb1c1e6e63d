"""The generic worksheet functions follow the card: any model, categories included.

Called as Python functions (as the xlwings add-in calls them with cell values), against a
real server and in local mode, for a full-attribute model and for a model trained from a
data set whose feature names no code knows. Each value is compared with the API's own.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import FULL_APPLICANT, PROJECT_ROOT, start_server, write_synthetic_credit_csv

from excel import udfs
from excel.udf_service import ConfigCache, UdfService

UNSEEN = "tenure_model"
UNSEEN_ROW = {"tenure_years": 4.0, "utilisation": 0.9, "region": "East", "product_tier": "bronze"}


@pytest.fixture(scope="module")
def store_with_unseen_model(model_dir: Path, tmp_path_factory) -> Path:
    """The session's models plus one trained by the command a user types."""
    root = tmp_path_factory.mktemp("udf_records")
    shutil.copytree(model_dir, root / "models")
    write_synthetic_credit_csv(root / "loans.csv")
    done = subprocess.run(
        [
            sys.executable, "-m", "training", "fit", "--data", str(root / "loans.csv"),
            "--target", "went_bad", "--name", UNSEEN, "--model-dir", str(root / "models"),
            "--quick",
        ],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return root / "models"


@pytest.fixture(scope="module")
def server(store_with_unseen_model, tmp_path_factory):
    db = tmp_path_factory.mktemp("udf_records_db") / "log.sqlite3"
    process = start_server(
        {
            "CREDITSCORER_MODEL_DIR": str(store_with_unseen_model),
            "CREDITSCORER_TRAIN_IF_MISSING": "0",
            "CREDITSCORER_DATABASE_URL": f"sqlite:///{db}",
        }
    )
    yield process
    process.stop()


@pytest.fixture(params=["api", "local"])
def mode(request, monkeypatch, server, store_with_unseen_model) -> str:
    """The UDFs pointed at the real server, or scoring locally on the same store."""
    if request.param == "api":
        monkeypatch.setenv("CREDITSCORER_API_URL", server.url)
    else:
        monkeypatch.setenv("CREDITSCORER_API_URL", "local")
        monkeypatch.setenv("CREDITSCORER_MODEL_DIR", str(store_with_unseen_model))
    monkeypatch.delenv("CREDITSCORER_API_KEY", raising=False)
    monkeypatch.setattr(udfs, "service", UdfService())
    monkeypatch.setattr(udfs, "workbook_config", ConfigCache())
    return request.param


CASES = [("logistic_full", FULL_APPLICANT), (UNSEEN, UNSEEN_ROW)]


def as_cells(row: dict) -> tuple[list[list[str]], list[list[object]]]:
    """Names in one row of cells, values in the row below, as Excel passes ranges;
    whole numbers arrive as floats, as they do from a worksheet."""
    values = [float(v) if isinstance(v, int) else v for v in row.values()]
    return [list(row)], [values]


@pytest.mark.parametrize(("model", "row"), CASES)
def test_record_functions_equal_the_apis_answer(mode, server, model, row):
    api = server.post("/v1/predict", json={"model": model, **row}).json()
    headers, values = as_cells(row)
    assert udfs.CREDIT_SCORE_RECORD(headers, values, model) == pytest.approx(
        api["probability_default"], abs=1e-12
    )
    assert udfs.CREDIT_DECISION_RECORD(headers, values, model) == api["decision"]
    reasons = udfs.CREDIT_REASONS_RECORD(headers, values, model, True)
    assert reasons[0] == ["feature", "contribution"]
    assert [r[0] for r in reasons[1:]] == [r["feature"] for r in api["reasons"]]
    assert [r[1] for r in reasons[1:]] == pytest.approx([r["contribution"] for r in api["reasons"]])


def test_names_and_values_may_be_columns_in_any_order(mode, server):
    names = list(reversed(list(UNSEEN_ROW)))
    column_names = [[n] for n in names]
    column_values = [[UNSEEN_ROW[n]] for n in names]
    api = server.post("/v1/predict", json={"model": UNSEEN, **UNSEEN_ROW}).json()
    assert udfs.CREDIT_SCORE_RECORD(column_names, column_values, UNSEEN) == pytest.approx(
        api["probability_default"], abs=1e-12
    )


def test_a_bad_category_names_the_field_and_the_allowed_values(mode):
    headers, values = as_cells({**UNSEEN_ROW, "region": "mars"})
    assert udfs.CREDIT_SCORE_RECORD(headers, values, UNSEEN) == (
        "#SCORE! region: must be one of east, north, south, west (got 'mars')"
    )


def test_mismatched_names_and_values_are_an_error_not_a_guess(mode):
    assert udfs.CREDIT_SCORE_RECORD([["region", "region"]], [["east", "west"]], UNSEEN) == (
        "#SCORE! headers: 'region' appears twice"
    )
    assert udfs.CREDIT_SCORE_RECORD([["region"]], [["east", "west"]], UNSEEN) == (
        "#SCORE! headers and values: 1 names but 2 values"
    )


@pytest.mark.parametrize("model", ["logistic_full", UNSEEN, "logistic"])
def test_credit_features_spills_the_cards_schema(mode, server, model):
    card = server.get(f"/v1/models/{model}").json()
    table = udfs.CREDIT_FEATURES(model)
    assert table[0] == ["name", "label", "type", "unit", "accepted", "allowed", "description"]
    assert [r[0] for r in table[1:]] == [f["name"] for f in card["features"]]
    for row, feature in zip(table[1:], card["features"], strict=True):
        assert row[2] == feature["type"]
        if feature["type"] == "category":
            assert row[5].split("; ") == [c["label"] for c in feature["categories"]]
            assert row[4] is None
        else:
            assert row[4].endswith(f"<= {feature['accepted']['max']}")


def test_the_features_name_column_feeds_the_record_form(mode, server):
    """An input block built from CREDIT_FEATURES scores as the API does."""
    table = udfs.CREDIT_FEATURES("logistic_full")
    names = [[r[0]] for r in table[1:]]
    values = [[FULL_APPLICANT[r[0]]] for r in table[1:]]
    api = server.post("/v1/predict", json={"model": "logistic_full", **FULL_APPLICANT}).json()
    assert udfs.CREDIT_SCORE_RECORD(names, values, "logistic_full") == pytest.approx(
        api["probability_default"], abs=1e-12
    )


def test_the_table_form_scores_a_full_model_with_categories_in_one_request(mode, server):
    names = list(FULL_APPLICANT)
    good = [FULL_APPLICANT[n] for n in names]
    bad = [*good]
    bad[names.index("purpose")] = "yacht"
    by_label = [*good]
    by_label[names.index("checking_status")] = "no checking account"
    result = udfs.CREDIT_SCORE_TABLE([names, good, bad, by_label], "logistic_full")
    assert result[0] == ["probability_default", "decision", "error", "warning"]
    api = server.post(
        "/v1/predict/batch",
        json={"model": "logistic_full", "columns": names, "rows": [good, bad, by_label]},
    ).json()
    assert [r[0] for r in result[1:]] == pytest.approx(
        [r[api["columns"].index("probability_default")] for r in api["rows"]], nan_ok=True
    )
    assert result[2][2].startswith("purpose: must be one of A40 (car (new))")


def test_the_seed_form_on_a_full_model_points_to_the_record_form(mode):
    cell = udfs.CREDIT_SCORE(24.0, 4000.0, 35.0, "logistic_full")
    assert cell.startswith("#SCORE! checking_status: is required; ")
    assert cell.endswith(
        "(this function takes the seed models' duration, amount and age; for this model use "
        "CREDIT_SCORE_RECORD(headers, values, model), CREDIT_FEATURES(model) lists its features)"
    )


def test_local_mode_takes_the_default_model_from_the_setting(mode, monkeypatch, server):
    monkeypatch.setenv("CREDITSCORER_DEFAULT_MODEL", UNSEEN)
    headers, values = as_cells(UNSEEN_ROW)
    api = server.post("/v1/predict", json={"model": UNSEEN, **UNSEEN_ROW}).json()
    assert udfs.CREDIT_SCORE_RECORD(headers, values) == pytest.approx(
        api["probability_default"], abs=1e-12
    )
    assert {r[0] for r in udfs.CREDIT_FEATURES()[1:]} == set(UNSEEN_ROW)
