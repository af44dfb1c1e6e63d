"""Statistics from the query log: usage, latency, decisions, histogram, drift and the window."""

from __future__ import annotations

import csv
import time
from datetime import datetime, timedelta

import numpy as np
import pytest
import sqlalchemy as sa
from support import PROJECT_ROOT

from creditscorer.distribution import training_distribution
from server import drift
from server.problems import ApiError
from server.querylog import query_log, utcnow
from server.stats import parse_window

TRAINING_CSV = PROJECT_ROOT / "training" / "data" / "german_credit.csv"
NOW = datetime(2026, 11, 26, 12, 0, 0)


@pytest.fixture
def app(make_app):
    return make_app()


def since_now() -> str:
    """A window start just before the test's first request (the PostgreSQL database is shared)."""
    return (utcnow() - timedelta(milliseconds=1)).isoformat()


def training_rows(n: int, seed: int = 7) -> list[list[float]]:
    with open(TRAINING_CSV, newline="", encoding="utf-8") as fh:
        rows = [
            [float(r["duration"]), float(r["amount"]), float(r["age"])] for r in csv.DictReader(fh)
        ]
    picked = np.random.default_rng(seed).choice(len(rows), size=n, replace=False)
    return [rows[i] for i in picked]


@pytest.mark.parametrize(
    ("args", "hours"),
    [({}, 24), ({"hours": "1"}, 1), ({"hours": "0.5"}, 0.5), ({"hours": "168"}, 168)],
)
def test_window_from_hours(args, hours):
    window = parse_window(args, default_hours=24, now=NOW)
    assert window.end == NOW
    assert window.start == NOW - timedelta(hours=hours)


def test_window_from_since_and_until_in_any_time_zone():
    window = parse_window(
        {"since": "2026-11-26T09:00:00+01:00", "until": "2026-11-26T10:00:00Z"}, 24, NOW
    )
    assert (window.start, window.end) == (datetime(2026, 11, 26, 8), datetime(2026, 11, 26, 10))
    assert parse_window({"since": "2026-11-25"}, 24, NOW).end == NOW


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"hours": "0"}, "hours"),
        ({"hours": "-3"}, "hours"),
        ({"hours": "abc"}, "hours"),
        ({"hours": "nan"}, "hours"),
        ({"hours": "1e9"}, "hours"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-26", "until": "2026-11-25"}, "until"),
        ({"until": "2026-11-26"}, "until"),
        ({"hours": "1", "since": "2026-11-26"}, "hours"),
    ],
)
def test_a_bad_window_names_the_field(args, field):
    with pytest.raises(ApiError) as raised:
        parse_window(args, 24, NOW)
    assert raised.value.status == 400
    assert raised.value.errors[0].field == field


def test_psi_is_zero_for_the_same_distribution_and_large_for_a_shift():
    expected = np.full(10, 0.1)
    assert drift.psi(expected, np.full(10, 50)) == pytest.approx(0.0)
    shifted = np.array([0, 0, 0, 0, 0, 0, 0, 0, 50, 450])
    assert drift.psi(expected, shifted) > 0.25
    assert drift.psi(expected, np.zeros(10)) is None


@pytest.mark.parametrize(
    ("value", "band"),
    [(None, None), (0.0, "stable"), (0.099, "stable"), (0.1, "moderate"), (0.25, "significant")],
)
def test_psi_bands(value, band):
    assert drift.band(value) == band


def test_training_distribution_bins_are_deciles_that_cover_every_value():
    values = np.arange(1000, dtype=float)
    edges, shares = training_distribution(values)
    assert len(edges) == 9
    assert shares.sum() == pytest.approx(1.0)
    assert np.allclose(shares, 0.1, atol=0.002)


