"""Where the worksheet functions get their scores: the HTTP API, or the local model store.

Both backends answer in the API's own JSON shapes (``/health``, ``/v1/models``,
``/v1/predict``, ``/v1/predict/batch``), so everything above them — the cache, the
table shaping, the error cells — is the same code in API mode and in local mode.

Every failure a user can cause or meet becomes a ``UdfError``, whose ``cell`` text is
what the worksheet shows (``#SCORE! age: must be between 18 and 100 (got 15)``).
Nothing here imports xlwings or Flask.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

# Error kinds, shown as the cell's prefix. They are text, not Excel error values:
# xlwings cannot return #VALUE!-style errors with a message, and the message is the point.
SCORE = "SCORE"  # the input breaks a rule of the model (HTTP 400)
MODEL = "MODEL"  # unknown model, or no trained model (404, 503, local store problems)
AUTH = "AUTH"  # no or wrong API key (401, 403)
LIMIT = "LIMIT"  # the table is larger than the server accepts (413)
SERVER = "SERVER"  # cannot reach the server, it failed, or it answered nonsense

CONNECT_TIMEOUT = 3.05  # seconds; a server on the same machine or network answers at once


class UdfError(Exception):
    """A failure shown in the cell as ``#KIND! message`` instead of a traceback."""

    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def cell(self) -> str:
        return f"#{self.kind}! {self.message}"


@dataclass(frozen=True)
class Reply:
    """What a transport got back: status, media type (without parameters) and body bytes."""

    status: int
    content_type: str
    body: bytes


class TransportError(Exception):
    """The request got no HTTP reply at all (refused, unreachable, timed out)."""


