"""Input validation against a model card's feature schema.

One set of rules serves a single applicant and a whole table; tables are checked
column by column with NumPy, so the cost of a clean 100,000-row table is a few array
operations per feature, not a Python loop per row. Every broken rule is collected
(a table gets one message per bad row; a single applicant gets the full list), and
only then is the numeric matrix built in the card's feature order.

Rules for a value (the same for JSON, CSV, xlsx and query strings):

* JSON numbers are used as they are; ``true``/``false`` are rejected (not numbers).
* Text is read as a number the way Python's ``float()`` reads it, after trimming
  white space and removing single spaces (also no-break and thin spaces) between
  digit groups: ``"12"``, ``" 1 200.50 "`` and ``"1e3"`` are numbers. A comma is
  rejected, because ``"1,200"`` means 1200 in one locale and 1.2 in another: send
  ``.`` as the decimal separator and no thousands separator.
* Missing values (absent, ``null``, empty text) are "is required".
* NaN and infinities are rejected; ``integer`` features must be whole numbers
  (``24.0`` is fine, ``24.5`` is not); then the card's accepted range applies.
* A value inside the accepted range but outside the training range is scored with a
  warning that names the feature and the range.

Rules for a ``category`` feature:

* Text matches a category's code or its label, case-insensitively, with surrounding
  white space trimmed and inner runs of white space folded to one space. A JSON number
  is read as the text it prints as (``3`` and ``3.0`` match the code ``"3"``).
* Missing values are "is required"; anything else is "must be one of …", naming the
  allowed codes and labels (shortened when there are many).
* In the matrix a category value is the float index of its code in the card's list.
  A table column is matched through its distinct values, so a clean 100,000-row column
  costs one pass in C, not a Python call per row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from creditscorer.card import FeatureSpec, fold
from creditscorer.errors import FieldError, ValidationError

_CHUNK = 512
_SHOWN = 24  # characters of an offending value quoted back in a message
_GROUP_SPACE = re.compile(r"(?<=\d)[ \u00a0\u202f\u2009](?=\d{3}(?!\d))")
_NUMBER_TYPES = (int, float, np.integer, np.floating)


@dataclass(frozen=True)
class ValidatedTable:
    """A table after validation.

    ``X`` has one row per input row in the card's feature order; rows with an error
    hold a harmless placeholder and must not be reported. ``errors`` and ``warnings``
    map a row index to its message (sparse: most rows have none).
    """

    X: np.ndarray
    valid: np.ndarray
    errors: dict[int, str]
    warnings: dict[int, str]

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


@dataclass(frozen=True)
class ValidatedRecord:
    """One applicant after validation: a (1, k) matrix and its warnings."""

    X: np.ndarray
    warnings: list[str]


def _shown(value: Any) -> str:
    text = str(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def _parse_text(text: str) -> tuple[float, str | None]:
    """Read one text cell; return (value, None) or (nan, message)."""
    stripped = text.strip()
    if not stripped:
        return np.nan, "is required"
    if "," in stripped:
        return np.nan, (
            f"not a number ({_shown(stripped)!r}): use '.' as the decimal separator "
            "and no thousands separator"
        )
    try:
        return float(_GROUP_SPACE.sub("", stripped)), None
    except ValueError:
        return np.nan, f"not a number ({_shown(stripped)!r})"


def _parse_one(value: Any) -> tuple[float, str | None]:
    """Read one value of any type; the slow path, used only for values the fast path refused."""
    if value is None:
        return np.nan, "is required"
    if isinstance(value, bool | np.bool_):
        return np.nan, "must be a number, not true/false"
    if isinstance(value, str):
        return _parse_text(value)
    if isinstance(value, _NUMBER_TYPES):
        try:
            return float(value), None
        except OverflowError:
            return np.inf, None  # caught as "must be a finite number" below
    return np.nan, f"not a number ({type(value).__name__})"


def _parse_objects(values: np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """Convert an object array chunk by chunk; only a chunk that fails is read value by value."""
    try:  # the whole column at once: a clean column (the usual case) costs one call
        return values.astype(np.float64), {}
    except (ValueError, TypeError, OverflowError):
        pass
    out = np.empty(values.shape[0], dtype=np.float64)
    problems: dict[int, str] = {}
    for start in range(0, values.shape[0], _CHUNK):
        chunk = values[start : start + _CHUNK]
        try:
            out[start : start + _CHUNK] = chunk.astype(np.float64)
            continue
        except (ValueError, TypeError, OverflowError):
            pass
        for offset, value in enumerate(chunk):
            number, message = _parse_one(value)
            out[start + offset] = number
            if message is not None:
                problems[start + offset] = message
    return out, problems


def _column_to_float(values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, dict[int, str]]:
    """Turn one column of raw values into float64; return the values and per-row problems."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        return values.astype(np.float64, copy=False), {}
    n = len(values)
    # The common case, a column of JSON numbers: one C-level pass to see the types
    # (exact types, since bool is an int), one to convert.
    kinds = set(map(type, values))
    if kinds <= {int, float}:
        try:
            return np.array(values, dtype=np.float64), {}
        except OverflowError:  # an integer beyond float range; read it value by value
            pass
    elif kinds == {str}:  # a text column (CSV): clean text reads in one pass
        try:
            return np.fromiter(map(float, values), dtype=np.float64, count=n), {}
        except ValueError:  # grouped digits, a comma, a word: the general path says which
            pass
    obj = np.empty(n, dtype=object)
    obj[:] = list(values) if not isinstance(values, list | np.ndarray) else values
    types = np.fromiter(map(type, obj), dtype=object, count=n)
    is_number = (types == float) | (types == int)  # noqa: E721 (exact types, not bool)
    out = np.full(n, np.nan)
    problems: dict[int, str] = {}
    # Text, None, booleans and anything else: numbers and text in bulk, the rest one by one.
    is_text = types == str  # noqa: E721
    for mask in (is_number, is_text):
        idx = np.flatnonzero(mask)
        if idx.size:
            parsed, sub_problems = _parse_objects(obj[idx])
            out[idx] = parsed
            problems.update((int(idx[i]), msg) for i, msg in sub_problems.items())
    for i in np.flatnonzero(~(is_number | is_text)):
        out[i], message = _parse_one(obj[i])
        if message is not None:
            problems[int(i)] = message
    return out, problems


