"""Labelled tables for training: reading CSV or .xlsx, inferring a schema, encoding.

A table is read as text (no type guessing by a library), the feature schema is either
given (the card's format) or inferred from the values, and the rows are encoded by the
core's own validation (``creditscorer.validation.validate_table``), so training and
serving read a value by the same rules: a category's code or label, numbers as the API
reads them. A row that breaks a rule is an error that names its line, never dropped.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from creditscorer.card import FeatureSpec
from creditscorer.validation import validate_table

TARGET = "default"
MIN_PER_CLASS = 25  # each class needs rows in the hold-out split and in every CV fold
_NAME = re.compile(r"[^a-z0-9_]+")
_POSITIVE_WORDS = ("1", "bad", "yes", "true", "default", "defaulted", "y")
_SHOWN_ERRORS = 5


class DataError(ValueError):
    """The data cannot train a model; the message says which column, line and rule."""


@dataclass(frozen=True)
class Dataset:
    """Encoded training data: ``X`` in the features' order (categories as indices)."""

    X: np.ndarray
    y: np.ndarray
    features: list[dict[str, Any]]
    source: str
    sha256: str
    columns: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # raw, by name

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    @property
    def feature_names(self) -> list[str]:
        return [f["name"] for f in self.features]


@dataclass(frozen=True)
class Table:
    """A raw table: column name -> object array of cells (text from CSV, values from .xlsx)."""

    columns: dict[str, np.ndarray]
    source: str
    sha256: str

    @property
    def n_rows(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0


def column_name(header: Any) -> str:
    """A header as a feature name: lower case, runs of other characters as one underscore."""
    name = _NAME.sub("_", str(header).strip().lower()).strip("_")
    if name and name[0].isdigit():
        name = "f_" + name
    return name


def read_table(data: bytes, source: str) -> Table:
    """Read CSV (comma or semicolon) or .xlsx bytes into a ``Table``; raise ``DataError``."""
    import pandas as pd

    digest = hashlib.sha256(data).hexdigest()
    try:
        if data[:2] == b"PK" or source.lower().endswith(".xlsx"):
            frame = pd.read_excel(io.BytesIO(data), dtype=object)
        else:
            text = data.decode("utf-8-sig")
            first = text.split("\n", 1)[0]
            sep = ";" if first.count(";") > first.count(",") else ","
            frame = pd.read_csv(
                io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, skipinitialspace=True
            )
    except UnicodeDecodeError:
        raise DataError(f"{source}: not UTF-8 text (save the CSV as UTF-8)") from None
    except (ValueError, pd.errors.ParserError) as error:
        raise DataError(f"{source}: cannot be read as a table ({error})") from None
    columns: dict[str, np.ndarray] = {}
    for header in frame.columns:
        name = column_name(header)
        if not name:
            raise DataError(f"{source}: a column has no name")
        if name in columns:
            raise DataError(f"{source}: two columns are named {name!r}")
        values = frame[header].to_numpy(dtype=object)
        values[pd.isna(frame[header]).to_numpy()] = None
        columns[name] = values
    if not columns:
        raise DataError(f"{source}: no columns")
    return Table(columns=columns, source=source, sha256=digest)


def load_table(path: Path) -> Table:
    path = Path(path)
    return read_table(path.read_bytes(), source=path.name)


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _as_float(values: Iterable[Any]) -> np.ndarray | None:
    try:
        return np.array([float(str(v).strip()) for v in values], dtype=np.float64)
    except ValueError:
        return None


def infer_feature(name: str, values: np.ndarray) -> dict[str, Any]:
    """A card feature for one column: integer, number or category, with ranges or values.

    Numbers: the accepted range is the observed one widened by its own width on each
    side (never below 0 for a column that is never negative), so a value a little beyond
    training scores with a warning and a wild one is refused. Categories: the distinct
    values as codes, each its own label.
    """
    present = [v for v in values.tolist() if not _is_empty(v)]
    if not present:
        raise DataError(f"column {name!r} is empty: give it values or leave it out (--exclude)")
    numbers = _as_float(present) if all(not isinstance(v, bool) for v in present) else None
    if numbers is not None and np.isfinite(numbers).all():
        lo, hi = float(numbers.min()), float(numbers.max())
        whole = bool(np.all(numbers == np.round(numbers)))
        span = max(hi - lo, 1.0)
        low = lo - span if lo < 0 else max(0.0, lo - span)
        high = hi + span
        if whole:
            low, high = float(np.floor(low)), float(np.ceil(high))
        return {
            "name": name,
            "type": "integer" if whole else "number",
            "unit": "",
            "description": f"{name} (inferred from the training data)",
            "accepted": {"min": _plain(low), "max": _plain(high)},
        }
    codes = sorted({" ".join(str(v).split()) for v in present}, key=_natural)
    return {
        "name": name,
        "type": "category",
        "unit": "",
        "description": f"{name} (inferred from the training data)",
        "categories": [{"code": c, "label": c} for c in codes],
    }


def _natural(text: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", text))


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def labels(table: Table, target: str, positive: str | None = None) -> np.ndarray:
    """The target column as 0/1 (1 = default); raise ``DataError`` unless it is two-valued."""
    if target not in table.columns:
        known = ", ".join(table.columns)
        raise DataError(f"target column {target!r} is missing; the table has: {known}")
    raw = table.columns[target]
    empty = [i for i, v in enumerate(raw.tolist()) if _is_empty(v)]
    if empty:
        lines = ", ".join(str(i + 2) for i in empty[:_SHOWN_ERRORS])
        raise DataError(f"target {target!r} is empty on line(s) {lines}")
    text = np.array([" ".join(str(v).split()).lower() for v in raw.tolist()], dtype=object)
    text = np.array([t[:-2] if t.endswith(".0") else t for t in text], dtype=object)
    values = sorted(set(text.tolist()))
    if len(values) != 2:
        shown = ", ".join(values[:5]) + (" …" if len(values) > 5 else "")
        raise DataError(
            f"target {target!r} must have exactly two values (it has {len(values)}: {shown})"
        )
    if positive is not None:
        bad_value = " ".join(str(positive).split()).lower()
        if bad_value not in values:
            raise DataError(f"--positive {positive!r} is not a value of {target!r}")
    else:
        found = [v for v in values if v in _POSITIVE_WORDS]
        if len(found) != 1:
            raise DataError(
                f"target {target!r} has the values {values[0]!r} and {values[1]!r}: say which "
                "one means default with --positive"
            )
        bad_value = found[0]
    y = (text == bad_value).astype(np.int64)
    for cls, count in ((1, int(y.sum())), (0, int(len(y) - y.sum()))):
        if count < MIN_PER_CLASS:
            raise DataError(
                f"target {target!r}: only {count} rows of class {cls} "
                f"(at least {MIN_PER_CLASS} of each class are needed)"
            )
    return y


def choose_columns(
    table: Table,
    target: str,
    features: Sequence[str] | None = None,
    exclude: Sequence[str] = (),
) -> list[str]:
    """The input columns: ``features`` if given, else all but the target and ``exclude``."""
    exclude_set = {column_name(c) for c in exclude}
    unknown = [c for c in exclude_set if c not in table.columns]
    if unknown:
        raise DataError(f"--exclude names no column {unknown[0]!r}")
    if features:
        chosen = [column_name(c) for c in features]
        missing = [c for c in chosen if c not in table.columns]
        if missing:
            raise DataError(f"feature column {missing[0]!r} is missing from {table.source}")
    else:
        chosen = [c for c in table.columns if c != target and c not in exclude_set]
    if target in chosen:
        raise DataError(f"the target {target!r} cannot also be a feature")
    if not chosen:
        raise DataError("no feature columns are left")
    return chosen


def encode(
    table: Table, features: list[dict[str, Any]], y: np.ndarray, source: str | None = None
) -> Dataset:
    """Encode ``table`` by the features' rules; any broken row is a ``DataError`` with its line."""
    specs = [FeatureSpec.from_dict(f) for f in features]
    missing = [s.name for s in specs if s.name not in table.columns]
    if missing:
        raise DataError(f"{table.source}: missing columns: {', '.join(missing)}")
    validated = validate_table(specs, {s.name: table.columns[s.name] for s in specs}, table.n_rows)
    if validated.errors:
        shown = [f"line {row + 2}: {message}" for row, message in sorted(validated.errors.items())][
            :_SHOWN_ERRORS
        ]
        more = len(validated.errors) - len(shown)
        raise DataError(
            f"{len(validated.errors)} row(s) of {table.source} break the schema: "
            + "; ".join(shown)
            + (f"; and {more} more" if more > 0 else "")
        )
    return Dataset(
        X=validated.X,
        y=np.asarray(y, dtype=np.int64),
        features=[dict(f) for f in features],
        source=source or table.source,
        sha256=table.sha256,
        columns=table.columns,
    )


def parse_labelled_csv(data: bytes, source: str, features: list[dict[str, Any]]) -> Dataset:
    """Read labelled data (the features and ``default``) by the features' rules."""
    table = read_table(data, source)
    return encode(table, features, labels(table, TARGET, positive="1"))


def load_csv(path: Path, features: list[dict[str, Any]]) -> Dataset:
    path = Path(path)
    return parse_labelled_csv(path.read_bytes(), path.name, features)