def test_stats_count_requests_rows_errors_and_decisions(app):
    client = app.test_client()
    since = since_now()
    decisions = []
    for age in (25, 35, 45, 55, 65):
        reply = client.post("/v1/predict", json={"duration": 24, "amount": 4000, "age": age})
        decisions.append(reply.json["decision"])
    batch = client.post(
        "/v1/predict/batch",
        json={
            "columns": ["duration", "amount", "age"],
            "rows": [[12, 1000, 30], [36, 9000, 50], [6, 500, 22], [12, "abc", 40]],
        },
    )
    decisions += [row[1] for row in batch.json["rows"] if row[1] is not None]
    client.post("/v1/predict", json={"duration": 24, "amount": 4000, "age": 12})
    client.post("/v1/predict", json={"duration": 0, "amount": 4000, "age": 40})
    client.get("/v1/predict", query_string={"model": "nope", "duration": 1, "amount": 1, "age": 20})
    client.post("/v1/predict", json={"model": "forest", "duration": 24, "amount": 4000, "age": 30})

    reply = client.get("/v1/models/logistic/stats", query_string={"since": since})
    assert reply.status_code == 200
    stats = reply.json
    usage = stats["usage"]
    assert usage["requests"] == 8
    assert usage["rows"] == 5 + 4 + 2
    assert usage["rows_scored"] == 8
    assert usage["rows_failed"] == 1
    assert usage["errors_by_status"] == {"400": 2}
    assert usage["decisions"]["approve"] == decisions.count("approve")
    assert usage["decisions"]["decline"] == decisions.count("decline")
    assert usage["versions"] == {stats["version"]: 8}
    latency = usage["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert sum(stats["score_histogram"]["counts"]) == 8
    assert len(stats["score_histogram"]["edges"]) == len(stats["score_histogram"]["counts"]) + 1
    assert stats["drift"]["rows"] == 8

    everything = client.get("/v1/stats", query_string={"since": since}).json
    assert everything["totals"]["requests"] == 10  # the unknown model's 404 counts here
    assert everything["totals"]["errors_by_status"] == {"400": 2, "404": 1}
    by_model = {m["model"]: m for m in everything["models"]}
    assert by_model["forest"]["usage"]["requests"] == 1
    assert by_model["logistic"]["usage"] == usage


def test_stats_show_the_cards_metrics(app):
    client = app.test_client()
    card = client.get("/v1/models/forest").json
    stats = client.get("/v1/models/forest/stats").json
    assert stats["card"]["threshold"] == card["threshold"]["value"]
    assert stats["card"]["cv"]["roc_auc"]["mean"] == card["metrics"]["cv"]["roc_auc"]["mean"]
    assert stats["card"]["holdout"]["roc_auc"] == card["metrics"]["holdout"]["roc_auc"]
    for name in ("accuracy", "brier", "expected_cost"):
        assert stats["card"]["holdout"][name] == card["metrics"]["holdout"][name]


def test_drift_is_stable_for_training_like_applicants_and_significant_for_older_ones(app):
    client = app.test_client()
    columns = ["duration", "amount", "age"]
    since = since_now()
    client.post("/v1/predict/batch", json={"columns": columns, "rows": training_rows(500)})
    time.sleep(0.01)
    middle = utcnow().isoformat()
    older = [[d, a, 70] for d, a, _ in training_rows(500, seed=8)]
    client.post("/v1/predict/batch", json={"columns": columns, "rows": older})

    like_training = client.get(
        "/v1/models/logistic/stats", query_string={"since": since, "until": middle}
    ).json["drift"]
    assert like_training["rows"] == 500
    assert like_training["reference"]
    assert {f["feature"]: f["band"] for f in like_training["features"]} == {
        "duration": "stable",
        "amount": "stable",
        "age": "stable",
    }
    shifted = client.get("/v1/models/logistic/stats", query_string={"since": middle}).json["drift"]
    bands = {f["feature"]: f["band"] for f in shifted["features"]}
    assert bands["age"] == "significant"
    assert bands["duration"] == "stable"


def test_drift_of_a_category_counts_each_category_and_flags_a_shift(app):
    """PSI over categories: one bin per category, in the card's order."""
    client = app.test_client()
    with open(TRAINING_CSV, newline="", encoding="utf-8") as fh:
        records = list(csv.DictReader(fh))[:400]
    columns = [
        c for c in records[0] if c not in ("default", "personal_status_sex", "foreign_worker")
    ]
    rows = [[r[c] for c in columns] for r in records]
    since = since_now()
    client.post(
        "/v1/predict/batch", json={"model": "logistic_full", "columns": columns, "rows": rows}
    )
    time.sleep(0.01)
    middle = utcnow().isoformat()
    j = columns.index("checking_status")
    shifted_rows = [[*r[:j], "no checking account", *r[j + 1 :]] for r in rows]  # all A14, by label
    client.post(
        "/v1/predict/batch",
        json={"model": "logistic_full", "columns": columns, "rows": shifted_rows},
    )
    before = client.get(
        "/v1/models/logistic_full/stats", query_string={"since": since, "until": middle}
    ).json["drift"]
    checking = next(f for f in before["features"] if f["feature"] == "checking_status")
    assert checking["categories"] == ["A11", "A12", "A13", "A14"]
    assert checking["actual"] == [
        sum(r[j] == code for r in rows) for code in checking["categories"]
    ]
    assert checking["band"] == "stable"
    after = client.get("/v1/models/logistic_full/stats", query_string={"since": middle}).json[
        "drift"
    ]
    checking = next(f for f in after["features"] if f["feature"] == "checking_status")
    assert checking["actual"] == [0, 0, 0, 400]
    assert checking["band"] == "significant"


def test_the_window_leaves_out_older_rows(app):
    engine = app.extensions["creditscorer.db"]
    marker = f"old-{time.time_ns()}"
    with engine.begin() as connection:
        connection.execute(
            query_log.insert(),
            {
                "created_at": utcnow() - timedelta(hours=5),
                "request_id": marker,
                "route": "GET /v1/predict",
                "model": "forest",
                "model_version": "old-version",
                "status": 200,
                "row_count": 1,
                "rows_failed": 0,
                "approved": 1,
                "declined": 0,
                "latency_ms": 1.0,
            },
        )
    client = app.test_client()
    recent = client.get("/v1/models/forest/stats", query_string={"hours": 4}).json
    assert "old-version" not in recent["usage"]["versions"]
    wider = client.get("/v1/models/forest/stats", query_string={"hours": 6}).json
    assert wider["usage"]["versions"]["old-version"] >= 1
    assert wider["window"]["hours"] == 6


@pytest.mark.parametrize(
    "query", ["hours=0", "hours=abc", "since=yesterday", "hours=1&since=2026-11-26", "until=x"]
)
def test_a_bad_window_is_a_400_problem(app, query):
    reply = app.test_client().get(f"/v1/stats?{query}")
    assert reply.status_code == 400
    assert reply.mimetype == "application/problem+json"
    assert reply.json["errors"][0]["field"] in {"hours", "since", "until"}


def test_stats_of_an_unknown_model_is_404(app):
    reply = app.test_client().get("/v1/models/nope/stats")
    assert reply.status_code == 404
    assert reply.mimetype == "application/problem+json"


def test_an_index_covers_the_window_query(app):
    """The statistics must not scan the table: the window index is there and is used."""
    engine = app.extensions["creditscorer.db"]
    names = {index["name"] for index in sa.inspect(engine).get_indexes("query_log")}
    assert "ix_query_log_window" in names
    if engine.dialect.name == "sqlite":
        with engine.connect() as connection:
            plan = connection.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT model_version, status, count(*) FROM query_log "
                "WHERE model = 'logistic' AND created_at >= '2026-01-01' GROUP BY 1, 2"
            ).all()
        assert "COVERING INDEX ix_query_log_window" in " ".join(str(row) for row in plan)


