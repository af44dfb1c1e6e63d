"""The HTTP routes. Each view parses the request, calls the core, and formats the reply."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, current_app, g, request

from creditscorer.errors import FieldError
from creditscorer.scoring import BatchResult, Model
from creditscorer.store import ModelStore
from server import release_memory, tables
from server.problems import ApiError
from server.querylog import ScoringRecord, logs_scoring

api = Blueprint("api", __name__)

JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv", "application/csv", "text/plain")
# Reply formats a batch may ask for in Accept; by default a reply has the request's format.
REPLY_TYPES = ("application/json", "text/csv", tables.ARROW_STREAM, tables.PARQUET)
# Booleans in query strings and form fields, compared case-insensitively: what a URL
# typed by hand or built by Excel (=TRUE() concatenates as "TRUE") says. JSON bodies
# take JSON booleans only, so that a typo there is an error and not a guess.
TRUE_WORDS = {"true", "1"}
FALSE_WORDS = {"false", "0"}
# After a batch this big has been sent, freed memory goes back to the system (see
# server.release_memory): a few milliseconds after the reply, not before it.
RELEASE_ROWS = 10_000


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    body["request_id"] = g.get("request_id")
    return Response(orjson.dumps(body), status=status, mimetype="application/json")


def store() -> ModelStore:
    return current_app.extensions["creditscorer.store"]


def settings():
    return current_app.extensions["creditscorer.settings"]


def flag(value: Any, name: str, default: bool) -> bool:
    """A boolean option: a JSON boolean, or true/false/1/0 (any case) from a query or form."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in TRUE_WORDS:
        return True
    if isinstance(value, str) and value.lower() in FALSE_WORDS:
        return False
    raise ApiError(
        400, f"{name}: must be true or false", [FieldError(name, "must be true or false")]
    )


def json_flag(body: dict[str, Any], name: str, default: bool) -> bool:
    """A boolean field of a JSON body: absent gives the default; anything but true/false is 400."""
    if name not in body:
        return default
    value = body[name]
    if not isinstance(value, bool):
        message = "must be true or false (a JSON boolean)"
        raise ApiError(400, f"{name}: {message}", [FieldError(name, message)])
    return value


MISSING = object()


def _model(name: Any = MISSING) -> Model:
    """The model a request names; absent or empty text means the default model.

    Anything but text (null, a number, an object) is a 400 naming the field: a client
    that sends a wrong model field must learn it, not get another model's score.
    """
    if name is MISSING or name == "":
        name = settings().default_model
    if not isinstance(name, str):
        message = "must be a model name (text)"
        raise ApiError(400, f"model: {message}", [FieldError("model", message)])
    return store().get(name.strip().lower())


def _json_body() -> Any:
    mimetype = request.mimetype
    if mimetype not in JSON_TYPES:
        raise ApiError(415, f"expected application/json, got {mimetype or 'no content type'}")
    data = request.get_data(cache=False)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as error:
        message = f"is not valid JSON ({error.args[0]})"
        raise ApiError(400, f"body: {message}", [FieldError("body", message)]) from None


@api.get("/health")
def health() -> Response:
    models = {name: model.version for name, model in store().live().items()}
    return json_response({"status": "ok" if models else "no models", "models": models})


@api.get("/v1/models")
def list_models() -> Response:
    return json_response({"models": [m.card.summary() for m in store().live().values()]})


@api.get("/v1/models/<name>")
def model_card(name: str) -> Response:
    return json_response(dict(_model(name).card.raw))


@api.get("/v1/models/<name>/schema")
def model_request_schema(name: str) -> Response:
    """One applicant row of the model as JSON Schema, built from its card."""
    schema = _model(name).card.request_schema()
    return Response(orjson.dumps(schema), mimetype="application/schema+json")


@api.route("/v1/predict", methods=["GET", "POST"])
@logs_scoring
def predict(scoring: ScoringRecord) -> Response:
    """Score one applicant given as query parameters or a JSON object."""
    if request.method == "GET":
        record: dict[str, Any] = request.args.to_dict()
    else:
        record = _json_body()
        if not isinstance(record, dict):
            raise ApiError(
                400, "body: must be a JSON object", [FieldError("body", "must be an object")]
            )
    model = scoring.model = _model(record.get("model", request.args.get("model", MISSING)))
    fmt = request.args.get("format", record.get("format", "json"))
    if fmt not in ("json", "text"):
        raise ApiError(
            400, "format: must be json or text", [FieldError("format", "must be json or text")]
        )
    if request.method == "GET":
        with_reasons = flag(record.get("reasons"), "reasons", True)
    else:
        with_reasons = json_flag(record, "reasons", True)
    scoring.inputs, scoring.rows = record, 1
    result = model.score_one(record, with_reasons=with_reasons)
    scoring.result = result
    if fmt == "text":
        return Response(repr(result.probability_default), mimetype="text/plain")
    return json_response(result.as_dict())


