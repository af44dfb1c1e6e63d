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
from server.querylog import QueryLog, query_log, query_log_detail, querylog_of, utcnow

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


def big_batch(n: int, bad: set[int]) -> bytes:
    """A JSON batch of ``n`` applicants (with an ``id`` echoed back); rows in ``bad`` fail."""
    rows = [
        [f"A-{i}", 6 + i % 60, "abc" if i in bad else 500 + 7 * i % 15000, 19 + i % 56]
        for i in range(n)
    ]
    return orjson.dumps({"columns": ["id", "duration", "amount", "age"], "rows": rows})


def read_back(app, row: dict) -> dict:
    from server.querylog import read_detail

    detail = read_detail(app.extensions["creditscorer.db"], row["detail_key"])
    assert detail is not None
    return detail


def test_a_big_batch_keeps_counts_summary_and_digest_inline_and_its_rows_compressed_aside(
    make_app,
):
    import hashlib

    app = make_app()  # the default threshold, 64 KiB: 3,000 rows are about 200 KiB of JSON
    assert querylog_of(app).detail_bytes == 64 * 1024
    prefix = f"big{uuid.uuid4().hex[:8]}"
    bad = {5, 1234, 2999}
    body = big_batch(3000, bad)
    reply = app.test_client().post(
        "/v1/predict/batch",
        data=body,
        content_type="application/json",
        headers={"X-Request-ID": prefix},
    )
    assert reply.status_code == 200
    (row,) = rows_for(app, prefix)
    assert row["inputs"] is None
    assert row["outputs"] is None
    assert (row["row_count"], row["rows_failed"]) == (3000, 3)
    decisions = [r[reply.json["columns"].index("decision")] for r in reply.json["rows"]]
    assert row["approved"] == decisions.count("approve") > 0
    assert row["declined"] == decisions.count("decline") > 0
    assert sum(count for _, count in orjson.loads(row["summary"])["score"]) == 2997
    assert row["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert len(row["detail_key"]) == 32

    detail = read_back(app, row)
    columns = reply.json["columns"]
    answered = {name: [r[columns.index(name)] for r in reply.json["rows"]] for name in columns}
    assert detail["outputs"]["probability_default"] == answered["probability_default"]
    assert detail["outputs"]["decision"] == answered["decision"]
    errors = {str(i): e for i, e in enumerate(answered["error"]) if e is not None}
    assert sorted(errors) == sorted(str(i) for i in bad)
    assert detail["outputs"]["errors"] == errors
    sent = orjson.loads(body)["rows"]
    assert detail["inputs"] == {
        "duration": [r[1] for r in sent],
        "amount": [r[2] for r in sent],
        "age": [r[3] for r in sent],
    }
    with app.extensions["creditscorer.db"].connect() as connection:
        stored = connection.execute(
            sa.select(query_log_detail).where(query_log_detail.c.detail_key == row["detail_key"])
        ).one()
    assert stored.created_at == row["created_at"]  # so the purge removes both together
    assert stored.encoding == "zstd+json"
    assert len(stored.data) < len(orjson.dumps(detail)) / 2  # compressed


def test_a_small_batch_and_a_single_score_stay_inline_with_their_digest(make_app):
    import hashlib

    app = make_app()
    prefix = f"sm{uuid.uuid4().hex[:8]}"
    body = big_batch(20, {3})
    client = app.test_client()
    client.post(
        "/v1/predict/batch",
        data=body,
        content_type="application/json",
        headers={"X-Request-ID": prefix + "-1"},
    )
    single = orjson.dumps(APPLICANT)
    client.post(
        "/v1/predict",
        data=single,
        content_type="application/json",
        headers={"X-Request-ID": prefix + "-2"},
    )
    client.get(
        "/v1/predict?duration=24&amount=4000&age=35", headers={"X-Request-ID": prefix + "-3"}
    )
    batch, one, query = rows_for(app, prefix)
    assert batch["detail_key"] is None
    assert orjson.loads(batch["inputs"])["duration"] == [r[1] for r in orjson.loads(body)["rows"]]
    assert "3" in orjson.loads(batch["outputs"])["errors"]
    assert batch["body_sha256"] == hashlib.sha256(body).hexdigest()
    assert one["detail_key"] is None
    assert orjson.loads(one["inputs"]) == APPLICANT
    assert one["body_sha256"] == hashlib.sha256(single).hexdigest()
    assert query["body_sha256"] is None  # a GET has no body
    with app.extensions["creditscorer.db"].connect() as connection:
        keys = connection.execute(sa.select(query_log_detail.c.detail_key)).scalars().all()
    assert batch["detail_key"] not in keys


def test_the_threshold_is_a_setting_and_the_detail_follows_it(make_app):
    app = make_app(log_detail_bytes=300)
    prefix = f"th{uuid.uuid4().hex[:8]}"
    client = app.test_client()
    client.post(
        "/v1/predict/batch",
        data=big_batch(20, set()),
        content_type="application/json",
        headers={"X-Request-ID": prefix + "-1"},
    )
    client.post("/v1/predict", json=APPLICANT, headers={"X-Request-ID": prefix + "-2"})
    batch, one = rows_for(app, prefix)
    assert batch["detail_key"] is not None
    assert batch["outputs"] is None
    assert len(read_back(app, batch)["outputs"]["decision"]) == 20
    assert one["detail_key"] is None
    assert one["outputs"] is not None


def test_without_logged_inputs_the_detail_holds_no_inputs_either(make_app):
    app = make_app(log_inputs=False, log_detail_bytes=1024)
    prefix = f"ni{uuid.uuid4().hex[:8]}"
    body = big_batch(500, set())
    reply = app.test_client().post(
        "/v1/predict/batch",
        data=body,
        content_type="application/json",
        headers={"X-Request-ID": prefix},
    )
    (row,) = rows_for(app, prefix)
    assert row["inputs"] is None
    assert row["detail_key"] is not None
    detail = read_back(app, row)
    assert detail["inputs"] is None
    assert len(detail["outputs"]["probability_default"]) == len(reply.json["rows"]) == 500
    with app.extensions["creditscorer.db"].connect() as connection:
        data = connection.execute(
            sa.select(query_log_detail.c.data).where(
                query_log_detail.c.detail_key == row["detail_key"]
            )
        ).scalar_one()
    import zstandard

    assert b"duration" not in zstandard.ZstdDecompressor().decompress(data)


def test_an_unknown_detail_key_reads_as_none(make_app):
    from server.querylog import read_detail

    app = make_app()
    assert read_detail(app.extensions["creditscorer.db"], uuid.uuid4().hex) is None


def test_if_either_row_cannot_be_written_neither_is_kept_and_the_client_gets_503(make_app):
    app = make_app(log_detail_bytes=1024)
    engine = app.extensions["creditscorer.db"]
    prefix = f"tx{uuid.uuid4().hex[:8]}"
    refused = f"{prefix}-refused"
    # The detail row is inserted first; the main row after it is refused by the database.
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                f"ALTER TABLE query_log ADD CONSTRAINT refuse_{prefix} "
                f"CHECK (request_id <> '{refused}')"
            )
        else:
            connection.exec_driver_sql(
                f"CREATE TRIGGER refuse_{prefix} BEFORE INSERT ON query_log "
                f"WHEN NEW.request_id = '{refused}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
    with engine.connect() as connection:
        before = connection.execute(sa.select(sa.func.count()).select_from(query_log_detail))
        details_before = before.scalar_one()
    client = app.test_client()
    try:
        lost = client.post(
            "/v1/predict/batch",
            data=big_batch(500, set()),
            content_type="application/json",
            headers={"X-Request-ID": refused},
        )
        kept = client.post(
            "/v1/predict/batch",
            data=big_batch(500, set()),
            content_type="application/json",
            headers={"X-Request-ID": f"{prefix}-kept"},
        )
    finally:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql(f"ALTER TABLE query_log DROP CONSTRAINT refuse_{prefix}")
            else:
                connection.exec_driver_sql(f"DROP TRIGGER refuse_{prefix}")
    assert lost.status_code == 503
    assert "rows" not in lost.json
    assert kept.status_code == 200
    (row,) = rows_for(app, prefix)
    assert row["request_id"] == f"{prefix}-kept"
    with engine.connect() as connection:
        after = connection.execute(sa.select(sa.func.count()).select_from(query_log_detail))
        assert after.scalar_one() == details_before + 1  # the refused request's was rolled back
    assert len(read_back(app, row)["outputs"]["decision"]) == 500


def test_retention_deletes_expired_detail_rows_and_keeps_fresh_ones(make_app):
    from server.querylog import read_detail

    app = make_app(log_retention_days=30)
    querylog = querylog_of(app)
    engine = app.extensions["creditscorer.db"]
    now = utcnow()
    prefix = f"rd{uuid.uuid4().hex[:8]}-"
    keys = {days: uuid.uuid4().hex for days in (400, 31, 29, 0)}
    with engine.begin() as connection:
        for days, key in keys.items():
            created = now - timedelta(days=days)
            connection.execute(
                query_log_detail.insert(),
                {"detail_key": key, "created_at": created, "encoding": "zstd+json", "data": b"x"},
            )
            connection.execute(
                query_log.insert(),
                {
                    "created_at": created,
                    "request_id": f"{prefix}{key}",
                    "route": "POST /v1/predict/batch",
                    "status": 200,
                    "row_count": 1000,
                    "rows_failed": 0,
                    "approved": 1000,
                    "declined": 0,
                    "latency_ms": 1.0,
                    "detail_key": key,
                },
            )
    # Chunks of one: each call deletes one main row and one detail row, oldest or not.
    assert querylog.purge_expired(now=now, chunk=1, detail_chunk=1) >= 2
    querylog.purge_expired(now=now, chunk=1, detail_chunk=1)
    while querylog.purge_expired(now=now, chunk=1, detail_chunk=1):
        pass
    with engine.connect() as connection:
        left = set(
            connection.execute(
                sa.select(query_log_detail.c.detail_key).where(
                    query_log_detail.c.detail_key.in_(keys.values())
                )
            ).scalars()
        )
    assert left == {keys[29], keys[0]}
    assert read_detail(engine, keys[400]) is None
    assert sorted(r["detail_key"] for r in rows_for(app, prefix)) == sorted([keys[29], keys[0]])


def test_a_big_csv_batch_is_logged_aside_with_the_digest_of_the_csv_as_sent(make_app):
    import csv
    import hashlib
    import io

    app = make_app(log_detail_bytes=1024)
    prefix = f"csv{uuid.uuid4().hex[:8]}"
    lines = ["duration,amount,age"] + [
        f"{6 + i % 60},{500 + 7 * i},{19 + i % 56}" for i in range(300)
    ]
    body = ("\r\n".join(lines) + "\r\n").encode()
    reply = app.test_client().post(
        "/v1/predict/batch", data=body, content_type="text/csv", headers={"X-Request-ID": prefix}
    )
    assert reply.status_code == 200
    (row,) = rows_for(app, prefix)
    assert row["body_sha256"] == hashlib.sha256(body).hexdigest()
    detail = read_back(app, row)
    assert detail["inputs"]["amount"] == [500 + 7 * i for i in range(300)]
    answered = list(csv.DictReader(io.StringIO(reply.get_data(as_text=True))))
    assert detail["outputs"]["probability_default"] == [
        float(r["probability_default"]) for r in answered
    ]
    assert detail["outputs"]["decision"] == [r["decision"] for r in answered]
