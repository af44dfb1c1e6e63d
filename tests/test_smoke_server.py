"""The shortest proof that a real server answers the seed's four-parameter request."""


def test_health_lists_every_built_in_model(live_server):
    reply = live_server.get("/health")
    assert reply.status_code == 200
    assert set(reply.json()["models"]) == {"logistic", "forest", "logistic_full", "forest_full"}


def test_single_score_from_query_string(live_server):
    reply = live_server.get(
        "/v1/predict", params={"model": "forest", "duration": 24, "amount": 4000, "age": 35}
    )
    assert reply.status_code == 200
    body = reply.json()
    assert 0.0 <= body["probability_default"] <= 1.0
    assert body["decision"] in {"approve", "decline"}
    assert reply.headers["X-Request-ID"] == body["request_id"]
