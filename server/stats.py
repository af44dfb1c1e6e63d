"""Statistics: each model's card metrics beside its live usage and drift, from the query log.

``GET /v1/stats`` covers every model; ``GET /v1/models/<name>/stats`` one of them. The
window is ``?hours=H`` (the last H hours, default ``CREDITSCORER_STATS_WINDOW_HOURS``) or
``?since=ISO[&until=ISO]`` (UTC unless the time says otherwise).

The queries read only the covering index ``ix_query_log_window`` for counts and latency,
and the small per-request ``summary`` for histograms and drift; identical summaries
(every single score with the same bins) are counted once before they are parsed.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import orjson
import sqlalchemy as sa
from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy.engine import Connection

from creditscorer.errors import FieldError
from creditscorer.scoring import Model
from server import drift
from server.problems import ApiError
from server.querylog import query_log, utcnow

stats_api = Blueprint("stats", __name__)

MAX_WINDOW_HOURS = 24 * 366 * 5
PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class Window:
    """A half-open time window [start, end) in naive UTC."""

    start: datetime
    end: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "since": self.start.isoformat(timespec="seconds") + "Z",
            "until": self.end.isoformat(timespec="seconds") + "Z",
            "hours": round((self.end - self.start).total_seconds() / 3600, 3),
        }


def _bad(name: str, message: str) -> ApiError:
    return ApiError(400, f"{name}: {message}", [FieldError(name, message)])


def _parse_time(name: str, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _bad(name, "must be an ISO 8601 date or time, e.g. 2026-11-26T08:00:00Z") from None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


WINDOW_PARAMETERS = frozenset({"hours", "since", "until"})


def parse_window(args: dict[str, str], default_hours: int, now: datetime | None = None) -> Window:
    """The window a request asks for: ``hours`` or ``since``/``until``; raises ApiError."""
    now = now or utcnow()
    unknown = sorted(set(args) - WINDOW_PARAMETERS)
    if unknown:
        # A misspelt "huors" would otherwise give the default window without a word.
        raise _bad(unknown[0], "unknown parameter; the window takes hours, or since and until")
    hours_text, since_text, until_text = args.get("hours"), args.get("since"), args.get("until")
    if hours_text is not None and since_text is not None:
        raise _bad("hours", "give either hours or since, not both")
    if until_text is not None and since_text is None:
        raise _bad("until", "needs since")
    if since_text is not None:
        start = _parse_time("since", since_text)
        end = _parse_time("until", until_text) if until_text is not None else now
        if end <= start:
            raise _bad("until", "must be later than since")
        return Window(start, end)
    hours: float = default_hours
    if hours_text is not None:
        try:
            hours = float(hours_text)
        except ValueError:
            raise _bad("hours", "must be a number of hours") from None
        if not math.isfinite(hours) or not 0 < hours <= MAX_WINDOW_HOURS:
            raise _bad("hours", f"must be more than 0 and at most {MAX_WINDOW_HOURS}")
    return Window(now - timedelta(hours=hours), now)


def _in_window(window: Window):
    return sa.and_(query_log.c.created_at >= window.start, query_log.c.created_at < window.end)


def card_metrics(model: Model) -> dict[str, Any]:
    """The card's quality figures: CV (mean and standard deviation) and hold-out."""
    metrics = model.card.raw.get("metrics", {})
    cv = metrics.get("cv", {})
    holdout = metrics.get("holdout", {})
    names = ("roc_auc", "accuracy", "brier", "expected_cost")
    return {
        "version": model.version,
        "algorithm": model.card.algorithm,
        "threshold": model.threshold,
        "threshold_method": model.card.raw.get("threshold", {}).get("method"),
        "cv": {
            name: {"mean": cv.get(name, {}).get("mean"), "std": cv.get(name, {}).get("std")}
            for name in names
        },
        "holdout": {name: holdout.get(name) for name in names},
        "expected_cost_meaning": "mean UCI cost per applicant (bad approved 5, good declined 1)",
    }


