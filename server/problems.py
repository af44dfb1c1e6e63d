"""One error type and the handlers that turn every failure into problem+json (RFC 9457).

Replies never carry a stack trace: unexpected exceptions are logged with the request
id and answered with a generic 500. A database that cannot serve now (down, read-only,
full) is a 503 with ``Retry-After``, logged in one line that names the cause.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from flask import Flask, Response, g
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from creditscorer.errors import (
    ArtifactIntegrityError,
    FieldError,
    ModelNotTrainedError,
    UnknownModelError,
    ValidationError,
)
from server import dberrors

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("creditscorer.server")
_outage = dberrors.OutageLog(log, "database", "request answered 503")

_TITLES = {
    400: "Invalid input",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Request too large",
    415: "Unsupported media type",
    500: "Internal server error",
    503: "Service unavailable",
}


class ApiError(Exception):
    """An error with its HTTP status, a title, a detail sentence and field errors."""

    def __init__(
        self,
        status: int,
        detail: str,
        errors: list[FieldError] | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.title = title or _TITLES.get(status, "Error")
        self.headers = headers or {}


def problem(
    status: int,
    detail: str,
    errors: list[FieldError] | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = [e.as_dict() for e in errors]
    body["request_id"] = g.get("request_id")
    response = Response(orjson.dumps(body), status=status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return problem(error.status, error.detail, error.errors, error.title, error.headers)

    @app.errorhandler(ValidationError)
    def _validation_error(error: ValidationError) -> Response:
        return problem(400, error.detail, error.errors)

    @app.errorhandler(UnknownModelError)
    def _unknown_model(error: UnknownModelError) -> Response:
        message = str(error)
        return problem(404, message, [FieldError("model", message)], title="Unknown model")

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response:
        status = error.code or 500
        if status == 413:
            detail = (
                f"the request body exceeds the limit of {app.config['MAX_CONTENT_LENGTH']} bytes "
                "(setting CREDITSCORER_MAX_REQUEST_BYTES); send a smaller batch"
            )
        elif status == 404:
            detail = "no such route; see /openapi.json for the routes"
        else:
            detail = error.description or _TITLES.get(status, "Error")
        headers = {}
        if status == 405 and error.get_response().headers.get("Allow"):
            headers["Allow"] = error.get_response().headers["Allow"]
        return problem(status, detail, title=_TITLES.get(status, error.name), headers=headers)

    @app.errorhandler(ModelNotTrainedError)
    @app.errorhandler(ArtifactIntegrityError)
    def _model_unavailable(error: Exception) -> Response:
        log.error("model unavailable (request %s): %s", g.get("request_id"), error)
        return problem(503, "the model could not be loaded; the operator has been told in the log")

    @app.errorhandler(SQLAlchemyError)
    def _database_error(error: SQLAlchemyError) -> Response:
        # Down, read-only, full: the client may retry, and the log gets one line, not a
        # stack trace per request. Anything else from the database is a bug: a 500.
        if not dberrors.is_unavailable(error):
            return _unexpected(error)
        engine = app.extensions.get("creditscorer.db")
        _outage.failed(dberrors.describe(error, engine), g.get("request_id"))
        return problem(
            503,
            "the database is unavailable; try again shortly",
            headers={"Retry-After": str(dberrors.RETRY_AFTER_S)},
        )

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        log.exception("unhandled error in request %s", g.get("request_id"))
        return problem(500, "an unexpected error occurred; quote the request id when reporting it")