def test_stats_and_dashboard_replies_match_the_openapi_file(server_factory, tmp_path):
    from test_openapi import check_reply

    database = tmp_path / "contract.sqlite3"
    server = server_factory(env={"CREDITSCORER_DATABASE_URL": f"sqlite:///{database}"})
    server.post("/v1/predict", json={"duration": 24, "amount": 4000, "age": 35})
    server.post("/v1/predict", json={"duration": 24, "amount": 4000, "age": 3})
    cases = [
        ("/v1/stats", {}, 200),
        ("/v1/stats", {"hours": "abc"}, 400),
        ("/v1/models/logistic/stats", {"hours": "2"}, 200),
        ("/v1/models/nope/stats", {}, 404),
        ("/dashboard", {"since": "2026-01-01T00:00:00Z"}, 200),
        ("/dashboard", {"until": "2026-01-01"}, 400),
        ("/", {}, 302),
    ]
    for path, params, status in cases:
        reply = server.get(path, params=params, allow_redirects=False)
        assert reply.status_code == status, path
        check_reply("GET", path, reply)


def test_drift_of_a_small_sample_is_insufficient_data_not_a_psi(app):
    from server.stats import DRIFT_MIN_ROWS

    client = app.test_client()
    columns = ["duration", "amount", "age"]
    since = since_now()
    older = [[d, a, 70] for d, a, _ in training_rows(29, seed=3)]  # shifted, but only 29 rows
    client.post("/v1/predict/batch", json={"columns": columns, "rows": older})
    reply = client.get("/v1/models/logistic/stats", query_string={"since": since})
    found = reply.json["drift"]
    assert found["rows"] == 29 < DRIFT_MIN_ROWS == found["min_rows"]
    assert {f["band"] for f in found["features"]} == {"insufficient data"}
    assert {f["psi"] for f in found["features"]} == {None}
    page = client.get("/dashboard", query_string={"since": since}).get_data(as_text=True)
    assert "insufficient data" in page
