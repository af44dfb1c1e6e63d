"""``python -m server`` serves with granian by default, waitress on request, and more
than one granian worker on request; each serves the same app."""

from __future__ import annotations

from pathlib import Path

import pytest

PREDICT = {"model": "logistic", "duration": 24, "amount": 4000, "age": 35}


@pytest.mark.parametrize(
    "args", [[], ["--server", "waitress"], ["--workers", "2", "--threads", "2"]]
)
def test_every_documented_server_answers_a_score_and_a_problem(server_factory, args):
    server = server_factory(args=args)
    assert server.get("/health").status_code == 200
    score = server.get("/v1/predict", params=PREDICT)
    assert score.status_code == 200
    assert 0.0 <= score.json()["probability_default"] <= 1.0
    bad = server.get("/v1/predict", params={**PREDICT, "age": 7})
    assert bad.status_code == 400
    assert bad.headers["Content-Type"] == "application/problem+json"
    assert "listening on http://127.0.0.1:" in "".join(server.output)


def test_granian_is_the_default(server_factory):
    server = server_factory()
    # granian names itself in no header; its worker is a child of the command's process.
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    assert children.split(), "granian serves from a worker process"
