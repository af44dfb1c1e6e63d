"""Prometheus metrics at ``GET /metrics``: requests, latency, log writes and batch sizes.

* ``creditscorer_request_duration_seconds{route, model, status}``: a histogram of every
  request from its first hook to its reply (query log write included); its ``_count`` is
  the request count. ``route`` is the method and URL rule (``GET /v1/predict``), never the
  raw path, so that unknown URLs cannot multiply the series; ``model`` is empty for routes
  that score nothing.
* ``creditscorer_log_write_duration_seconds``: each query log row's write and commit.
* ``creditscorer_log_commit_rows``: log rows per commit; more than one when concurrent
  requests' rows shared a commit (``server.logwriter``), so ``_sum / _count`` is the
  average group.
* ``creditscorer_batch_rows{model}``: rows per batch request.

With several worker processes (gunicorn, ``python -m server --workers N``) each worker
counts on its own; set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder that all workers
share, and a scrape of any worker adds them all up (prometheus-client's multiprocess
mode). The cost on the hot path is one histogram observation per request (a few
microseconds; ``bench/bench_api.py`` measures every request with it on).
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any

from flask import Flask, Response, request

from server.querylog import current_record

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0
)  # fmt: skip
ROW_BUCKETS = (1, 10, 100, 1_000, 10_000, 100_000, 1_000_000)
GROUP_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 32, 64, 256)


_LABELS = "creditscorer.metrics.labels"  # environ key: (route, model, batch rows)


def init_app(app: Flask) -> None:
    """Register the metrics, their hook, the timing middleware and the ``/metrics`` route.

    The time and the status are taken around the whole WSGI app, so they include every
    hook and the query log's write, and the status is the one sent (a 503 when the log
    row could not be written); a hook only notes which route and model the request had.
    """
    from prometheus_client import CollectorRegistry, Histogram

    registry = CollectorRegistry(auto_describe=True)
    requests = Histogram(
        "creditscorer_request_duration_seconds",
        "Requests by route, model and status: time from the first hook to the reply.",
        ("route", "model", "status"),
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    log_writes = Histogram(
        "creditscorer_log_write_duration_seconds",
        "Query log rows: time to write and commit one.",
        buckets=LATENCY_BUCKETS,
        registry=registry,
    )
    batch_rows = Histogram(
        "creditscorer_batch_rows",
        "Rows per batch request.",
        ("model",),
        buckets=ROW_BUCKETS,
        registry=registry,
    )
    commit_rows = Histogram(
        "creditscorer_log_commit_rows",
        "Query log commits: rows per commit (several when concurrent requests share one).",
        buckets=GROUP_BUCKETS,
        registry=registry,
    )
    app.extensions["creditscorer.metrics"] = registry

    @app.after_request
    def _note_labels(response: Response) -> Response:
        current = request._get_current_object()  # type: ignore[attr-defined]
        rule = current.url_rule
        scoring = current_record()
        model = scoring.model if scoring is not None else None
        rows = (
            scoring.rows
            if scoring is not None and current.endpoint == "api.predict_batch"
            else None
        )
        current.environ[_LABELS] = (
            f"{current.method} {rule.rule if rule is not None else '(no route)'}",
            model.name if model is not None else "",
            rows,
        )
        return response

    inner = app.wsgi_app

    def timed_app(environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        sent: list[str] = []

        def capture(status: str, headers: Any, exc_info: Any = None) -> Any:
            sent.append(status)
            return start_response(status, headers, exc_info)

        body = inner(environ, capture)
        route, model, rows = environ.get(_LABELS, ("(no route)", "", None))
        status = sent[0].split(" ", 1)[0] if sent else "500"
        requests.labels(route, model, status).observe(time.perf_counter() - started)
        if rows:
            batch_rows.labels(model).observe(rows)
        return body

    app.wsgi_app = timed_app  # type: ignore[method-assign]

    querylog = app.extensions.get("creditscorer.querylog")
    if querylog is not None and hasattr(querylog, "write"):
        querylog.write = _timed(querylog.write, log_writes)
    if querylog is not None and hasattr(querylog, "writer"):
        querylog.writer.on_flush = commit_rows.observe

    @app.get("/metrics")
    def metrics() -> Response:
        """Every metric in Prometheus' text format (all workers' in multiprocess mode)."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        if os.environ.get(MULTIPROCESS_ENV):
            from prometheus_client import multiprocess

            shared = CollectorRegistry()
            multiprocess.MultiProcessCollector(shared)
            return Response(generate_latest(shared), content_type=CONTENT_TYPE_LATEST)
        return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _timed(write: Any, histogram: Any) -> Any:
    """``write`` with its duration observed, failed writes included."""

    @functools.wraps(write)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return write(*args, **kwargs)
        finally:
            histogram.observe(time.perf_counter() - started)

    return timed
