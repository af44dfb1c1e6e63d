"""Retraining and rollback: upload validation, the pointer history's semantics, the gate,
and the HTTP routes (jobs in real child processes against a copy of the model store)."""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from creditscorer import Model, ModelStore
from creditscorer.errors import ValidationError
from creditscorer.store import (
    HISTORY,
    NothingToRollBack,
    live_stack,
    pointer_lock,
    promote_version,
    read_history,
    read_pointer,
    roll_back,
    write_pointer,
)
from server import create_app, retrain
from training import retrain as retrain_job
from training.train import DEFAULT_DATA

HEADER = "duration,amount,age,default"


def _shipped_rows() -> list[str]:
    lines = DEFAULT_DATA.read_text(encoding="utf-8").splitlines()
    header = [h.strip().lower() for h in lines[0].split(",")]
    order = [header.index(c) for c in HEADER.split(",")]
    return [",".join(line.split(",")[j] for j in order) for line in lines[1:]]


def labelled_csv(rows: list[str], header: str = HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode("utf-8")


@pytest.fixture(scope="module")
def specs(model_dir: Path):
    return list(ModelStore(model_dir).get("logistic").card.features)


@pytest.fixture
def store_copy(model_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the session's model store: retraining writes to it."""
    target = tmp_path / "models"
    shutil.copytree(model_dir, target, ignore=shutil.ignore_patterns(".jobs", "*.lock"))
    return target


# -- validating uploads --------------------------------------------------------------------


def test_a_valid_upload_gives_features_in_card_order_and_labels(specs):
    rows = _shipped_rows()[:300]
    upload = retrain.parse_training_csv(labelled_csv(rows), specs, 1000)
    X, y, n = upload.X, upload.y, upload.rows
    assert n == 300
    assert X.shape == (300, 3)
    assert set(np.unique(y)) == {0, 1}
    first = rows[0].split(",")
    assert X[0].tolist() == [float(first[0]), float(first[1]), float(first[2])]


def test_semicolons_a_bom_and_other_column_orders_are_read(specs):
    rows = [";".join(reversed(r.split(","))) for r in _shipped_rows()[:200]]
    data = "\ufeff".encode() + labelled_csv(rows, header="Default;AGE;amount;duration")
    upload = retrain.parse_training_csv(data, specs, 1000)
    assert upload.X.shape == (200, 3)
    assert len(upload.y) == 200


def _error_text(error: ValidationError) -> str:
    return " | ".join(f"{e.field}: {e.message}" for e in error.errors) + " || " + error.detail


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda rows: rows, None),
        (lambda rows: [*rows[:3], "24,abc,35,1", *rows[3:]], "line 5: amount: not a number"),
        (lambda rows: [*rows[:1], "24,4000,35,2", *rows[1:]], "line 3: default: must be 0"),
        (lambda rows: [*rows[:1], "24,4000,12,0", *rows[1:]], "line 3: age: must be between 18"),
        (lambda rows: [*rows[:1], "24,4000,35", *rows[1:]], "line 3: has 3 values"),
        (lambda rows: rows[:50], "needs at least 100 rows"),
        (lambda rows: [r for r in rows if r.endswith(",0")][:150], "20 of each class"),
    ],
)
def test_upload_errors_name_the_line_the_column_and_the_rule(specs, edit, expected):
    rows = edit(_shipped_rows()[:200])
    if expected is None:
        retrain.parse_training_csv(labelled_csv(rows), specs, 1000)
        return
    with pytest.raises(ValidationError) as caught:
        retrain.parse_training_csv(labelled_csv(rows), specs, 1000)
    assert expected in _error_text(caught.value)
    assert all(e.field == "file" for e in caught.value.errors)


def test_a_missing_column_is_named(specs):
    with pytest.raises(ValidationError) as caught:
        retrain.parse_training_csv(b"duration,amount,age\n1,2,30\n", specs, 1000)
    assert "column 'default' is required" in _error_text(caught.value)


