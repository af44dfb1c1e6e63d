"""Reading the German Credit data (and labelled uploads of the same shape)."""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FEATURES = ("duration", "amount", "age")
TARGET = "default"


@dataclass(frozen=True)
class Dataset:
    X: np.ndarray
    y: np.ndarray
    source: str
    sha256: str

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def parse_labelled_csv(data: bytes, source: str, features=FEATURES) -> Dataset:
    """Read a CSV with the feature columns and ``default`` (0 good, 1 bad); raise ValueError."""
    text = data.decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in (*features, TARGET) if c not in header]
    if missing:
        raise ValueError(f"missing columns: {', '.join(missing)}")
    reader.fieldnames = header
    X_rows, y_rows = [], []
    for line, row in enumerate(reader, start=2):
        try:
            X_rows.append([float(row[c]) for c in features])
            label = int(row[TARGET])
        except (TypeError, ValueError):
            raise ValueError(
                f"line {line}: every feature and '{TARGET}' must be a number"
            ) from None
        if label not in (0, 1):
            raise ValueError(f"line {line}: '{TARGET}' must be 0 or 1")
        y_rows.append(label)
    X = np.asarray(X_rows, dtype=np.float64).reshape(-1, len(features))
    y = np.asarray(y_rows, dtype=np.int64)
    return Dataset(X=X, y=y, source=source, sha256=hashlib.sha256(data).hexdigest())


def load_csv(path: Path) -> Dataset:
    path = Path(path)
    return parse_labelled_csv(path.read_bytes(), source=path.name)
