"""``GET /metrics``: requests by route, model and status, log writes and batch sizes, in
Prometheus' text format; with several workers the figures of all of them."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from server import create_app

PREDICT = "/v1/predict?model=forest&duration=24&amount=4000&age=35"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def count(found, metric: str, **labels: str) -> float:
    key = (f"{metric}_count", tuple(sorted(labels.items())))
    return found.get(key, 0.0)


@pytest.fixture
def client(model_dir: Path, tmp_path: Path):
    app = create_app(
        model_dir=model_dir,
        database_url=f"sqlite:///{tmp_path / 'metrics.sqlite3'}",
        train_if_missing=False,
    )
    yield app.test_client()
    app.extensions["creditscorer.db"].dispose()


def test_requests_are_counted_by_route_model_and_status(client):
    for _ in range(3):
        assert client.get(PREDICT).status_code == 200
    assert client.get(PREDICT.replace("age=35", "age=7")).status_code == 400
    assert client.get("/no/such/route").status_code == 404
    table = {
        "model": "logistic",
        "columns": ["duration", "amount", "age"],
        "rows": [[24, 4000, 35]] * 250,
    }
    assert client.post("/v1/predict/batch", json=table).status_code == 200
    reply = client.get("/metrics")
    assert reply.status_code == 200
    assert reply.mimetype == "text/plain"
    found = samples(reply.get_data(as_text=True))
    metric = "creditscorer_request_duration_seconds"
    assert count(found, metric, route="GET /v1/predict", model="forest", status="200") == 3
    assert count(found, metric, route="GET /v1/predict", model="forest", status="400") == 1
    assert count(found, metric, route="GET (no route)", model="", status="404") == 1
    batch = {"route": "POST /v1/predict/batch", "model": "logistic", "status": "200"}
    assert count(found, metric, **batch) == 1
    # One log row per scoring request (3 + 1 + the batch), each write timed.
    assert count(found, "creditscorer_log_write_duration_seconds") == 5
    # One client at a time: each row was a commit of its own.
    assert count(found, "creditscorer_log_commit_rows") == 5
    assert found[("creditscorer_log_commit_rows_sum", ())] == 5
    assert count(found, "creditscorer_batch_rows", model="logistic") == 1
    assert found[("creditscorer_batch_rows_sum", (("model", "logistic"),))] == 250
    assert found[("creditscorer_batch_rows_bucket", (("le", "100.0"), ("model", "logistic")))] == 0
    assert found[("creditscorer_batch_rows_bucket", (("le", "1000.0"), ("model", "logistic")))] == 1


def test_a_withheld_reply_is_counted_with_the_status_it_was_sent_with(client):
    querylog = client.application.extensions["creditscorer.querylog"]
    from sqlalchemy.exc import OperationalError

    real_engine = querylog.engine

    class Refusing:
        dialect = real_engine.dialect
        url = real_engine.url  # the outage line names the database

        def begin(self):
            raise OperationalError("insert", {}, Exception("disk full"))

        connect = begin

    querylog.engine = Refusing()
    try:
        assert client.get(PREDICT).status_code == 503
    finally:
        querylog.engine = real_engine
    found = samples(client.get("/metrics").get_data(as_text=True))
    metric = "creditscorer_request_duration_seconds"
    assert count(found, metric, route="GET /v1/predict", model="forest", status="503") == 1
    assert count(found, metric, route="GET /v1/predict", model="forest", status="200") == 0


def test_two_workers_report_their_sum_in_multiprocess_mode(server_factory, tmp_path):
    shared = tmp_path / "prometheus"
    shared.mkdir()
    server = server_factory(
        env={
            "PROMETHEUS_MULTIPROC_DIR": str(shared),
            "CREDITSCORER_DATABASE_URL": f"sqlite:///{tmp_path / 'mp.sqlite3'}",
        },
        args=["--workers", "2"],
    )
    sent = 40
    for _ in range(sent):
        assert server.get(PREDICT).status_code == 200
    assert len(list(shared.glob("*.db"))) >= 1
    for _ in range(4):  # whichever worker answers the scrape, it reports both
        found = samples(server.get("/metrics").text)
        metric = "creditscorer_request_duration_seconds"
        assert count(found, metric, route="GET /v1/predict", model="forest", status="200") == sent
