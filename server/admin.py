"""Admin routes: retrain a model (gated promotion) and roll back to the previous version.

Both need a key with the admin role once keys are configured. Retraining runs in a
child process (``server.retrain``); the request returns 202 with the job, or waits up
to ``wait`` seconds for its outcome. Rollback switches the pointer at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from flask import Blueprint, Flask, Response, request, url_for

from creditscorer.errors import FieldError
from creditscorer.store import NothingToRollBack, pointer_lock, roll_back
from server import retrain
from server.api import flag, json_response, settings, store
from server.keys import ADMIN, require_role
from server.problems import ApiError

# Algorithms that python -m training can fit again from data (the child process decides
# the details from the live card); imported pipelines are refitted by their owners.
RETRAINABLE = ("LogisticRegression", "RandomForestClassifier")
SHIPPED_DATA = "german_credit.csv"  # the data source the built-in models' cards name

admin = Blueprint("admin", __name__)


def _options() -> dict[str, Any]:
    """Options from a JSON body, multipart form fields or the query string (in that order)."""
    if request.mimetype == "application/json":
        try:
            body = orjson.loads(request.get_data(cache=True) or b"{}")
        except orjson.JSONDecodeError as error:
            message = f"is not valid JSON ({error.args[0]})"
            raise ApiError(400, f"body: {message}", [FieldError("body", message)]) from None
        if not isinstance(body, dict):
            raise ApiError(400, "body: must be a JSON object", [FieldError("body", "an object")])
        _check_json_types(body)
        return {**request.args.to_dict(), **body}
    if request.mimetype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return {**request.args.to_dict(), **request.form.to_dict()}
    if request.content_length:
        raise ApiError(
            415,
            "expected no body, application/json options or a multipart/form-data upload "
            f"(field file), got {request.mimetype or 'no content type'}",
        )
    return request.args.to_dict()


def _check_json_types(body: dict[str, Any]) -> None:
    """JSON options are typed: booleans for quick and force, a number for wait (no text)."""
    for name in ("quick", "force"):
        if name in body and not isinstance(body[name], bool):
            message = "must be true or false (a JSON boolean)"
            raise ApiError(400, f"{name}: {message}", [FieldError(name, message)])
    wait = body.get("wait", 0)
    if isinstance(wait, bool) or not isinstance(wait, int | float):
        message = "must be a number of seconds (a JSON number)"
        raise ApiError(400, f"wait: {message}", [FieldError("wait", message)])


def _wait(options: dict[str, Any]) -> float:
    value = options.get("wait", 0)
    limit = settings().retrain_wait_seconds
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if isinstance(value, bool) or not 0 <= seconds <= limit:
        message = f"must be a number of seconds from 0 to {limit}"
        raise ApiError(400, f"wait: {message}", [FieldError("wait", message)])
    return seconds


def _job_reply(name: str, job: dict[str, Any], created: bool) -> Response:
    """202 with a Location while a job started by this request runs; else 200."""
    status = 202 if created and job["status"] == "running" else 200
    response = json_response(dict(job), status)
    if created:
        response.headers["Location"] = url_for(
            "admin.retrain_status", name=name, job_id=job["job_id"]
        )
    return response


@admin.post("/v1/models/<name>/retrain")
@require_role(ADMIN)
def retrain_model(name: str) -> Response:
    live = store().get(name)  # 404 for an unknown model
    card = live.card.raw
    if card.get("imported") or live.card.algorithm not in RETRAINABLE:
        message = (
            f"{name} has no training recipe here (an imported pipeline or another algorithm); "
            "import a newly fitted pipeline with python -m training import"
        )
        raise ApiError(400, message, [FieldError("name", message)])
    options = _options()
    quick = flag(options.get("quick"), "quick", settings().retrain_quick)
    force = flag(options.get("force"), "force", False)
    wait = _wait(options)
    upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
    if request.mimetype == "multipart/form-data" and upload is None:
        raise ApiError(
            400, "file: is required", [FieldError("file", "is required (a labelled .csv)")]
        )
    data: bytes | None = None
    source = "the shipped German Credit data"
    rows = None
    ignored: list[str] = []
    if upload is None and card.get("data", {}).get("source") != SHIPPED_DATA:
        message = f"is required: {name} was trained on {card.get('data', {}).get('source')}"
        raise ApiError(400, f"file: {message}", [FieldError("file", message)])
    if upload is not None:
        specs = list(live.card.features)
        keep = [g["column"] for g in (card.get("fairness") or {}).get("definitions", [])]
        try:
            parsed = retrain.parse_training_csv(
                upload.read(), specs, settings().max_batch_rows, keep
            )
        except retrain.TooManyRows:
            limit = settings().max_batch_rows
            raise ApiError(
                413,
                f"the file has more than {limit} rows (setting CREDITSCORER_MAX_BATCH_ROWS)",
                [FieldError("file", f"at most {limit} rows")],
            ) from None
        data = retrain.normalised_csv(specs, parsed)
        rows, ignored = parsed.rows, parsed.ignored
        source = Path(upload.filename or "upload.csv").name[:100]
    options = {
        "quick": quick,
        "force": force,
        "max_auc_drop": _max_auc_drop(),
        "data": {"source": source, "rows": rows},
        "features": live.card.feature_names,
        "ignored_columns": ignored,
    }
    model_dir = store().root
    try:
        job = retrain.start_job(model_dir, name, options, data)
    except retrain.RetrainBusy as busy:
        raise ApiError(
            409,
            f"a retrain of {name} is already running (job {busy.job_id or 'unknown'}); "
            "wait for it to finish",
            title="Conflict",
        ) from None
    if wait > 0:
        job = retrain.wait_for_job(model_dir, name, job["job_id"], wait) or job
        if job["status"] != "running":
            store().get(name)  # load the new version now, not on the next score
    return _job_reply(name, job, created=True)


@admin.get("/v1/models/<name>/retrain/<job_id>")
@require_role(ADMIN)
def retrain_status(name: str, job_id: str) -> Response:
    store().get(name)
    job = retrain.read_job(store().root, name, job_id)
    if job is None:
        message = f"no retrain job {job_id!r} for model {name}"
        raise ApiError(404, message, [FieldError("job_id", message)], title="Unknown job")
    return _job_reply(name, job, created=False)


@admin.post("/v1/models/<name>/rollback")
@require_role(ADMIN)
def rollback_model(name: str) -> Response:
    store().get(name)
    folder = store().root / name
    with pointer_lock(folder):
        try:
            left, restored = roll_back(folder, note="rollback over HTTP")
        except NothingToRollBack as error:
            raise ApiError(409, f"cannot roll back {name}: {error}", title="Conflict") from None
    live = store().get(name)
    return json_response(
        {
            "model": name,
            "previous_version": left,
            "version": live.version,
            "reason": f"rolled back from {left} to {restored}, the version live before it",
        }
    )


def _max_auc_drop() -> float:
    return float(settings().retrain_max_auc_drop)


def init_app(app: Flask) -> None:
    """Register the admin routes; check the gate setting now rather than at the first retrain."""
    raw = app.extensions["creditscorer.settings"].retrain_max_auc_drop
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = -1.0
    if not 0 <= value <= 1:
        raise ValueError(
            f"CREDITSCORER_RETRAIN_MAX_AUC_DROP={raw!r} is not a number between 0 and 1"
        )
    app.register_blueprint(admin)