class Transport(Protocol):
    """Sends one HTTP request. Tests wrap the real one to count requests."""

    def __call__(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> Reply: ...


class RequestsTransport:
    """The default transport: one ``requests.Session`` (kept-alive connections)."""

    def __init__(self) -> None:
        import requests  # imported here: local mode never needs it

        self._requests = requests
        self._session = requests.Session()
        self._session.trust_env = True  # honour HTTP(S)_PROXY / NO_PROXY like a browser

    def __call__(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float,
    ) -> Reply:
        try:
            response = self._session.request(
                method, url, headers=dict(headers), data=body, timeout=(CONNECT_TIMEOUT, timeout)
            )
        except self._requests.exceptions.Timeout:
            raise TransportError(f"no answer within {timeout:g} s") from None
        except self._requests.exceptions.ConnectionError as error:
            raise TransportError(_connection_reason(error)) from None
        except self._requests.exceptions.RequestException as error:
            raise TransportError(type(error).__name__) from None
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        return Reply(response.status_code, media_type, response.content)

    def close(self) -> None:
        self._session.close()


def _connection_reason(error: Exception) -> str:
    """A short reason from the nested urllib3 error, without its object addresses."""
    text = str(error)
    for needle, reason in (
        ("Connection refused", "connection refused"),
        ("actively refused", "connection refused"),  # Windows' wording
        ("Name or service not known", "unknown host name"),
        ("getaddrinfo failed", "unknown host name"),
        ("nodename nor servname", "unknown host name"),
        ("timed out", "connection timed out"),
        ("Connection reset", "connection reset"),
        ("Remote end closed", "the server closed the connection"),
    ):
        if needle in text:
            return reason
    return "connection failed"


def plain_value(value: Any) -> Any:
    """A cell value as JSON can carry it; anything exotic becomes text for the server to judge.

    Excel hands over floats, text, booleans and None; dates arrive as ``datetime``. The
    server's validation, not this function, decides what is acceptable, so that a date
    in the amount column is reported as "not a number" just as the API reports it.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b":
        return bool(value)  # before int: True is an int, and NumPy booleans are not bools
    if isinstance(value, int):
        if -(2**63) <= value < 2**63:  # JSON parsers read no larger integers
            return int(value)
        value = float(value) if abs(value) < 2**1023 else (math.inf if value > 0 else -math.inf)
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value.is_integer() and abs(value) < 2**53:
            # Excel has no integers: 3 in a cell arrives as 3.0. Sent as 3, so that a
            # category coded "3" matches as a JSON 3 does; numeric rules read both alike.
            return int(value)
        return float(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    try:  # NumPy scalars and the like
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return plain_value(number)


def _field_errors(errors: Any) -> str | None:
    if not isinstance(errors, list) or not errors:
        return None
    parts = []
    for item in errors:
        if isinstance(item, dict):
            field_name, message = item.get("field"), item.get("message")
            parts.append(f"{field_name}: {message}" if field_name else str(message))
    return "; ".join(parts) or None


def error_from_problem(status: int, problem: Mapping[str, Any], base_url: str) -> UdfError:
    """Turn an API error reply (problem+json) into the error the cell shows."""
    detail = str(problem.get("detail") or problem.get("title") or f"HTTP {status}")
    fields = _field_errors(problem.get("errors"))
    request_id = problem.get("request_id")
    if status == 400:
        return UdfError(SCORE, fields or detail)
    if status in (401, 403):
        hint = (
            "set CREDITSCORER_API_KEY (xlwings.conf sheet or environment)"
            if status == 401
            else "this key may not do that"
        )
        return UdfError(AUTH, f"{detail} ({status}); {hint}")
    if status == 404 and fields:
        return UdfError(MODEL, detail)
    if status == 404:
        return UdfError(
            SERVER, f"{base_url} has no such route: is CREDITSCORER_API_URL a CreditScorer server?"
        )
    if status == 413:
        return UdfError(LIMIT, detail)
    if status == 503:
        return UdfError(MODEL, f"{detail} (503)")
    suffix = f" (request id {request_id})" if request_id else ""
    return UdfError(SERVER, f"{status} {problem.get('title') or 'error'}: {detail}{suffix}")


class HttpBackend:
    """The CreditScorer HTTP API at ``base_url``, through a transport."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        transport: Transport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self._transport = transport or RequestsTransport()

    @property
    def identity(self) -> str:
        """The server part of a cache key."""
        return self.base_url

    def _request(self, method: str, path: str, payload: Any = None) -> dict[str, Any]:
        headers = {"Accept": "application/json", "User-Agent": "CreditScorer-xlwings-UDFs"}
        if self.api_key:
            headers["X-API-Key"] = self.api_key
        body = None
        if payload is not None:
            headers["Content-Type"] = "application/json"
            body = json.dumps(payload, allow_nan=False, separators=(",", ":")).encode("utf-8")
        try:
            reply = self._transport(
                method, self.base_url + path, headers=headers, body=body, timeout=self.timeout
            )
        except TransportError as error:
            raise UdfError(
                SERVER,
                f"cannot reach CreditScorer at {self.base_url} ({error}): start the server, "
                "or set CREDITSCORER_API_URL (or 'local' to score without a server)",
            ) from None
        try:
            data = json.loads(reply.body) if reply.body else None
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise UdfError(
                SERVER,
                f"{self.base_url}{path} answered {reply.status} with "
                f"{reply.content_type or 'no content type'}, not CreditScorer JSON",
            )
        if reply.status >= 400:
            raise error_from_problem(reply.status, data, self.base_url)
        return data

    def versions(self) -> dict[str, str]:
        """Each model's live version, from ``GET /health``."""
        models = self._request("GET", "/health").get("models")
        if not isinstance(models, dict):
            raise UdfError(SERVER, f"{self.base_url}/health lists no models")
        return {str(name): str(version) for name, version in models.items()}

    def models(self) -> list[dict[str, Any]]:
        models = self._request("GET", "/v1/models").get("models")
        if not isinstance(models, list):
            raise UdfError(SERVER, f"{self.base_url}/v1/models lists no models")
        return models

    def card(self, model: str) -> dict[str, Any]:
        return self._request("GET", f"/v1/models/{quote(model, safe='')}")

    def predict(self, model: str, record: Mapping[str, Any]) -> dict[str, Any]:
        return self._request("POST", "/v1/predict", {"model": model, **record})

    def predict_batch(
        self, model: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> dict[str, Any]:
        payload = {"model": model, "columns": list(columns), "rows": [list(r) for r in rows]}
        return self._request("POST", "/v1/predict/batch", payload)


class LocalBackend:
    """Scores with the core package and the model artifacts on this computer; no server.

    The store is opened on first use, so that merely importing the UDF module (which
    xlwings does for every workbook) never touches the model folder.
    """

    def __init__(self, model_dir: Path | str):
        self.model_dir = Path(model_dir)
        self._store: Any = None

    @property
    def identity(self) -> str:
        return f"local:{self.model_dir.resolve()}"

    def _get_store(self) -> Any:
        if self._store is None:
            from creditscorer import ModelStore

            self._store = ModelStore(self.model_dir)
        return self._store

    def _names(self) -> list[str]:
        names = self._get_store().names()
        if not names:
            raise UdfError(
                MODEL,
                f"no trained models in {self.model_dir}: run 'python -m training' "
                "or set CREDITSCORER_MODEL_DIR",
            )
        return names

    def _model(self, name: str) -> Any:
        from creditscorer.errors import CreditScorerError, UnknownModelError

        try:
            return self._get_store().get(name)
        except UnknownModelError as error:
            raise UdfError(MODEL, str(error)) from None
        except CreditScorerError as error:  # not trained, or an artifact fails its sha256
            raise UdfError(MODEL, f"model {name!r} cannot be loaded: {error}") from None

    def versions(self) -> dict[str, str]:
        return {name: self._model(name).version for name in self._names()}

    def models(self) -> list[dict[str, Any]]:
        return [self._model(name).card.summary() for name in self._names()]

    def card(self, model: str) -> dict[str, Any]:
        return dict(self._model(model).card.raw)

    def predict(self, model: str, record: Mapping[str, Any]) -> dict[str, Any]:
        from creditscorer.errors import ValidationError

        scorer = self._model(model)
        try:
            return scorer.score_one(record).as_dict()
        except ValidationError as error:
            raise UdfError(SCORE, "; ".join(str(e) for e in error.errors)) from None

    def predict_batch(
        self, model: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
    ) -> dict[str, Any]:
        from creditscorer.errors import ValidationError

        scorer = self._model(model)
        if not rows:
            raise UdfError(SCORE, "rows: the table has no rows")
        by_name = table_columns(columns, rows, scorer.card.feature_names)
        try:
            result = scorer.score_table(by_name, len(rows))
        except ValidationError as error:
            raise UdfError(SCORE, "; ".join(str(e) for e in error.errors)) from None
        return result.reply()


def table_columns(
    header: Sequence[Any], rows: Sequence[Sequence[Any]], features: Sequence[str]
) -> dict[str, list[Any]]:
    """Feature name -> column of values, matching header names case-insensitively.

    The API's batch route uses the same rules (``creditscorer.validation.match_columns``):
    every column needs a text name, a name may appear once, other columns are ignored, and
    a missing feature column is reported by the core's validation.
    """
    from creditscorer.errors import ValidationError
    from creditscorer.validation import match_columns

    try:
        positions = match_columns(header, features)
    except ValidationError as error:
        raise UdfError(SCORE, "; ".join(str(e) for e in error.errors)) from None
    return {f: [row[j] for row in rows] for f, j in positions.items()}
