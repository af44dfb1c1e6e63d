"""The query log: one row per scoring request, written before the reply, on SQLite and PostgreSQL.

Most tests run the real app in-process against a real database (a SQLite file, and the
PostgreSQL server named by CREDITSCORER_TEST_DATABASE_URL); one runs a real server process.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import orjson
import sqlalchemy as sa

from server import create_app
from server.querylog import QueryLog, query_log, querylog_of, utcnow

APPLICANT = {"duration": 24, "amount": 4000, "age": 35}


def rows_for(app, prefix: str) -> list[dict]:
    """The log rows whose request id starts with ``prefix``, oldest first."""
    with app.extensions["creditscorer.db"].connect() as connection:
        found = connection.execute(
            sa.select(query_log)
            .where(query_log.c.request_id.like(f"{prefix}%"))
            .order_by(query_log.c.id)
        )
        return [dict(row._mapping) for row in found]


def ids(prefix: str, n: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def test_every_scoring_request_gets_exactly_one_row_with_its_status(make_app):
    app = make_app()
    client = app.test_client()
    prefix = f"t{uuid.uuid4().hex[:8]}-"
    rid = ids(prefix, 7)
    query = "duration=24&amount=4000&age=35"
    replies = [
        client.get(f"/v1/predict?{query}", headers={"X-Request-ID": rid[0]}),
        client.post(
            "/v1/predict", json={**APPLICANT, "model": "forest"}, headers={"X-Request-ID": rid[1]}
        ),
        client.post("/v1/predict", json={**APPLICANT, "age": 12}, headers={"X-Request-ID": rid[2]}),
        client.get(f"/v1/predict?{query}&model=nope", headers={"X-Request-ID": rid[3]}),
        client.post("/v1/predict", data="x", headers={"X-Request-ID": rid[4]}),
        client.post(
            "/v1/predict/batch",
            json={
                "columns": ["duration", "amount", "age"],
                "rows": [[24, 4000, 35], [12, "x", 40]],
            },
            headers={"X-Request-ID": rid[5]},
        ),
        client.get(f"/v1/predict?{query}&format=text", headers={"X-Request-ID": rid[6]}),
    ]
    client.get("/health")
    client.get("/v1/models")
    assert [r.status_code for r in replies] == [200, 200, 400, 404, 415, 200, 200]

    rows = rows_for(app, prefix)
    assert [r["request_id"] for r in rows] == rid  # one each, none for the other routes
    assert [r["status"] for r in rows] == [200, 200, 400, 404, 415, 200, 200]
    assert [r["route"] for r in rows] == [
        "GET /v1/predict",
        "POST /v1/predict",
        "POST /v1/predict",
        "GET /v1/predict",
        "POST /v1/predict",
        "POST /v1/predict/batch",
        "GET /v1/predict",
    ]
    assert [r["model"] for r in rows] == [
        "logistic",
        "forest",
        "logistic",
        None,
        None,
        "logistic",
        "logistic",
    ]
    assert rows[1]["model_version"] == replies[1].json["model_version"]
    assert [r["row_count"] for r in rows] == [1, 1, 1, 0, 0, 2, 1]
    assert all(r["key_id"] is None for r in rows)
    assert all(r["latency_ms"] > 0 for r in rows)


def test_a_row_holds_the_inputs_outputs_and_decision_of_a_single_score(make_app):
    app = make_app()
    prefix = f"s{uuid.uuid4().hex[:8]}"
    reply = app.test_client().post("/v1/predict", json=APPLICANT, headers={"X-Request-ID": prefix})
    (row,) = rows_for(app, prefix)
    assert orjson.loads(row["inputs"]) == APPLICANT
    outputs = orjson.loads(row["outputs"])
    assert outputs["probability_default"] == reply.json["probability_default"]
    assert outputs["decision"] == reply.json["decision"]
    assert row["approved"] + row["declined"] == 1
    assert (row["declined"] == 1) == (reply.json["decision"] == "decline")


def test_an_error_row_holds_the_problem_not_a_score(make_app):
    app = make_app()
    prefix = f"e{uuid.uuid4().hex[:8]}"
    app.test_client().post(
        "/v1/predict", json={**APPLICANT, "age": 12}, headers={"X-Request-ID": prefix}
    )
    (row,) = rows_for(app, prefix)
    outputs = orjson.loads(row["outputs"])
    assert outputs["title"] == "Invalid input"
    assert outputs["errors"][0]["field"] == "age"
    assert row["approved"] == row["declined"] == 0
    assert row["summary"] is None


def test_a_batch_row_holds_every_score_and_row_error(make_app):
    app = make_app()
    prefix = f"b{uuid.uuid4().hex[:8]}"
    body = {"columns": ["id", "duration", "amount", "age"], "rows": [["A", 24, 4000, 35]] * 3}
    body["rows"].append(["B", 12, "abc", 40])
    reply = app.test_client().post("/v1/predict/batch", json=body, headers={"X-Request-ID": prefix})
    (row,) = rows_for(app, prefix)
    assert (row["row_count"], row["rows_failed"]) == (4, 1)
    assert row["approved"] + row["declined"] == 3
    outputs = orjson.loads(row["outputs"])
    assert outputs["probability_default"][:3] == [r[0] for r in reply.json["rows"][:3]]
    assert outputs["probability_default"][3] is None
    assert "amount" in outputs["errors"]["3"]
    inputs = orjson.loads(row["inputs"])
    assert inputs == {
        "duration": [24, 24, 24, 12],
        "amount": [4000] * 3 + ["abc"],
        "age": [35] * 3 + [40],
    }
    summary = orjson.loads(row["summary"])
    assert sum(count for _, count in summary["score"]) == 3


def test_inputs_are_left_out_when_the_setting_says_so(make_app):
    app = make_app(log_inputs=False)
    prefix = f"n{uuid.uuid4().hex[:8]}"
    client = app.test_client()
    client.post("/v1/predict", json=APPLICANT, headers={"X-Request-ID": prefix + "-1"})
    client.post(
        "/v1/predict/batch",
        json={"columns": ["duration", "amount", "age"], "rows": [[24, 4000, 35]]},
        headers={"X-Request-ID": prefix + "-2"},
    )
    rows = rows_for(app, prefix)
    assert len(rows) == 2
    assert [r["inputs"] for r in rows] == [None, None]
    assert all(r["outputs"] and r["summary"] for r in rows)  # the scores stay


def test_no_rows_when_the_query_log_is_off(make_app):
    app = make_app(query_log=False)
    prefix = f"o{uuid.uuid4().hex[:8]}"
    reply = app.test_client().post("/v1/predict", json=APPLICANT, headers={"X-Request-ID": prefix})
    assert reply.status_code == 200
    assert rows_for(app, prefix) == []


def test_the_key_id_set_by_the_keys_hook_is_logged(make_app):
    app = make_app()

    @app.before_request
    def _pretend_a_key_was_checked() -> None:
        from flask import g

        g.key_id = "k-0123456789ab"

    prefix = f"k{uuid.uuid4().hex[:8]}"
    app.test_client().post("/v1/predict", json=APPLICANT, headers={"X-Request-ID": prefix})
    (row,) = rows_for(app, prefix)
    assert row["key_id"] == "k-0123456789ab"


def test_a_reply_is_withheld_with_503_when_its_row_cannot_be_written(model_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'broken.sqlite3'}"
    app = create_app(model_dir=model_dir, train_if_missing=False, database_url=url)
    engine = app.extensions["creditscorer.db"]
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP TABLE query_log")
        reply = app.test_client().post(
            "/v1/predict", json=APPLICANT, headers={"X-Request-ID": "lost-1"}
        )
        assert reply.status_code == 503
        assert reply.mimetype == "application/problem+json"
        assert reply.json["request_id"] == "lost-1" == reply.headers["X-Request-ID"]
        assert "probability_default" not in reply.json  # no score leaves unlogged
        assert "Traceback" not in reply.get_data(as_text=True)
    finally:
        engine.dispose()


def test_retention_deletes_expired_rows_and_keeps_the_rest(make_app):
    app = make_app(log_retention_days=30)
    querylog = querylog_of(app)
    prefix = f"r{uuid.uuid4().hex[:8]}-"
    now = utcnow()
    ages_in_days = [400, 31, 29, 0]
    with app.extensions["creditscorer.db"].begin() as connection:
        for i, days in enumerate(ages_in_days):
            connection.execute(
                query_log.insert(),
                {
                    "created_at": now - timedelta(days=days),
                    "request_id": f"{prefix}{days}",
                    "route": "GET /v1/predict",
                    "status": 200,
                    "row_count": 1,
                    "rows_failed": 0,
                    "approved": 1,
                    "declined": 0,
                    "latency_ms": 1.0 + i,
                },
            )
    deleted = querylog.purge_expired(now=now, chunk=1)  # small chunks: a purge repeats
    deleted += querylog.purge_expired(now=now, chunk=1)
    assert deleted >= 2
    assert querylog.purge_expired(now=now) >= 0
    left = sorted(r["request_id"] for r in rows_for(app, prefix))
    assert left == [f"{prefix}0", f"{prefix}29"]


def test_retention_zero_keeps_everything(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'keep.sqlite3'}")
    try:
        assert QueryLog(engine, log_inputs=True, retention_days=0).purge_expired() == 0
    finally:
        engine.dispose()


def test_a_real_server_logs_the_request_id_it_echoes(server_factory, tmp_path):
    database = tmp_path / "server.sqlite3"
    server = server_factory(env={"CREDITSCORER_DATABASE_URL": f"sqlite:///{database}"})
    reply = server.get(
        "/v1/predict", params={**APPLICANT, "model": "forest"}, headers={"X-Request-ID": "real-1"}
    )
    assert reply.status_code == 200
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            found = connection.execute(
                sa.select(query_log.c.status, query_log.c.model).where(
                    query_log.c.request_id == "real-1"
                )
            ).all()
            mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    finally:
        engine.dispose()
    assert found == [(200, "forest")]
    assert mode == "wal"


def test_with_a_durable_commit_every_request_is_logged_too(make_app):
    app = make_app(log_synchronous_commit=True)
    prefix = f"d{uuid.uuid4().hex[:8]}"
    client = app.test_client()
    for i in range(3):
        client.post("/v1/predict", json=APPLICANT, headers={"X-Request-ID": f"{prefix}-{i}"})
    assert [r["status"] for r in rows_for(app, prefix)] == [200, 200, 200]


def test_with_keys_on_the_key_id_is_logged_and_a_refused_request_too(make_app):
    from server import keys

    app = make_app()
    key_id, secret = keys.create_key(app.extensions["creditscorer.db"], f"querylog-{uuid.uuid4()}")
    prefix = f"a{uuid.uuid4().hex[:8]}"
    client = app.test_client()
    try:
        refused = client.post(
            "/v1/predict", json=APPLICANT, headers={"X-Request-ID": prefix + "-1"}
        )
        allowed = client.post(
            "/v1/predict",
            json=APPLICANT,
            headers={"X-Request-ID": prefix + "-2", "X-API-Key": secret},
        )
    finally:
        keys.revoke_key(app.extensions["creditscorer.db"], key_id)
    assert (refused.status_code, allowed.status_code) == (401, 200)
    rows = rows_for(app, prefix)
    assert [(r["status"], r["key_id"]) for r in rows] == [(401, None), (200, key_id)]


def test_the_log_takes_the_validated_matrix_from_the_result_and_never_validates_again(
    make_app, monkeypatch
):
    import creditscorer.scoring
    import server.querylog

    calls = []
    for module in (creditscorer.scoring, server.querylog):
        original = getattr(module, "validate_record", None)
        if original is None:
            continue

        def counted(*args, _original=original, **kwargs):
            calls.append(1)
            return _original(*args, **kwargs)

        monkeypatch.setattr(module, "validate_record", counted)
    app = make_app()
    prefix = f"v{uuid.uuid4().hex[:8]}"
    reply = app.test_client().post("/v1/predict", json=APPLICANT, headers={"X-Request-ID": prefix})
    assert reply.status_code == 200
    assert len(calls) == 1  # the score's own validation; the log reuses its matrix
    (row,) = rows_for(app, prefix)
    summary = orjson.loads(row["summary"])
    assert sorted(summary["features"]) == sorted(APPLICANT)


def test_retention_deletes_expired_retrain_uploads_and_keeps_recent_ones(tmp_path):
    import os
    import time

    from server.querylog import purge_expired_uploads

    jobs = tmp_path / "logistic" / ".jobs"
    old, recent = jobs / "20260101T000000Z-aaaaaa", jobs / "20261201T000000Z-bbbbbb"
    for job in (old, recent):
        job.mkdir(parents=True)
        (job / "data.csv").write_text("personal,data\n", encoding="utf-8")
        (job / "job.json").write_text('{"status": "succeeded"}', encoding="utf-8")
    long_ago = time.time() - 40 * 86400
    os.utime(old / "job.json", (long_ago, long_ago))
    assert purge_expired_uploads(tmp_path, retention_days=30) == 1
    assert not old.exists()
    assert (recent / "data.csv").exists()
    assert purge_expired_uploads(tmp_path, retention_days=0) == 0  # 0 keeps everything
    assert recent.exists()