def _check_rules(
    spec: FeatureSpec, x: np.ndarray, problems: dict[int, str]
) -> tuple[np.ndarray, dict[int, str]]:
    """Apply the finite/whole/range rules to parsed values; return a problem mask and warnings."""
    bad = np.zeros(x.shape[0], dtype=bool)
    if problems:
        bad[np.fromiter(problems.keys(), dtype=np.intp, count=len(problems))] = True
    with np.errstate(invalid="ignore"):
        non_finite = ~np.isfinite(x) & ~bad
        for i in np.flatnonzero(non_finite):
            problems[int(i)] = "must be a finite number"
        bad |= non_finite
        if spec.type == "integer":
            fractional = (x != np.floor(x)) & ~bad
            for i in np.flatnonzero(fractional):
                problems[int(i)] = f"must be a whole number (got {x[i]:g})"
            bad |= fractional
        low = (x <= spec.minimum) if spec.min_exclusive else (x < spec.minimum)
        high = (x >= spec.maximum) if spec.max_exclusive else (x > spec.maximum)
        out_of_range = (low | high) & ~bad
    for i in np.flatnonzero(out_of_range):
        problems[int(i)] = f"{spec.range_rule} (got {x[i]:g})"
    bad |= out_of_range
    with np.errstate(invalid="ignore"):
        unusual = ((x < spec.training_min) | (x > spec.training_max)) & ~bad
    warnings = {
        int(i): (
            f"{spec.name} {x[i]:g} is outside the training range "
            f"{spec.training_range_text}; the score is an extrapolation"
        )
        for i in np.flatnonzero(unusual)
    }
    return bad, warnings