def _read_batch(features: list[str], max_rows: int, json_body: Any) -> tables.InputTable:
    """Parse any batch format into columns (a JSON body has been parsed already)."""
    mimetype = request.mimetype
    if mimetype in JSON_TYPES:
        return tables.from_json(json_body, features, max_rows)
    if mimetype in CSV_TYPES:
        return tables.from_csv(request.get_data(cache=False), features, max_rows, "body")
    if mimetype == tables.ARROW_STREAM:
        return tables.from_arrow_stream(request.get_data(cache=False), features, max_rows, "body")
    if mimetype in tables.PARQUET_TYPES:
        return tables.from_parquet(request.get_data(cache=False), features, max_rows, "body")
    if mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ApiError(
                400, "file: is required", [FieldError("file", "is required (a .csv or .xlsx)")]
            )
        data = upload.read()
        filename = (upload.filename or "").lower()
        if filename.endswith(".xlsx") or data[:2] == b"PK":
            return tables.from_xlsx(data, features, max_rows, "file")
        if filename.endswith(".parquet") or data[:4] == b"PAR1":
            return tables.from_parquet(data, features, max_rows, "file")
        if filename.endswith((".arrow", ".arrows")):
            return tables.from_arrow_stream(data, features, max_rows, "file")
        if filename.endswith((".csv", ".txt")) or not filename:
            return tables.from_csv(data, features, max_rows, "file")
        raise ApiError(
            415,
            "file: must be a .csv, .xlsx, .parquet or .arrow file",
            [FieldError("file", "must be .csv, .xlsx, .parquet or .arrow")],
        )
    raise ApiError(
        415,
        "expected application/json, text/csv, application/vnd.apache.arrow.stream, "
        f"application/vnd.apache.parquet or multipart/form-data, got {mimetype or 'nothing'}",
    )


@api.post("/v1/predict/batch")
@logs_scoring
def predict_batch(scoring: ScoringRecord) -> Response:
    """Score a table sent as JSON, CSV or an uploaded .csv/.xlsx file."""
    # The model is known before the body is read (query string or JSON field) so that
    # its card's feature names drive the parsing.
    body = _json_body() if request.mimetype in JSON_TYPES else None
    options = body if isinstance(body, dict) else {}
    if "columns" in options and "records" in options:
        message = "give either columns and rows, or records, not both"
        raise ApiError(400, f"body: {message}", [FieldError("body", message)])
    model = scoring.model = _model(options.get("model", request.args.get("model", MISSING)))
    if "reasons" in options:
        with_reasons = json_flag(options, "reasons", False)
    else:
        with_reasons = flag(request.args.get("reasons"), "reasons", False)
    limits = settings()
    table = _read_batch(model.card.feature_names, limits.max_batch_rows, body)
    scoring.inputs, scoring.rows = table.columns, table.n_rows
    if with_reasons and table.n_rows > limits.max_reason_rows:
        raise ApiError(
            413,
            f"reasons are computed for at most {limits.max_reason_rows} rows per request "
            "(setting CREDITSCORER_MAX_REASON_ROWS); send fewer rows or leave reasons off",
            [FieldError("reasons", f"at most {limits.max_reason_rows} rows with reasons")],
        )
    result = model.score_table(table.columns, table.n_rows, with_reasons=with_reasons)
    _merge_row_errors(result, table.row_errors)
    scoring.result = result
    response = _batch_reply(result, table)
    if table.n_rows >= RELEASE_ROWS:
        response.call_on_close(release_memory)
    return response


def _merge_row_errors(result: BatchResult, row_errors: dict[int, str]) -> None:
    """Rows that could not even be read are errors whatever their values said."""
    for i, message in row_errors.items():
        result.errors[i] = message
        result.warnings.pop(i, None)
        result.probability_default[i] = float("nan")
        result.decision[i] = None
        if result.contributions is not None:
            result.contributions[i] = float("nan")


def _reply_type() -> str:
    """The batch reply's media type: what Accept prefers, else the request's own format."""
    mimetype = request.mimetype
    own = (
        "text/csv"
        if mimetype in CSV_TYPES
        else tables.ARROW_STREAM
        if mimetype == tables.ARROW_STREAM
        else tables.PARQUET
        if mimetype in tables.PARQUET_TYPES
        else "application/json"
    )
    accept = request.accept_mimetypes
    best = accept.best_match(REPLY_TYPES, default=own)
    # "*/*" (or no Accept) rates every type alike: then the request's format wins.
    return own if accept[own] >= accept[best] else best


_FILE_NAMES = {
    "text/csv": "scores.csv",
    tables.ARROW_STREAM: "scores.arrows",
    tables.PARQUET: "scores.parquet",
}


def _batch_reply(result: BatchResult, table: tables.InputTable) -> Response:
    reply_type = _reply_type()
    if reply_type != "application/json":
        if reply_type == "text/csv" and table.echo_table is None and table.echo_columns is None:
            body = tables.to_csv(result.result_columns(), result.result_rows(), None)
        elif reply_type == "text/csv" and table.echo_table is None:  # xlsx: cells of any type
            columns = table.echo_columns + result.result_columns()
            body = tables.to_csv(columns, result.result_rows(), table.echo_rows)
        elif reply_type == "text/csv":
            body = tables.to_csv_columnar(result, table)
        elif reply_type == tables.ARROW_STREAM:
            body = tables.to_arrow_stream(result, table)
        else:
            body = tables.to_parquet(result, table)
        response = Response(body, mimetype=reply_type)
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{_FILE_NAMES[reply_type]}"'
        )
        response.headers["X-Model-Version"] = result.model_version
        return response
    columns = result.result_columns()
    rows = result.result_tuples()
    echo_rows = table.echo_row_lists() if table.echo_columns is not None else None
    if table.echo_columns is not None:
        columns = table.echo_columns + columns
    if echo_rows is not None:
        rows = [[*a, *b] for a, b in zip(echo_rows, rows, strict=True)]
    body: dict[str, Any] = result.reply(columns, rows)
    if result.base_probability is not None:
        body["base_probability"] = result.base_probability
    return json_response(body)