def test_many_bad_rows_are_counted_and_the_first_twenty_listed(specs):
    rows = [r.replace(",0", ",7") if r.endswith(",0") else r for r in _shipped_rows()[:300]]
    with pytest.raises(ValidationError) as caught:
        retrain.parse_training_csv(labelled_csv(rows), specs, 1000)
    assert len(caught.value.errors) == retrain.MAX_LISTED_ERRORS
    bad = sum(1 for r in rows if r.endswith(",7"))
    assert caught.value.detail.startswith(f"{bad} of 300 rows are invalid (the first 20)")


def test_not_utf8_and_too_many_rows_are_refused(specs):
    with pytest.raises(ValidationError, match="not UTF-8"):
        retrain.parse_training_csv(b"duration,amount\n\xff\xfe1,2\n", specs, 1000)
    with pytest.raises(retrain.TooManyRows):
        retrain.parse_training_csv(labelled_csv(_shipped_rows()[:300]), specs, 299)


def test_the_normalised_csv_round_trips_through_the_training_reader(specs):
    from training.data import parse_labelled_csv

    upload = retrain.parse_training_csv(labelled_csv(_shipped_rows()[:150]), specs, 1000)
    features = [s.to_dict() for s in specs]
    dataset = parse_labelled_csv(retrain.normalised_csv(specs, upload), "t", features)
    assert np.array_equal(dataset.X, upload.X)
    assert np.array_equal(dataset.y, upload.y)


def test_a_full_model_upload_keeps_categories_and_lists_ignored_columns(store):
    """Categories by code or label survive the trip; unknown columns are named, not used."""
    from training.data import parse_labelled_csv

    full = store.get("logistic_full").card
    keep = [g["column"] for g in full.raw["fairness"]["definitions"]]
    text = DEFAULT_DATA.read_text(encoding="utf-8").splitlines()
    header = text[0] + ",branch"
    rows = [line + ",north" for line in text[1:301]]
    rows[0] = rows[0].replace("A11,", "< 0 dm,", 1)  # a label, in another case
    upload = retrain.parse_training_csv(
        ("\n".join([header, *rows]) + "\n").encode(), list(full.features), 1000, keep
    )
    assert upload.ignored == ["branch"]
    assert set(upload.kept) == {"personal_status_sex", "foreign_worker"}  # age is a feature
    checking = full.feature_names.index("checking_status")
    assert upload.X[0, checking] == 0.0  # "< 0 DM" is A11, the first category
    features = [s.to_dict() for s in full.features]
    dataset = parse_labelled_csv(retrain.normalised_csv(list(full.features), upload), "t", features)
    assert np.array_equal(dataset.X, upload.X)
    assert "personal_status_sex" in dataset.columns


def test_a_bad_category_in_an_upload_names_line_field_and_values(store):
    full = store.get("logistic_full").card
    text = DEFAULT_DATA.read_text(encoding="utf-8").splitlines()
    rows = text[1:201]
    rows[4] = "A19," + rows[4].split(",", 1)[1]
    with pytest.raises(ValidationError) as caught:
        retrain.parse_training_csv(
            ("\n".join([text[0], *rows]) + "\n").encode(), list(full.features), 1000
        )
    message = _error_text(caught.value)
    assert "line 6: checking_status: must be one of A11 (< 0 DM)" in message
    assert "(got 'A19')" in message


# -- the pointer history -------------------------------------------------------------------


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    model = tmp_path / "m"
    for version in ("v1", "v2", "v3", "v4"):
        (model / version).mkdir(parents=True)
    write_pointer(model, "v1")  # as `python -m training` leaves it: no history yet
    return model


