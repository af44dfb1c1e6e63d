"""A team's own data or fitted pipeline becomes a served model without code changes.

The data set has feature names no code of CreditScorer knows (numbers and categories);
training runs as the command a user types, and a real server scores the result.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import PROJECT_ROOT, start_server, write_synthetic_credit_csv

from creditscorer import ModelStore

NAME = "tenure_model"
ROW = {"tenure_years": 4, "utilisation": 0.9, "region": "East", "product_tier": " bronze "}


def run_training(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "training", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def byo_store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("byo")
    write_synthetic_credit_csv(root / "loans.csv")
    done = run_training(
        "fit", "--data", str(root / "loans.csv"), "--target", "went_bad", "--name", NAME,
        "--protected", "region", "--model-dir", str(root / "models"), "--quick",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"{NAME} " in done.stdout
    return root


@pytest.fixture(scope="module")
def byo_server(byo_store):
    server = start_server(
        {
            "CREDITSCORER_MODEL_DIR": str(byo_store / "models"),
            "CREDITSCORER_TRAIN_IF_MISSING": "0",
            "CREDITSCORER_DATABASE_URL": f"sqlite:///{byo_store / 'log.sqlite3'}",
        }
    )
    yield server
    server.stop()


def test_fit_infers_numbers_and_categories_from_the_data(byo_store):
    card = ModelStore(byo_store / "models").get(NAME).card
    types = {f.name: f.type for f in card.features}
    assert types == {
        "tenure_years": "integer",
        "utilisation": "number",
        "region": "category",
        "product_tier": "category",
    }
    assert card.features[2].codes == ["east", "north", "south", "west"]
    assert card.features[2].protected
    assert [g["name"] for g in card.raw["fairness"]["definitions"]] == ["region"]
    assert len(card.raw["calibration"]["bins"]) == 10


def test_the_server_scores_a_model_it_has_never_seen(byo_server):
    reply = byo_server.post("/v1/predict", json={"model": NAME, **ROW})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert [r["feature"] for r in body["reasons"]] != []
    assert {r["feature"] for r in body["reasons"]} == set(ROW)
    total = sum(r["contribution"] for r in body["reasons"])
    assert total == pytest.approx(body["probability_default"] - body["base_probability"], abs=1e-9)
    # The query string reads the same values the same way.
    again = byo_server.get("/v1/predict", params={"model": NAME, **ROW})
    assert again.json()["probability_default"] == body["probability_default"]


def test_a_bad_category_is_a_400_naming_the_field_and_the_allowed_values(byo_server):
    reply = byo_server.post("/v1/predict", json={"model": NAME, **ROW, "region": "mars"})
    assert reply.status_code == 400
    errors = reply.json()["errors"]
    assert errors == [
        {"field": "region", "message": "must be one of east, north, south, west (got 'mars')"}
    ]


def _table(n: int = 6) -> dict:
    rows = [[3, 0.2, "north", "Gold"], [10, 1.1, "WEST", "silver"]] * (n // 2)
    rows[1] = [10, 1.1, "atlantis", "silver"]  # one bad row
    return {"model": NAME, "columns": list(ROW), "rows": rows}


def test_batches_score_as_json_csv_and_xlsx_with_one_bad_row(byo_server):
    table = _table()
    as_json = byo_server.post("/v1/predict/batch", json=table)
    assert as_json.status_code == 200, as_json.text
    body = as_json.json()
    assert body["summary"] == {"rows": 6, "scored": 5, "failed": 1, "warned": 0}
    error = body["rows"][1][body["columns"].index("error")]
    assert error.startswith("region: must be one of east, north, south, west")
    probabilities = [r[body["columns"].index("probability_default")] for r in body["rows"]]

    csv_text = ",".join(ROW) + "\n" + "".join(",".join(map(str, r)) + "\n" for r in table["rows"])
    as_csv = byo_server.post(
        f"/v1/predict/batch?model={NAME}",
        data=csv_text.encode(),
        headers={"Content-Type": "text/csv", "Accept": "application/json"},
    )
    assert as_csv.status_code == 200, as_csv.text
    csv_body = as_csv.json()
    csv_probabilities = [
        r[csv_body["columns"].index("probability_default")] for r in csv_body["rows"]
    ]
    assert csv_probabilities == pytest.approx(probabilities, nan_ok=True)

    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(list(ROW))
    for row in table["rows"]:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    as_xlsx = byo_server.post(
        f"/v1/predict/batch?model={NAME}",
        files={"file": ("loans.xlsx", buffer.getvalue())},
        headers={"Accept": "application/json"},
    )
    assert as_xlsx.status_code == 200, as_xlsx.text
    xlsx_body = as_xlsx.json()
    xlsx_probabilities = [
        r[xlsx_body["columns"].index("probability_default")] for r in xlsx_body["rows"]
    ]
    assert xlsx_probabilities == pytest.approx(probabilities, nan_ok=True)


def test_the_request_schema_lists_the_categories(byo_server):
    schema = byo_server.get(f"/v1/models/{NAME}/schema").json()
    assert schema["required"] == list(ROW)
    assert schema["properties"]["region"]["enum"] == ["east", "north", "south", "west"]
    assert schema["properties"]["tenure_years"]["type"] == "integer"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "nope"], "target column 'nope' is missing"),
        (["--target", "region"], "must have exactly two values (it has 4"),
        (["--target", "went_bad", "--exclude", "nope"], "--exclude names no column 'nope'"),
    ],
)
def test_fit_refuses_data_it_cannot_train_on_with_a_clear_error(byo_store, args, message):
    done = run_training(
        "fit", "--data", str(byo_store / "loans.csv"), "--name", "bad_one",
        "--model-dir", str(byo_store / "elsewhere"), "--quick", *args,
    )  # fmt: skip
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_fit_refuses_an_empty_column_and_too_few_rows_of_a_class(tmp_path):
    lines = ["score,blank,label"] + [f"{i},,{int(i % 10 == 0)}" for i in range(100)]
    (tmp_path / "thin.csv").write_text("\n".join(lines) + "\n")
    done = run_training(
        "fit", "--data", str(tmp_path / "thin.csv"), "--target", "label", "--name", "thin",
        "--model-dir", str(tmp_path / "m"), "--quick",
    )  # fmt: skip
    assert done.returncode == 2
    assert "only 10 rows of class 1" in done.stderr
    lines = ["score,blank,label"] + [f"{i},,{int(i % 2 == 0)}" for i in range(100)]
    (tmp_path / "blank.csv").write_text("\n".join(lines) + "\n")
    done = run_training(
        "fit", "--data", str(tmp_path / "blank.csv"), "--target", "label", "--name", "blank",
        "--model-dir", str(tmp_path / "m"), "--quick",
    )  # fmt: skip
    assert done.returncode == 2
    assert "column 'blank' is empty" in done.stderr


# -- a team's own fitted pipeline -----------------------------------------------------------


def _fitted_pipeline(csv_path: Path):
    import pandas as pd
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    frame = pd.read_csv(csv_path)
    frame.columns = ["tenure_years", "utilisation", "region", "product_tier", "went_bad"]
    X = frame.drop(columns="went_bad")
    X["tenure_years"] = X["tenure_years"].astype(float)
    y = (frame["went_bad"] == "yes").astype(int)
    prepare = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), ["region", "product_tier"]),
            ("numbers", StandardScaler(), ["tenure_years", "utilisation"]),
        ]
    )
    pipeline = Pipeline([("prepare", prepare), ("classifier", LogisticRegression(C=0.5))])
    return pipeline.fit(X, y), X


@pytest.mark.parametrize("file_format", ["joblib", "skops"])
def test_a_fitted_pipeline_is_imported_exported_and_served(byo_store, tmp_path, file_format):
    pipeline, _ = _fitted_pipeline(byo_store / "loans.csv")
    path = tmp_path / f"pipeline.{file_format}"
    if file_format == "joblib":
        import joblib

        joblib.dump(pipeline, path)
    else:
        import skops.io as sio

        sio.dump(pipeline, path)
    models = tmp_path / "models"
    done = run_training(
        "import", "--pipeline", str(path), "--data", str(byo_store / "loans.csv"),
        "--target", "went_bad", "--name", "team_model", "--model-dir", str(models), "--quick",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    model = ModelStore(models).get("team_model")
    card = model.card.raw
    assert card["onnx"]["input"] == "columns"
    assert card["imported"]["format"] == file_format
    assert card["onnx_max_abs_difference"] <= 1e-6
    # The served model (ONNX, through the card's columns) equals the team's own pipeline.
    record = {"tenure_years": 4, "utilisation": 0.9, "region": "east", "product_tier": "Bronze"}
    served = model.score_one(record)
    import pandas as pd

    own = pipeline.predict_proba(pd.DataFrame([record]))[0, 1]
    assert served.probability_default == pytest.approx(own, abs=1e-6)
    total = sum(r["contribution"] for r in served.reasons)
    assert total == pytest.approx(served.probability_default - served.base_probability, abs=1e-9)
    assert json.loads((models / "team_model" / model.version / "card.json").read_text())


def test_an_unconvertible_step_is_named(byo_store, tmp_path):
    import joblib
    from sklearn.preprocessing import SplineTransformer

    pipeline, X = _fitted_pipeline(byo_store / "loans.csv")
    pipeline.steps.insert(1, ("tweak", SplineTransformer(n_knots=3)))
    pipeline.fit(X, (X["utilisation"] > 0.7).astype(int))
    joblib.dump(pipeline, tmp_path / "odd.joblib")
    done = run_training(
        "import", "--pipeline", str(tmp_path / "odd.joblib"), "--data",
        str(byo_store / "loans.csv"), "--target", "went_bad", "--name", "odd",
        "--model-dir", str(tmp_path / "m"), "--quick",
    )  # fmt: skip
    assert done.returncode == 2
    assert "cannot convert step 'tweak' (SplineTransformer)" in done.stderr
