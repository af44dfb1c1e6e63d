"""The logic behind the worksheet functions, free of xlwings so that it runs anywhere.

``excel/udfs.py`` only declares the Excel functions and calls into this module. Here:

* ``resolve_settings``: the API address, key and timeout from the workbook's
  ``xlwings.conf`` sheet, else the environment, else the defaults; ``local`` as the
  address switches to local mode (score on this computer, no server).
* ``UdfService``: one backend per configuration, and the result cache.
* ``credit_score`` … ``models_table``: turn cell values into one request and the reply
  into cell values.

The cache
---------
A result is stored under (server, model, model version, operation, inputs). The
version is part of the key so that a retrained model never serves a stale score; the
question is how to know the live version *before* asking for a score. Each reply
carries its ``model_version``, and the service remembers the last version it saw per
(server, model) for ``version_ttl`` seconds. Within that time a cached result is
served with no request at all. After it, a cached result is only served once one
``GET /health`` (a few bytes, all models at once) confirms that the version is still
live; a new version there, or in any reply, moves every later lookup to the new key.
An input never seen before is sent straight away, without a ``/health`` first, so a
table that is not cached costs exactly one request.

Errors are never cached: a cell that failed because the server was down asks again
on the next calculation. The cache is bounded (least recently used results go first)
and ``UdfService.clear`` empties it.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from excel.udf_backends import (
    SCORE,
    SERVER,
    HttpBackend,
    LocalBackend,
    Transport,
    UdfError,
    plain_value,
)

DEFAULT_API_URL = "http://127.0.0.1:5000"
DEFAULT_MODEL = "logistic"  # the model when neither the call nor the settings name one
DEFAULT_TIMEOUT = 60.0  # seconds to wait for a reply; a 10,000-row table takes well under one
LOCAL = "local"
URL_KEY = "CREDITSCORER_API_URL"
KEY_KEY = "CREDITSCORER_API_KEY"
TIMEOUT_KEY = "CREDITSCORER_TIMEOUT"
MODEL_KEY = "CREDITSCORER_DEFAULT_MODEL"  # the server's setting of the same name, for the UDFs
VERSION_TTL = 15.0  # seconds a model version is trusted without asking /health again
CONFIG_TTL = 5.0  # seconds a workbook's xlwings.conf sheet is trusted without reading it again
MAX_CACHED_ROWS = 200_000  # cache bound, in scored rows (a single score counts as one)

# Feature names come from the caller (a header row, a line of names, the seed wrappers'
# argument names in excel/udfs.py) or from the model's card; nothing here knows any.
RESULT_COLUMNS = ("probability_default", "decision", "error", "warning")
MODEL_COLUMNS = (
    "model",
    "version",
    "algorithm",
    "threshold",
    "cv_roc_auc",
    "holdout_roc_auc",
    "trained_at",
)
_TRUE_WORDS = {"true", "yes", "1"}
_FALSE_WORDS = {"false", "no", "0"}


# --- settings ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """Where and how to score. ``api_url`` is a base URL, or ``"local"`` for local mode."""

    api_url: str = DEFAULT_API_URL
    api_key: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    source: str = "default"  # where api_url came from, for error messages
    model_dir: Path | None = None  # local mode's model store
    model: str = DEFAULT_MODEL  # the model of a call without a model argument

    @property
    def local(self) -> bool:
        return self.api_url == LOCAL


def _lookup(config: Mapping[Any, Any], key: str) -> str | None:
    """A key of the xlwings.conf sheet, matched case-insensitively; blank means unset."""
    for name, value in config.items():
        if isinstance(name, str) and name.strip().upper() == key:
            if value is None:
                return None
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # Excel hands every number over as a float
            text = str(value).strip()
            return text or None
    return None


def resolve_settings(
    sheet: Mapping[Any, Any] | None,
    environ: Mapping[str, str] | None = None,
    model_dir: Callable[[], Path] | None = None,
) -> Settings:
    """Settings from the workbook's xlwings.conf sheet, then the environment, then defaults.

    Raises ``UdfError`` for a value that cannot work (an address that is not http(s) or
    ``local``, a timeout that is not a positive number).
    """
    environ = os.environ if environ is None else environ
    sheet = sheet or {}
    url, source = _lookup(sheet, URL_KEY), "the xlwings.conf sheet"
    if url is None:
        url, source = (environ.get(URL_KEY) or "").strip() or None, "the environment"
    if url is None:
        url, source = DEFAULT_API_URL, "the default"
    api_key = _lookup(sheet, KEY_KEY) or (environ.get(KEY_KEY) or "").strip() or None
    timeout_text = _lookup(sheet, TIMEOUT_KEY) or (environ.get(TIMEOUT_KEY) or "").strip()
    timeout = DEFAULT_TIMEOUT
    if timeout_text:
        try:
            timeout = float(timeout_text)
        except ValueError:
            timeout = math.nan
        if not (timeout > 0 and math.isfinite(timeout)):
            raise UdfError(
                SERVER, f"{TIMEOUT_KEY} must be a number of seconds (got {timeout_text!r})"
            )
    model_text = _lookup(sheet, MODEL_KEY) or (environ.get(MODEL_KEY) or "").strip()
    model = model_text.lower() if model_text else DEFAULT_MODEL
    if url.lower() == LOCAL:
        if model_dir is None:
            from creditscorer.store import default_model_dir as model_dir
        return Settings(LOCAL, None, timeout, source, Path(model_dir()), model)
    if not url.lower().startswith(("http://", "https://")):
        raise UdfError(
            SERVER,
            f"{URL_KEY} from {source} must start with http:// or https://, "
            f"or be 'local' (got {url!r})",
        )
    return Settings(url.rstrip("/"), api_key, timeout, source, None, model)


class ConfigCache:
    """Each workbook's xlwings.conf values, read at most every ``ttl`` seconds.

    Reading a sheet goes through COM and is slow next to a cache hit; 10,000 cells
    recalculating must not read it 10,000 times.
    """

    def __init__(self, ttl: float = CONFIG_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[Hashable, tuple[float, dict[Any, Any]]] = {}

    def get(self, book: Hashable, read: Callable[[], Mapping[Any, Any] | None]) -> dict[Any, Any]:
        now = self._clock()
        with self._lock:
            entry = self._entries.get(book)
            if entry is not None and now - entry[0] < self.ttl:
                return entry[1]
        values = dict(read() or {})
        with self._lock:
            self._entries[book] = (now, values)
        return values

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# --- cache -------------------------------------------------------------------------------


class ResultCache:
    """A thread-safe LRU map bounded by the number of scored rows it holds."""

    def __init__(self, max_rows: int = MAX_CACHED_ROWS):
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._entries: OrderedDict[Hashable, tuple[int, Any]] = OrderedDict()
        self._rows = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._entries

    def get(self, key: Hashable) -> Any:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, value: Any, weight: int = 1) -> None:
        weight = max(1, weight)
        if weight > self.max_rows:
            return  # larger than the whole cache: keeping it would evict everything else
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._rows -= old[0]
            self._entries[key] = (weight, value)
            self._rows += weight
            while self._rows > self.max_rows:
                _, (evicted, _) = self._entries.popitem(last=False)
                self._rows -= evicted

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            self._rows = 0
            return count


class VersionMemo:
    """The last model version seen per (server, model), and when it was last confirmed."""

    def __init__(self, ttl: float, clock: Callable[[], float]):
        self.ttl = ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], tuple[str, float]] = {}

    def get(self, server: str, model: str) -> tuple[str | None, bool]:
        """(version or None, whether it was confirmed within the last ``ttl`` seconds)."""
        with self._lock:
            entry = self._seen.get((server, model))
        if entry is None:
            return None, False
        version, seen_at = entry
        return version, self._clock() - seen_at < self.ttl

    def set(self, server: str, model: str, version: str) -> None:
        with self._lock:
            self._seen[(server, model)] = (version, self._clock())

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


def _key_value(value: Any) -> tuple[str, Any]:
    """One input value as part of a cache key.

    The kind is part of the key: ``True == 1`` and ``hash(True) == hash(1)`` in Python,
    but the API rejects true where it accepts 1. Numbers are one kind, so that 24 (from
    Python) and 24.0 (Excel's every number) share an entry: the API reads them alike.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return type(value).__name__, value
    if isinstance(value, float) and value.is_integer():
        return "number", int(value)
    return "number", value


class UdfService:
    """Backends by configuration, and the cached way to ask them."""

    def __init__(
        self,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
        version_ttl: float = VERSION_TTL,
        max_cached_rows: int = MAX_CACHED_ROWS,
    ):
        self._transport = transport
        self._lock = threading.Lock()
        self._backends: dict[tuple[Any, ...], HttpBackend | LocalBackend] = {}
        self.cache = ResultCache(max_cached_rows)
        self.versions = VersionMemo(version_ttl, clock)

    def backend(self, settings: Settings) -> HttpBackend | LocalBackend:
        key = (settings.api_url, settings.api_key, settings.timeout, settings.model_dir)
        with self._lock:
            backend = self._backends.get(key)
            if backend is None:
                if settings.local:
                    assert settings.model_dir is not None
                    backend = LocalBackend(settings.model_dir)
                else:
                    backend = HttpBackend(
                        settings.api_url, settings.api_key, settings.timeout, self._transport
                    )
                self._backends[key] = backend
            return backend

    def clear(self) -> int:
        """Forget every cached result and model version; return how many results there were."""
        self.versions.clear()
        return self.cache.clear()

    def _refresh_versions(self, backend: HttpBackend | LocalBackend) -> dict[str, str]:
        live = backend.versions()
        for model, version in live.items():
            self.versions.set(backend.identity, model, version)
        return live

    def _cached(
        self,
        settings: Settings,
        model: str,
        operation: str,
        inputs: Hashable,
        fetch: Callable[[HttpBackend | LocalBackend], dict[str, Any]],
        version_of: Callable[[dict[str, Any]], Any],
        weight: int = 1,
    ) -> dict[str, Any]:
        backend = self.backend(settings)
        server = backend.identity
        version, fresh = self.versions.get(server, model)
        if version is not None:
            hit = self.cache.get((server, model, version, operation, inputs))
            if hit is not None and not fresh:
                # Cached, but is that version still live? One cheap question settles it.
                live = self._refresh_versions(backend).get(model)
                if live != version:
                    hit = (
                        None
                        if live is None
                        else self.cache.get((server, model, live, operation, inputs))
                    )
            if hit is not None:
                return hit
        reply = fetch(backend)
        version = version_of(reply)
        if not isinstance(version, str) or not version:
            raise UdfError(SERVER, f"{server} answered without a model version")
        self.versions.set(server, model, version)
        self.cache.put((server, model, version, operation, inputs), reply, weight)
        return reply

    def predict(self, settings: Settings, model: str, record: Mapping[str, Any]) -> dict[str, Any]:
        """The API's single-score reply for one applicant (cached)."""
        inputs = tuple((name, _key_value(value)) for name, value in record.items())
        return self._cached(
            settings,
            model,
            "predict",
            inputs,
            lambda backend: backend.predict(model, record),
            lambda reply: reply.get("model_version"),
        )

    def predict_batch(
        self,
        settings: Settings,
        model: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
    ) -> dict[str, Any]:
        """The API's batch reply for a whole table: one request, or none when cached."""
        inputs = (tuple(columns), tuple(tuple(_key_value(v) for v in row) for row in rows))
        return self._cached(
            settings,
            model,
            "batch",
            inputs,
            lambda backend: backend.predict_batch(model, columns, rows),
            lambda reply: reply.get("model_version"),
            weight=len(rows),
        )

    def card(self, settings: Settings, model: str) -> dict[str, Any]:
        """The model's card (cached per version, like a score)."""
        return self._cached(
            settings,
            model,
            "card",
            (),
            lambda backend: backend.card(model),
            lambda reply: reply.get("version"),
        )

    def models(self, settings: Settings) -> list[dict[str, Any]]:
        """Every model's card summary; always asked afresh, and it refreshes the versions."""
        backend = self.backend(settings)
        models = backend.models()
        for summary in models:
            if isinstance(summary, dict) and summary.get("name") and summary.get("version"):
                self.versions.set(backend.identity, str(summary["name"]), str(summary["version"]))
        return models


# --- cell values in, cell values out --------------------------------------------------------


def model_name(value: Any, settings: Settings | None = None) -> str:
    """The model argument: blank means the settings' default model; names are lower case."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return settings.model if settings is not None else DEFAULT_MODEL
    if not isinstance(value, str):
        raise UdfError(SCORE, f"model: must be a model name such as 'forest' (got {value!r})")
    return value.strip().lower()


def flag(name: str, value: Any, default: bool) -> bool:
    """A TRUE/FALSE argument; blank means the default."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE_WORDS | _FALSE_WORDS:
        return value.strip().lower() in _TRUE_WORDS
    raise UdfError(SCORE, f"{name}: must be TRUE or FALSE (got {value!r})")


def single_value(name: str, value: Any) -> Any:
    """One cell's value; a range given where one cell belongs is an error, not a guess."""
    while isinstance(value, list | tuple):
        flat = [v for row in value for v in (row if isinstance(row, list | tuple) else [row])]
        if len(flat) != 1:
            raise UdfError(SCORE, f"{name}: expects one cell, got a range of {len(flat)} cells")
        value = flat[0]
    return plain_value(value)


def applicant(names: Sequence[str], values: Sequence[Any]) -> dict[str, Any]:
    """The record of a function whose arguments are the features (the seed wrappers)."""
    return {name: single_value(name, v) for name, v in zip(names, values, strict=True)}


def credit_score(
    service: UdfService, settings: Settings, record: Mapping[str, Any], model: Any
) -> float:
    """CREDIT_SCORE: the probability of default."""
    reply = service.predict(settings, model_name(model, settings), record)
    probability = reply.get("probability_default")
    if not isinstance(probability, int | float) or isinstance(probability, bool):
        raise UdfError(SERVER, "the reply carries no probability_default")
    return float(probability)


def credit_decision(
    service: UdfService, settings: Settings, record: Mapping[str, Any], model: Any
) -> str:
    """CREDIT_DECISION: approve or decline."""
    reply = service.predict(settings, model_name(model, settings), record)
    decision = reply.get("decision")
    if not isinstance(decision, str):
        raise UdfError(SERVER, "the reply carries no decision")
    return decision


def credit_reasons(
    service: UdfService,
    settings: Settings,
    record: Mapping[str, Any],
    model: Any,
    header: Any,
) -> list[list[Any]]:
    """CREDIT_REASONS: each feature's contribution, in the record's (argument) order.

    The contributions are Shapley values: the model's base probability plus their sum
    is the score. With ``header`` a row of feature names comes first.
    """
    with_header = flag("header", header, False)
    reply = service.predict(settings, model_name(model, settings), dict(record))
    reasons = reply.get("reasons")
    by_feature: dict[str, Any] = {}
    if isinstance(reasons, list):
        by_feature = {
            r["feature"]: r.get("contribution")
            for r in reasons
            if isinstance(r, dict) and "feature" in r
        }
    if not by_feature:
        raise UdfError(SERVER, "the reply carries no reasons")
    row = [by_feature.get(name) for name in record]
    return [list(record), row] if with_header else [row]


@dataclass(frozen=True)
class PreparedTable:
    """A worksheet range split into header names, the rows to send, and which rows are blank."""

    columns: list[str] | None
    rows: list[list[Any]]
    blank: list[bool]


def _header_name(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def prepare_table(table: Any, header: bool) -> PreparedTable:
    """Split a range's values (a list of rows) for one batch request.

    Rows whose cells are all empty are not sent (a range selected with room to grow)
    and get an empty result row, so the result still lines up with the input.
    """
    if not isinstance(table, list | tuple):
        table = [[table]]
    elif table and not isinstance(table[0], list | tuple):
        table = [table]  # one row, as a Python caller may pass it
    rows = [list(row) if isinstance(row, list | tuple) else [row] for row in table]
    if not rows:
        raise UdfError(SCORE, "table: the range is empty")
    width = max(len(row) for row in rows)
    rows = [row + [None] * (width - len(row)) for row in rows]
    columns = None
    if header:
        columns = [_header_name(v) for v in rows[0]]
        rows = rows[1:]
    blank = [all(_is_blank(v) for v in row) for row in rows]
    values = [
        [plain_value(v) for v in row] for row, empty in zip(rows, blank, strict=True) if not empty
    ]
    return PreparedTable(columns, values, blank)


def _result_rows(reply: Mapping[str, Any], n_rows: int) -> list[list[Any]]:
    """The result columns of a batch reply, found by name, one list per row."""
    columns = reply.get("columns")
    rows = reply.get("rows")
    if not isinstance(columns, list) or not isinstance(rows, list) or len(rows) != n_rows:
        raise UdfError(SERVER, f"the batch reply does not hold {n_rows} result rows")
    missing = [name for name in RESULT_COLUMNS if name not in columns]
    if missing:
        raise UdfError(SERVER, f"the batch reply lacks the column(s) {', '.join(missing)}")
    positions = [columns.index(name) for name in RESULT_COLUMNS]
    return [[row[j] for j in positions] for row in rows]


def credit_score_table(
    service: UdfService, settings: Settings, table: Any, model: Any, header: Any
) -> list[list[Any]]:
    """CREDIT_SCORE_TABLE: probability, decision, error and warning per row; one request.

    With ``header`` (the default) the first row names the columns (any order, any case,
    other columns ignored) and the result starts with its own header row, so it has as
    many rows as the input. Without it, the columns must be the model's features in
    the order of its card.
    """
    name = model_name(model, settings)
    with_header = flag("header", header, True)
    prepared = prepare_table(table, with_header)
    columns = prepared.columns
    if columns is None:
        features = [f["name"] for f in service.card(settings, name).get("features", [])]
        width = len(prepared.rows[0]) if prepared.rows else len(features)
        if width != len(features):
            raise UdfError(
                SCORE,
                f"table: without a header row the table needs {len(features)} columns "
                f"({', '.join(features)}, in that order); it has {width}",
            )
        columns = features
    results: list[list[Any]] = []
    if prepared.rows:
        reply = service.predict_batch(settings, name, columns, prepared.rows)
        results = _result_rows(reply, len(prepared.rows))
    scored = iter(results)
    out = [[None] * len(RESULT_COLUMNS) if empty else next(scored) for empty in prepared.blank]
    return [list(RESULT_COLUMNS), *out] if with_header else out


# --- any model: a record of names and values, and the card's schema --------------------------

FEATURE_COLUMNS = ("name", "label", "type", "unit", "accepted", "allowed", "description")


def _flat(name: str, cells: Any) -> list[Any]:
    """One row or one column of cells as a list (a 2-D range must be a single line)."""
    if not isinstance(cells, list | tuple):
        return [cells]
    rows = [list(r) if isinstance(r, list | tuple) else [r] for r in cells]
    if len(rows) > 1 and any(len(r) > 1 for r in rows):
        raise UdfError(SCORE, f"{name}: must be one row or one column of cells")
    return [v for row in rows for v in row]


def record(headers: Any, values: Any) -> dict[str, Any]:
    """CREDIT_*_RECORD's input: a line of feature names and a line of values, paired in order.

    Names match the card's feature names as the API matches them (trimmed, lower case);
    a name given twice, or a value without a name, is an error, never a guess.
    """
    names = [_header_name(v).lower() for v in _flat("headers", headers)]
    cells = _flat("values", values)
    if len(names) != len(cells):
        raise UdfError(SCORE, f"headers and values: {len(names)} names but {len(cells)} values")
    out: dict[str, Any] = {}
    for name, value in zip(names, cells, strict=True):
        if not name:
            if _is_blank(value):
                continue
            raise UdfError(SCORE, "headers: a value has no feature name above or beside it")
        if name in out:
            raise UdfError(SCORE, f"headers: {name!r} appears twice")
        out[name] = plain_value(value)
    return out


def credit_score_record(
    service: UdfService, settings: Settings, headers: Any, values: Any, model: Any
) -> float:
    """CREDIT_SCORE_RECORD: the probability of default of one applicant of any model."""
    reply = service.predict(settings, model_name(model, settings), record(headers, values))
    probability = reply.get("probability_default")
    if not isinstance(probability, int | float) or isinstance(probability, bool):
        raise UdfError(SERVER, "the reply carries no probability_default")
    return float(probability)


def credit_decision_record(
    service: UdfService, settings: Settings, headers: Any, values: Any, model: Any
) -> str:
    """CREDIT_DECISION_RECORD: approve or decline, for any model."""
    reply = service.predict(settings, model_name(model, settings), record(headers, values))
    decision = reply.get("decision")
    if not isinstance(decision, str):
        raise UdfError(SERVER, "the reply carries no decision")
    return decision


def credit_reasons_record(
    service: UdfService, settings: Settings, headers: Any, values: Any, model: Any, header: Any
) -> list[list[Any]]:
    """CREDIT_REASONS_RECORD: each feature's contribution, largest magnitude first, as two
    columns (feature, contribution); with ``header`` a row of column names comes first."""
    with_header = flag("header", header, False)
    reply = service.predict(settings, model_name(model, settings), record(headers, values))
    reasons = reply.get("reasons")
    rows = [
        [r["feature"], r.get("contribution")]
        for r in (reasons if isinstance(reasons, list) else [])
        if isinstance(r, dict) and "feature" in r
    ]
    if not rows:
        raise UdfError(SERVER, "the reply carries no reasons")
    return [["feature", "contribution"], *rows] if with_header else rows


def _accepted_text(feature: Mapping[str, Any]) -> str | None:
    accepted = feature.get("accepted")
    if not isinstance(accepted, dict):
        return None
    low = ">" if accepted.get("min_exclusive") else ">="
    high = "<" if accepted.get("max_exclusive") else "<="
    return f"{low} {accepted.get('min')} and {high} {accepted.get('max')}"


def features_table(service: UdfService, settings: Settings, model: Any) -> list[list[Any]]:
    """CREDIT_FEATURES: the card's schema, one row per feature, to build an input block from:
    name, label, type, unit, accepted range (numbers), allowed labels (categories)."""
    card = service.card(settings, model_name(model, settings))
    rows: list[list[Any]] = [list(FEATURE_COLUMNS)]
    for feature in card.get("features", []):
        categories = feature.get("categories")
        allowed = (
            "; ".join(str(c.get("label", c.get("code"))) for c in categories)
            if isinstance(categories, list)
            else None
        )
        rows.append(
            [
                feature.get("name"),
                feature.get("label") or feature.get("name"),
                feature.get("type"),
                feature.get("unit") or None,
                _accepted_text(feature),
                allowed,
                feature.get("description") or None,
            ]
        )
    return rows


def models_table(service: UdfService, settings: Settings) -> list[list[Any]]:
    """CREDIT_MODELS: a header row, then one row per model."""
    rows: list[list[Any]] = [list(MODEL_COLUMNS)]
    for summary in service.models(settings):
        row = dict(summary, model=summary.get("name"))
        rows.append([row.get(column) for column in MODEL_COLUMNS])
    return rows