def test_rollback_undoes_the_latest_promotion_and_walks_further_back(folder):
    with pointer_lock(folder):
        assert promote_version(folder, "v2") == "v1"
        assert promote_version(folder, "v3") == "v2"
        assert roll_back(folder) == ("v3", "v2")
        assert read_pointer(folder) == "v2"
        assert roll_back(folder) == ("v2", "v1")
        with pytest.raises(NothingToRollBack):
            roll_back(folder)
    assert read_pointer(folder) == "v1"
    actions = [(e.action, e.version) for e in read_history(folder)]
    assert actions == [
        ("adopt", "v1"),
        ("promote", "v2"),
        ("promote", "v3"),
        ("rollback", "v2"),
        ("rollback", "v1"),
    ]


def test_a_promotion_after_a_rollback_is_undone_by_the_next_rollback(folder):
    with pointer_lock(folder):
        promote_version(folder, "v2")
        roll_back(folder)
        promote_version(folder, "v3")
        assert live_stack(read_history(folder)) == ["v1", "v3"]
        assert roll_back(folder) == ("v3", "v1")


def test_a_pointer_set_outside_the_history_is_adopted_before_rolling_back(folder):
    with pointer_lock(folder):
        promote_version(folder, "v2")
        write_pointer(folder, "v4")  # e.g. someone ran `python -m training`
        assert roll_back(folder) == ("v4", "v2")


def test_the_history_is_never_half_written(folder):
    with pointer_lock(folder):
        promote_version(folder, "v2")
    assert (folder / HISTORY).read_text(encoding="utf-8").endswith("\n")
    assert not list(folder.glob(".HISTORY.*"))


# -- the gate (the child's work, run in this process) --------------------------------------


def _job(store_dir: Path, tmp_path: Path, **options) -> tuple[dict, Path]:
    job_dir = tmp_path / "job"
    job_dir.mkdir(exist_ok=True)
    job = {
        "job_id": "test",
        "model": "logistic",
        "model_dir": str(store_dir),
        "quick": True,
        "force": False,
        "max_auc_drop": 0.01,
        "data": {"source": "the shipped German Credit data", "rows": None},
        **options,
    }
    return job, job_dir


def test_the_gate_rejects_a_model_that_is_worse_than_allowed_and_keeps_it(store_copy, tmp_path):
    folder = store_copy / "logistic"
    live_before = read_pointer(folder)
    time.sleep(1.1)  # a version name has one-second resolution
    # A negative allowance means "must beat the live model by 0.5": impossible, so rejected.
    job, job_dir = _job(store_copy, tmp_path, max_auc_drop=-0.5)
    outcome = retrain_job.run_job(job, job_dir)
    assert outcome["status"] == "rejected"
    assert not outcome["promoted"]
    assert "failed the gate" in outcome["reason"]
    assert read_pointer(folder) == live_before
    assert (folder / outcome["new_version"] / "card.json").is_file()  # kept, not live
    assert not (folder / HISTORY).exists()
    # Both AUCs come from the same rows; the candidate's equals its card's hold-out AUC,
    # which proves the gate recomputed train_model's split exactly.
    card = Model.load(folder / outcome["new_version"]).card.raw
    assert outcome["auc"]["candidate"] == pytest.approx(card["metrics"]["holdout"]["roc_auc"])
    assert outcome["auc"]["live"] == pytest.approx(outcome["auc"]["candidate"])  # same data


def test_force_promotes_past_the_gate_and_records_it(store_copy, tmp_path):
    folder = store_copy / "logistic"
    live_before = read_pointer(folder)
    time.sleep(1.1)
    job, job_dir = _job(store_copy, tmp_path, max_auc_drop=-0.5, force=True)
    outcome = retrain_job.run_job(job, job_dir)
    assert outcome["status"] == "promoted"
    assert outcome["reason"] == "forced (the gate would have failed)"
    assert outcome["old_version"] == live_before
    assert read_pointer(folder) == outcome["new_version"] == outcome["live_version"]
    assert [e.action for e in read_history(folder)] == ["adopt", "promote"]


# -- the routes ----------------------------------------------------------------------------


@pytest.fixture
def app(store_copy: Path, tmp_path: Path):
    app = create_app(
        model_dir=store_copy,
        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        train_if_missing=False,
        retrain_quick=True,
        retrain_wait_seconds=120,
    )
    yield app
    app.extensions["creditscorer.db"].dispose()


