"""Property tests over real HTTP: no input makes a 500, every probability is in [0, 1]."""

from __future__ import annotations

import math

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**25), max_value=10**25),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=1, max_value=120),
    st.floats(min_value=18, max_value=100),
    st.text(max_size=10),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
models = st.one_of(st.sampled_from(["logistic", "forest", None]), st.text(max_size=8))
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def session():
    with requests.Session() as s:
        yield s


@SETTINGS
@given(model=models, duration=values, amount=values, age=values)
def test_single_score_never_fails_with_500(live_server, session, model, duration, amount, age):
    body = {"duration": duration, "amount": amount, "age": age}
    if model is not None:
        body["model"] = model
    reply = session.post(live_server.url + "/v1/predict", json=body, timeout=30)
    assert reply.status_code in {200, 400, 404}, reply.text
    if reply.status_code == 200:
        probability = reply.json()["probability_default"]
        assert 0.0 <= probability <= 1.0
    else:
        assert reply.json()["errors"]


@SETTINGS
@given(rows=st.lists(st.lists(values, min_size=3, max_size=3), min_size=1, max_size=20))
def test_batch_never_fails_with_500_and_scores_every_good_row(live_server, session, rows):
    reply = session.post(
        live_server.url + "/v1/predict/batch",
        json={"model": "forest", "columns": ["duration", "amount", "age"], "rows": rows},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert len(body["rows"]) == len(rows)
    for probability, decision, error, _warning in body["rows"]:
        if error is None:
            assert 0.0 <= probability <= 1.0
            assert math.isfinite(probability)
            assert decision in {"approve", "decline"}
        else:
            assert probability is None
            assert decision is None
    assert body["summary"]["scored"] + body["summary"]["failed"] == len(rows)
