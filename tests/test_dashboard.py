"""The dashboard page: the same numbers as /v1/stats, as HTML with inline SVG, in real Chromium."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from support import PROJECT_ROOT, require_part

from server import create_app


def _load_module():
    path = PROJECT_ROOT / "bench" / "dashboard_screenshot.py"
    spec = importlib.util.spec_from_file_location("dashboard_screenshot", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dashboard_screenshot"] = module
    spec.loader.exec_module(module)
    return module


shots = _load_module()
APPLICANT = {"duration": 24, "amount": 4000, "age": 35}


@pytest.fixture
def app(model_dir: Path, tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'dashboard.sqlite3'}"
    app = create_app(model_dir=model_dir, train_if_missing=False, database_url=url)
    yield app
    app.extensions["creditscorer.db"].dispose()


def test_the_dashboard_shows_each_cards_calibration_and_fairness_tables(app, store):
    html = app.test_client().get("/dashboard").get_data(as_text=True)
    section = html[html.index('id="model-logistic_full"') :]
    section = section[: section.index("</section>")]
    card = store.get("logistic_full").card.raw
    gap = card["fairness"]["largest_approval_gap"]
    assert f"Largest approval-rate gap: <b>{gap['gap']:.3f}</b> by {gap['by']}" in section
    for group in ("female", "male", "foreign worker", "&lt; 25"):
        assert f"<td>{group}</td>" in section
    assert section.count('<tr><td class="num">') >= 10  # one row per calibration bin
    first = card["calibration"]["bins"][0]
    assert f"{first['mean_predicted']:.3f}" in section


def test_the_home_page_redirects_to_the_dashboard(app):
    reply = app.test_client().get("/")
    assert reply.status_code == 302
    assert reply.headers["Location"] == "/dashboard"


def test_the_dashboard_shows_each_model_with_plots_and_loads_nothing_from_elsewhere(app):
    client = app.test_client()
    for age in (25, 45, 65):
        client.post("/v1/predict", json={**APPLICANT, "age": age})
    client.post("/v1/predict", json={**APPLICANT, "age": 12})
    reply = client.get("/dashboard")
    assert reply.status_code == 200
    assert reply.mimetype == "text/html"
    assert "default-src 'none'" in reply.headers["Content-Security-Policy"]
    html = reply.get_data(as_text=True)
    assert 'id="model-logistic"' in html
    assert 'id="model-forest"' in html
    assert html.count("<svg") >= 2 * (2 + 3)  # decisions, histogram, one per feature
    assert "400: 1" in html
    assert "<script" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_the_dashboard_answers_a_bad_window_with_a_problem(app):
    reply = app.test_client().get("/dashboard?hours=-1")
    assert reply.status_code == 400
    assert reply.mimetype == "application/problem+json"


def test_chromium_renders_the_dashboard_of_a_real_server(server_factory, tmp_path):
    require_part(shots.chromium() is not None, "chromium")
    database = tmp_path / "shown.sqlite3"
    server = server_factory(env={"CREDITSCORER_DATABASE_URL": f"sqlite:///{database}"})
    for age in (22, 30, 41, 58, 70):
        server.post("/v1/predict", json={**APPLICANT, "age": age, "model": "forest"})
    server.post(
        "/v1/predict/batch",
        json={"columns": ["duration", "amount", "age"], "rows": [[12, 1500, 30]] * 20},
    )

    dom = shots.dump_dom(f"{server.url}/dashboard")
    assert 'id="model-forest"' in dom
    assert "<rect" in dom
    assert "CreditScorer" in dom

    png = shots.screenshot(f"{server.url}/dashboard", tmp_path / "dashboard.png", 1100, 900)
    width, height, distinct = shots.png_summary(png)
    assert (width, height) == (1100, 900)
    assert distinct > 32  # text, bars and colours, not an empty page