def _number_text(value: float | int) -> str:
    """The text a number prints as, for matching category codes: 3.0 -> '3'."""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _category_text(value: Any) -> tuple[str | None, str | None]:
    """One raw value as matchable text; (None, message) when it cannot be a category."""
    if value is None:
        return None, "is required"
    if isinstance(value, str):
        return value, None
    if isinstance(value, bool | np.bool_):
        return None, "true/false"
    if isinstance(value, _NUMBER_TYPES):
        return _number_text(value), None
    return None, type(value).__name__


def _column_to_category(
    spec: FeatureSpec, values: Sequence[Any] | np.ndarray
) -> tuple[np.ndarray, dict[int, str]]:
    """Turn one column of raw values into category indices; return them and per-row problems.

    Each distinct text is matched once; the rows are then mapped through a dict in C
    (``map`` of the dict's own lookup), so a clean column costs no Python code per row.
    """
    n = len(values)
    problems: dict[int, str] = {}
    if n == 0:
        return np.empty(0, dtype=np.float64), problems
    if isinstance(values, np.ndarray) and values.dtype.kind in "iuf":
        uniq, inverse = np.unique(values, return_inverse=True)
        mapped = np.array(
            [spec.lookup.get(fold(_number_text(u)), -1) for u in uniq.tolist()], dtype=np.int64
        )
        index = mapped[inverse.reshape(-1)]
        texts: Sequence[Any] = values
    else:
        texts = values if isinstance(values, list | np.ndarray) else list(values)
        if not set(map(type, texts)) <= {str}:  # None, numbers, booleans: read one by one (rare)
            obj = np.empty(n, dtype=object)
            obj[:] = texts
            types = np.fromiter(map(type, obj), dtype=object, count=n)
            for i in np.flatnonzero(types != str):  # noqa: E721 (exact type)
                text, kind = _category_text(obj[i])
                if text is None:
                    problems[int(i)] = (
                        kind if kind == "is required" else f"{spec.category_rule} (got {kind})"
                    )
                obj[i] = text or ""
            texts = obj
        cache = {text: spec.lookup.get(fold(text), -1) for text in set(texts)}
        index = np.fromiter(map(cache.__getitem__, texts), dtype=np.int64, count=n)
    for i in np.flatnonzero(index < 0).tolist():
        if i in problems:
            continue
        text = texts[i] if isinstance(texts[i], str) else _number_text(texts[i])
        problems[i] = (
            "is required" if not text.strip() else f"{spec.category_rule} (got {_shown(text)!r})"
        )
    return index.astype(np.float64), problems


def _check_category(spec: FeatureSpec, value: Any) -> tuple[float, str | None]:
    """The category rule for one value: (index, error)."""
    text, kind = _category_text(value)
    if text is None:
        return 0.0, "is required" if kind == "is required" else f"{spec.category_rule} (got {kind})"
    index = spec.lookup.get(fold(text))
    if index is None:
        if not text.strip():
            return 0.0, "is required"
        return 0.0, f"{spec.category_rule} (got {_shown(text)!r})"
    return float(index), None


def _merge(target: dict[int, str], source: dict[int, str], prefix: str) -> None:
    for row, message in source.items():
        text = f"{prefix}{message}"
        target[row] = f"{target[row]}; {text}" if row in target else text


def match_columns(header: Sequence[Any], wanted: Sequence[str]) -> dict[str, int]:
    """Positions of the ``wanted`` feature columns in a table's header.

    Names match case-insensitively and ignoring surrounding spaces; every column needs a
    text name and a name may appear once (else ``ValidationError`` on field ``columns``);
    other columns (an ``id``) are allowed and ignored; a missing feature column is left out
    here and reported by ``validate_table``.
    """
    positions: dict[str, int] = {}
    for j, name in enumerate(header):
        if not isinstance(name, str) or not name.strip():
            message = f"column {j + 1} has no name (each column needs a text header)"
            raise ValidationError([FieldError("columns", message)])
        key = name.strip().lower()
        if key in positions:
            raise ValidationError([FieldError("columns", f"duplicate column {name.strip()!r}")])
        positions[key] = j
    return {name: positions[name] for name in wanted if name in positions}