def test_an_invalid_upload_is_refused_before_any_training(app, store_copy):
    rows = _shipped_rows()[:200]
    rows[10] = "24,4000,35,yes"
    reply = app.test_client().post(
        "/v1/models/logistic/retrain",
        data={"file": (io.BytesIO(labelled_csv(rows)), "mine.csv"), "force": "1"},
        content_type="multipart/form-data",
    )
    assert reply.status_code == 400
    assert reply.mimetype == "application/problem+json"
    assert reply.json["errors"] == [
        {"field": "file", "message": "line 12: default: must be 0 (good) or 1 (bad), not 'yes'"}
    ]
    assert not (store_copy / "logistic" / retrain.JOBS_DIR).exists()


@pytest.mark.parametrize(
    ("path", "kwargs", "status", "text"),
    [
        ("/v1/models/nope/retrain", {}, 404, "unknown model"),
        ("/v1/models/logistic/retrain", {"query_string": {"wait": "999"}}, 400, "wait"),
        ("/v1/models/logistic/retrain", {"query_string": {"force": "maybe"}}, 400, "force"),
        ("/v1/models/logistic/retrain", {"data": b"x", "content_type": "text/plain"}, 415, ""),
        (
            "/v1/models/logistic/retrain",
            {"data": {}, "content_type": "multipart/form-data"},
            400,
            "file",
        ),
        ("/v1/models/logistic/rollback", {}, 409, "oldest version"),
        ("/v1/models/nope/rollback", {}, 404, "unknown model"),
    ],
)
def test_admin_routes_refuse_bad_requests_with_problem_json(app, path, kwargs, status, text):
    reply = app.test_client().post(path, **kwargs)
    assert reply.status_code == status, reply.json
    assert reply.mimetype == "application/problem+json"
    assert text in reply.json["detail"]


def test_a_full_model_retrains_with_its_features_and_names_ignored_columns(app, store_copy):
    """Categories uploaded by label or code; extra columns are listed, not silently used."""
    text = DEFAULT_DATA.read_text(encoding="utf-8").splitlines()
    rows = [line + ",north" for line in text[1:]]
    data = ("\n".join([text[0] + ",Branch", *rows]) + "\n").encode()
    reply = app.test_client().post(
        "/v1/models/logistic_full/retrain",
        query_string={"wait": "100"},
        data={"file": (io.BytesIO(data), "full.csv"), "force": "1"},
        content_type="multipart/form-data",
    )
    assert reply.status_code == 200, reply.json  # finished within the wait
    job = reply.json
    assert job["status"] == "promoted", job
    assert job["ignored_columns"] == ["branch"]
    card = Model.load(store_copy / "logistic_full" / job["new_version"]).card
    assert job["features"] == card.feature_names
    assert "personal_status_sex" not in card.feature_names
    assert [g["name"] for g in card.raw["fairness"]["definitions"]] == [
        "age_band",
        "sex",
        "foreign_worker",
    ]  # the sex and nationality columns reached the child only for the fairness table


def test_a_model_trained_elsewhere_needs_an_upload(app, store_copy):
    card_path = next((store_copy / "forest").glob("*/card.json"))
    card = card_path.read_text(encoding="utf-8").replace(
        '"source": "german_credit.csv"', '"source": "elsewhere.csv"'
    )
    shutil.copytree(store_copy / "forest", store_copy / "forest_elsewhere")
    target = store_copy / "forest_elsewhere" / card_path.parent.name / "card.json"
    target.write_text(card, encoding="utf-8")
    reply = app.test_client().post("/v1/models/forest_elsewhere/retrain")
    assert reply.status_code == 400
    assert (
        "file: is required: forest_elsewhere was trained on elsewhere.csv" in reply.json["detail"]
    )


