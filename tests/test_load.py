"""Reduced-size load proofs against real gunicorn (2 workers, ``deploy/gunicorn.conf.py``).

The full-size figures (20,000 requests, throughput with and without the log) come from
``python bench/load_test.py``; these tests run the same code with a few thousand requests.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest
import requests
from support import PROJECT_ROOT

pytestmark = pytest.mark.slow


def _load_module():
    spec = importlib.util.spec_from_file_location(
        "load_test", PROJECT_ROOT / "bench" / "load_test.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["load_test"] = module
    spec.loader.exec_module(module)
    return module


load_test = _load_module()


def test_under_load_no_request_fails_and_each_has_exactly_one_log_row(model_dir, db_url):
    total = 2000
    env = load_test.server_env(model_dir, db_url)
    with load_test.gunicorn_server(env, workers=2) as server:
        report = load_test.run_load(server.url, total=total, concurrency=16, deadline_s=120)
        stats = requests.get(f"{server.url}/v1/stats", params={"hours": 1}, timeout=30).json()
    assert not report.stopped_early
    assert report.failed == []
    assert {r.kind for r in report.results} == {"single", "batch", "invalid"}
    check = load_test.check_log(db_url, report)
    assert check.rows == total
    assert (check.duplicates, check.missing, check.extra) == (0, [], 0)
    assert check.integrity in (None, "ok")
    assert stats["totals"]["requests"] >= total  # the stats route shows the load
    assert stats["totals"]["errors_by_status"]["400"] >= total // 25


def test_a_worker_killed_mid_load_leaves_every_sent_reply_logged_and_the_database_intact(
    model_dir, db_url
):
    """On SQLite and on PostgreSQL (``db_url`` runs it on each)."""
    total = 2000
    url = db_url
    with load_test.gunicorn_server(load_test.server_env(model_dir, url), workers=2) as server:
        hook = load_test.kill_one_worker_midway(server, total)
        report = load_test.run_load(
            server.url, total=total, concurrency=16, deadline_s=120, on_progress=hook
        )
        workers_after = server.worker_pids()
    assert len(hook.killed) == 1
    assert hook.killed[0] not in workers_after
    assert len(workers_after) == 2  # the master started a new worker
    check = load_test.check_log(url, report)
    assert check.integrity == ("ok" if url.startswith("sqlite") else None)  # PRAGMA integrity_check
    assert check.missing == []  # every reply that reached the client has its row
    assert check.duplicates == 0
    lost = [r for r in report.results if r.status is None]
    assert len(report.replied) + len(lost) == total
    assert check.rows <= len(report.replied) + len(lost)  # at most the lost ones besides
    wrong = [r for r in report.replied if r.failed]
    assert wrong == []  # the requests that did get a reply got the right one


def test_the_load_runner_refuses_other_hosts():
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        load_test.run_load("http://example.com:80", total=1)