def validate_table(
    features: Sequence[FeatureSpec], columns: Mapping[str, Sequence[Any] | np.ndarray], n_rows: int
) -> ValidatedTable:
    """Validate a table given as feature name -> column of raw values.

    Every feature column must be present (a missing column is a table-level
    ``ValidationError``); row-level problems become per-row messages so that one bad
    row never stops the others from being scored.
    """
    missing = [FieldError(f.name, "column is required") for f in features if f.name not in columns]
    if missing:
        names = ", ".join(e.field for e in missing)
        raise ValidationError(missing, detail=f"the table lacks required columns: {names}")
    X = np.empty((n_rows, len(features)), dtype=np.float64)
    errors: dict[int, str] = {}
    warnings: dict[int, str] = {}
    valid = np.ones(n_rows, dtype=bool)
    for j, spec in enumerate(features):
        column = columns[spec.name]
        if len(column) != n_rows:
            raise ValidationError([FieldError(spec.name, f"column must have {n_rows} values")])
        if spec.is_category:
            x, problems = _column_to_category(spec, column)
            bad = np.zeros(n_rows, dtype=bool)
            if problems:
                bad[np.fromiter(problems.keys(), dtype=np.intp, count=len(problems))] = True
            spec_warnings: dict[int, str] = {}
            placeholder = 0.0
        else:
            x, problems = _column_to_float(column)
            bad, spec_warnings = _check_rules(spec, x, problems)
            placeholder = spec.training_min
        valid &= ~bad
        # A placeholder inside the accepted range keeps the model's input sane for bad rows,
        # which are never reported with a score.
        x = np.where(bad, placeholder, x)
        X[:, j] = x
        _merge(errors, problems, f"{spec.name}: ")
        _merge(warnings, spec_warnings, "")
    # A row that cannot be scored needs its error, not a warning about its other values.
    warnings = {i: message for i, message in warnings.items() if valid[i]}
    return ValidatedTable(X=X, valid=valid, errors=errors, warnings=warnings)


def _check_scalar(spec: FeatureSpec, value: Any) -> tuple[float, str | None, str | None]:
    """The rules of ``_check_rules`` for one value: (number, error, warning).

    A separate scalar path keeps a single score free of array overhead; a property
    test checks that it agrees with the table path on arbitrary values.
    """
    if type(value) in (int, float):  # exact types: bool is an int subclass
        try:
            x, message = float(value), None
        except OverflowError:
            x, message = np.inf, None
    else:
        x, message = _parse_one(value)
    if message is not None:
        return x, message, None
    if x != x or x in (np.inf, -np.inf):
        return x, "must be a finite number", None
    if spec.type == "integer" and x != int(x):
        return x, f"must be a whole number (got {x:g})", None
    low = x <= spec.minimum if spec.min_exclusive else x < spec.minimum
    high = x >= spec.maximum if spec.max_exclusive else x > spec.maximum
    if low or high:
        return x, f"{spec.range_rule} (got {x:g})", None
    if x < spec.training_min or x > spec.training_max:
        return (
            x,
            None,
            (
                f"{spec.name} {x:g} is outside the training range "
                f"{spec.training_range_text}; the score is an extrapolation"
            ),
        )
    return x, None, None


def validate_record(features: Sequence[FeatureSpec], record: Mapping[str, Any]) -> ValidatedRecord:
    """Validate one applicant; raise ``ValidationError`` listing every broken rule."""
    field_errors: list[FieldError] = []
    values: list[float] = []
    warnings: list[str] = []
    for spec in features:
        if spec.is_category:
            x, message = _check_category(spec, record.get(spec.name))
            warning = None
        else:
            x, message, warning = _check_scalar(spec, record.get(spec.name))
        values.append(x)
        if message is not None:
            field_errors.append(FieldError(spec.name, message))
        elif warning is not None:
            warnings.append(warning)
    if field_errors:
        raise ValidationError(field_errors)
    return ValidatedRecord(X=np.array([values], dtype=np.float64), warnings=warnings)