def _latency(array: np.ndarray) -> dict[str, float | None]:
    if not array.size:
        return {f"p{p}": None for p in PERCENTILES} | {"max": None}
    found = np.percentile(array, PERCENTILES)
    return {f"p{p}": round(float(v), 3) for p, v in zip(PERCENTILES, found, strict=True)} | {
        "max": round(float(array.max()), 3)
    }


def _usage(connection: Connection, where) -> dict[str, Any]:
    t = query_log.c
    grouped = connection.execute(
        sa.select(
            t.model_version,
            t.status,
            sa.func.count(),
            sa.func.sum(t.row_count),
            sa.func.sum(t.rows_failed),
            sa.func.sum(t.approved),
            sa.func.sum(t.declined),
        )
        .where(where)
        .group_by(t.model_version, t.status)
    ).all()
    requests = rows = failed = approved = declined = 0
    errors: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    for version, status, n, n_rows, n_failed, n_approved, n_declined in grouped:
        requests += n
        rows += n_rows or 0
        failed += n_failed or 0
        approved += n_approved or 0
        declined += n_declined or 0
        if status >= 400:
            errors[str(status)] += n
        if version is not None:
            versions[version] += n
    latencies = np.asarray(
        connection.execute(sa.select(t.latency_ms).where(where)).scalars().all(), dtype=np.float64
    )
    decided = approved + declined
    return {
        "requests": requests,
        "rows": rows,
        "rows_scored": decided,
        "rows_failed": failed,
        "errors": sum(errors.values()),
        "errors_by_status": dict(sorted(errors.items())),
        "latency_ms": _latency(latencies),
        "decisions": {
            "approve": approved,
            "decline": declined,
            "approve_share": round(approved / decided, 4) if decided else None,
            "decline_share": round(declined / decided, 4) if decided else None,
        },
        "versions": dict(versions.most_common()),
    }


def _summaries(connection: Connection, where) -> tuple[np.ndarray, dict[str, dict[str, Counter]]]:
    """Add up the per-request summaries: score histogram, and feature bins per version.

    Single scores with the same bins have the same summary text, so the database groups
    them and each distinct summary is parsed once (a few thousand at most, not a million).
    """
    t = query_log.c
    found = connection.execute(
        sa.select(t.model_version, t.summary, sa.func.count())
        .where(where, t.summary.is_not(None))
        .group_by(t.model_version, t.summary)
    ).all()
    scores = np.zeros(drift.SCORE_BINS, dtype=np.int64)
    features: dict[str, dict[str, Counter]] = {}
    for version, text, n in found:
        summary = orjson.loads(text)
        for i, count in summary.get("score", []):
            scores[i] += count * n
        per_version = features.setdefault(version, {})
        for name, pairs in summary.get("features", {}).items():
            counter = per_version.setdefault(name, Counter())
            for i, count in pairs:
                counter[i] += count * n
    return scores, features


# Below this many rows a feature's PSI is reported as "insufficient data", not a number.
# Why 200: for a sample drawn from the training distribution itself, n * PSI is close to
# a chi-square variable with (bins - 1) degrees of freedom (PSI is a symmetric divergence,
# about the chi-square statistic over n). With the ten decile bins its 95th percentile is
# 16.9, so a population that has not moved shows PSI < 16.9 / n; at 200 rows that is 0.085,
# below the 0.1 "moderate" line: 19 stable windows in 20 read "stable". At 29 rows the
# same noise reaches 0.58, "significant" on nothing but chance (and empty bins, floored,
# push it higher still).
DRIFT_MIN_ROWS = 200
INSUFFICIENT = "insufficient data"