def test_an_unknown_job_is_404(app):
    reply = app.test_client().get("/v1/models/logistic/retrain/20260101T000000Z-abcdef")
    assert reply.status_code == 404
    assert reply.json["title"] == "Unknown job"


def test_admin_and_key_replies_match_the_openapi_file(server_factory, store_copy, tmp_path):
    """Every status the admin routes and the key check give, through a real server."""
    from test_openapi import check_reply

    from server import db, keys

    url = f"sqlite:///{tmp_path / 'contract.sqlite3'}"
    engine = db.make_engine(url)
    try:
        keys.create_tables(engine)
        _, admin_key = keys.create_key(engine, "ops", "admin")
        _, client_key = keys.create_key(engine, "sheet", "client")
    finally:
        engine.dispose()
    server = server_factory(
        env={
            "CREDITSCORER_MODEL_DIR": str(store_copy),
            "CREDITSCORER_DATABASE_URL": url,
            "CREDITSCORER_RETRAIN_QUICK": "1",
        }
    )
    admin = {"X-API-Key": admin_key}

    def call(method, path, status, **kwargs):
        timeout = kwargs.pop("timeout", 60)
        reply = requests.request(method, server.url + path, timeout=timeout, **kwargs)
        assert reply.status_code == status, reply.text
        check_reply(method, path, reply)
        return reply

    call("GET", "/v1/models", 401)
    call("GET", "/openapi.json", 401)
    call("POST", "/v1/predict", 401, json={"duration": 24, "amount": 4000, "age": 35})
    call("POST", "/v1/models/logistic/rollback", 403, headers={"X-API-Key": client_key})
    call("POST", "/v1/models/logistic/retrain", 403, headers={"X-API-Key": client_key})
    call("POST", "/v1/models/logistic/rollback", 409, headers=admin)
    call("POST", "/v1/models/nope/rollback", 404, headers=admin)
    call("GET", "/v1/models/logistic/retrain/20260101T000000Z-abcdef", 404, headers=admin)
    call("POST", "/v1/models/logistic/retrain", 415, headers=admin, data=b"x")
    bad = labelled_csv(["24,4000,35,2"] * 120)
    call("POST", "/v1/models/logistic/retrain", 400, headers=admin, files={"file": ("b.csv", bad)})
    started = call("POST", "/v1/models/logistic/retrain", 202, headers=admin)
    assert started.json()["status"] == "running"
    location = started.headers["Location"]
    assert location == f"/v1/models/logistic/retrain/{started.json()['job_id']}"
    busy = call("POST", "/v1/models/logistic/retrain", 409, headers=admin)
    assert started.json()["job_id"] in busy.json()["detail"]
    deadline = time.monotonic() + 120
    while True:
        job = call("GET", location, 200, headers=admin).json()
        if job["status"] != "running" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert job["status"] == "promoted", job
    assert {"old_version", "new_version", "live_version", "auc", "reason"} <= set(job)
    assert "model_dir" not in job
    assert server.get("/health").json()["models"]["logistic"] == job["live_version"]
    back = call("POST", "/v1/models/logistic/rollback", 200, headers=admin).json()
    assert (back["previous_version"], back["version"]) == (job["new_version"], job["old_version"])
    call("POST", "/v1/models/logistic/retrain", 200, headers=admin, json={"wait": 90}, timeout=120)


def test_a_job_whose_process_died_is_reported_failed(store_copy):
    """A child killed mid-training leaves 'running' in its file but no lock: failed."""
    job_dir = store_copy / "logistic" / retrain.JOBS_DIR / "20260101T000000Z-dead00"
    job_dir.mkdir(parents=True)
    (job_dir / retrain.JOB_FILE).write_text(
        '{"job_id": "20260101T000000Z-dead00", "model": "logistic", "status": "running"}',
        encoding="utf-8",
    )
    job = retrain.read_job(store_copy, "logistic", "20260101T000000Z-dead00")
    assert job["status"] == "failed"
    assert "ended without a result" in job["reason"]
    assert retrain.read_job(store_copy, "logistic", "../../etc") is None