def _drift(model: Model, counts: dict[str, Counter]) -> dict[str, Any]:
    reference = drift.reference_for(model)
    result: dict[str, Any] = {
        "version": model.version,
        "reference": reference.source if reference is not None else None,
        "bands": {
            "stable": f"psi < {drift.MODERATE}",
            "moderate": f"{drift.MODERATE} <= psi < {drift.SIGNIFICANT}",
            "significant": f"psi >= {drift.SIGNIFICANT}",
            INSUFFICIENT: f"fewer than {DRIFT_MIN_ROWS} rows: psi is not reported",
        },
        "min_rows": DRIFT_MIN_ROWS,
        "rows": 0,
        "features": [],
    }
    if reference is None:
        result["note"] = (
            "no training distribution: the card (written before cards recorded one) has no "
            "training_distribution; retrain the model to get one"
        )
        return result
    for feature in reference.features:
        actual = np.zeros(len(feature.shares), dtype=np.int64)
        for i, count in counts.get(feature.name, {}).items():
            if 0 <= i < actual.shape[0]:
                actual[i] += count
        result["rows"] = max(result["rows"], int(actual.sum()))
        rows = int(actual.sum())
        value = drift.psi(feature.shares, actual) if rows >= DRIFT_MIN_ROWS else None
        entry = {
            "feature": feature.name,
            "psi": None if value is None else round(value, 4),
            "band": drift.band(value) if rows >= DRIFT_MIN_ROWS else INSUFFICIENT,
            "edges": [float(e) for e in feature.edges],
            "expected": [round(float(s), 4) for s in feature.shares],
            "actual": [int(c) for c in actual],
        }
        if feature.categories is not None:
            entry["categories"] = list(feature.categories)
        result["features"].append(entry)
    return result


def model_stats(connection: Connection, model: Model, window: Window) -> dict[str, Any]:
    """Card metrics, usage, score histogram and drift of one model over ``window``."""
    where = sa.and_(query_log.c.model == model.name, _in_window(window))
    usage = _usage(connection, where)
    scores, features = _summaries(connection, sa.and_(where, query_log.c.status == 200))
    edges = np.linspace(0.0, 1.0, drift.SCORE_BINS + 1)
    return {
        "model": model.name,
        "version": model.version,
        "card": card_metrics(model),
        "usage": usage,
        "score_histogram": {
            "edges": [round(float(e), 4) for e in edges],
            "counts": [int(c) for c in scores],
        },
        "drift": _drift(model, features.get(model.version, {})),
    }


def all_stats(app: Flask, window: Window) -> dict[str, Any]:
    """Totals over every scoring request in ``window`` and one block per model."""
    store = app.extensions["creditscorer.store"]
    with app.extensions["creditscorer.db"].connect() as connection:
        totals = _usage(connection, _in_window(window))
        totals.pop("versions")
        models = [model_stats(connection, store.get(name), window) for name in store.names()]
    return {"window": window.as_dict(), "totals": totals, "models": models}


def one_model_stats(app: Flask, model: Model, window: Window) -> dict[str, Any]:
    with app.extensions["creditscorer.db"].connect() as connection:
        return {"window": window.as_dict(), **model_stats(connection, model, window)}


def _reply(body: dict[str, Any]) -> Response:
    from server.api import json_response

    return json_response(body)


def request_window() -> Window:
    settings = current_app.extensions["creditscorer.settings"]
    return parse_window(request.args.to_dict(), settings.stats_window_hours)


def _app() -> Flask:
    return current_app._get_current_object()  # type: ignore[attr-defined]


@stats_api.get("/v1/stats")
def stats_all() -> Response:
    return _reply(all_stats(_app(), request_window()))


@stats_api.get("/v1/models/<name>/stats")
def stats_one(name: str) -> Response:
    window = request_window()
    model = _app().extensions["creditscorer.store"].get(name.strip().lower())
    return _reply(one_model_stats(_app(), model, window))


def init_app(app: Flask) -> None:
    """Register the statistics routes."""
    app.register_blueprint(stats_api)
