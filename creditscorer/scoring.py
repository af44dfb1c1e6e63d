"""Scoring: a loaded model version, single and batch scores, decisions and reasons.

Scores come from the ONNX export through ONNX Runtime, which loads in milliseconds
and needs no scikit-learn at serving time. The joblib pipeline (the training
library's own object) is loaded only on request, to cross-check the ONNX export.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path
from typing import Any

import numpy as np

from creditscorer.card import ModelCard
from creditscorer.explain import ShapleyExplainer
from creditscorer.integrity import read_verified
from creditscorer.validation import validate_record, validate_table

ONNX_FILE = "model.onnx"
JOBLIB_FILE = "model.joblib"
APPROVE, DECLINE = "approve", "decline"
_DECISIONS = np.array([APPROVE, DECLINE], dtype=object)


@dataclass(frozen=True)
class SingleResult:
    """The score of one applicant."""

    model: str
    model_version: str
    probability_default: float
    decision: str
    threshold: float
    reasons: list[dict[str, Any]]
    base_probability: float
    warnings: list[str]
    X: np.ndarray | None = field(default=None, repr=False, compare=False)  # the validated row

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_version": self.model_version,
            "probability_default": self.probability_default,
            "decision": self.decision,
            "threshold": self.threshold,
            "reasons": self.reasons,
            "base_probability": self.base_probability,
            "warnings": self.warnings,
        }


@dataclass(frozen=True)
class BatchResult:
    """Scores of a table, one entry per input row, in input order.

    ``probability_default`` is NaN and ``decision`` is None for rows with an error.
    ``contributions`` (n, k) is present only when reasons were asked for.
    """

    model: str
    model_version: str
    threshold: float
    feature_names: list[str]
    probability_default: np.ndarray
    decision: np.ndarray
    errors: dict[int, str]
    warnings: dict[int, str]
    contributions: np.ndarray | None = None
    base_probability: float | None = None
    X: np.ndarray | None = field(default=None, repr=False)  # the validated feature matrix

    @property
    def n_rows(self) -> int:
        return int(self.probability_default.shape[0])

    @property
    def summary(self) -> dict[str, int]:
        failed = len(self.errors)
        return {
            "rows": self.n_rows,
            "scored": self.n_rows - failed,
            "failed": failed,
            "warned": len(self.warnings),
        }

    def reply(self, columns: list[str] | None = None, rows: Sequence[Sequence[Any]] | None = None):
        """The batch reply's body: the model, its threshold, the result table and summary
        (``columns``/``rows`` replace the result table, e.g. with the input echoed)."""
        return {
            "model": self.model,
            "model_version": self.model_version,
            "threshold": self.threshold,
            "columns": self.result_columns() if columns is None else columns,
            "rows": self.result_rows() if rows is None else rows,
            "summary": self.summary,
        }

    def result_columns(self) -> list[str]:
        columns = ["probability_default", "decision", "error", "warning"]
        if self.contributions is not None:
            columns += [f"contribution_{name}" for name in self.feature_names]
        return columns

    def result_rows(self) -> list[list[Any]]:
        """Rows of ``result_columns()``; Python values ready for JSON or CSV."""
        return list(map(list, self.result_tuples()))

    def result_tuples(self) -> list[tuple[Any, ...]]:
        """``result_rows()`` as tuples, which orjson writes as arrays just the same.

        Built column-wise from plain lists and zipped in C: a Python loop runs only over
        the (few) rows with an error or a warning, and a table without any shares one
        ``None`` per empty column instead of a list of them. A 100,000-row reply costs
        one tuple per row instead of a tuple and a list (about half the time).
        """
        n = self.n_rows
        probability = self.probability_default.tolist()
        error: Iterable[str | None] = repeat(None, n)
        if self.errors:
            error = [None] * n
            for i, message in self.errors.items():
                error[i] = message
                probability[i] = None
        warning: Iterable[str | None] = repeat(None, n)
        if self.warnings:
            warning = [None] * n
            for i, message in self.warnings.items():
                warning[i] = message
        parts: list[Iterable[Any]] = [probability, self.decision.tolist(), error, warning]
        if self.contributions is not None:
            for j in range(self.contributions.shape[1]):
                column = self.contributions[:, j].tolist()
                for i in self.errors:
                    column[i] = None
                parts.append(column)
        return list(zip(*parts, strict=False))  # the repeat(None) columns are endless


def _method(name: Any) -> str:
    """The card's explanation method; cards of schema version 1 hold a sentence there."""
    return name if name in ("exact", "permutation") else "auto"


class Model:
    """One trained model version: its card, its ONNX session and its explainer."""

    def __init__(self, folder: Path, card: ModelCard, onnx_bytes: bytes, threads: int = 1):
        import onnxruntime as ort  # imported here so that importing the core stays cheap

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # No memory arena: ONNX Runtime's arena keeps the peak of every batch it has run (a
        # 100,000-row full-attribute batch left a worker at 866 MB; 446 MB without it), and
        # a single score is as fast without it (a memory pattern is per input shape, and
        # batch shapes vary, so it only held memory too).
        options.enable_cpu_mem_arena = False
        options.enable_mem_pattern = False
        self.folder = Path(folder)
        self.card = card
        self._session = ort.InferenceSession(
            onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name
        self._columns = self._column_feeds(card)
        self._outputs = [o.name for o in self._session.get_outputs()]
        self._probability_output = self._outputs[-1]
        self._sklearn = None
        explanation = card.raw.get("explanation", {})
        self._explainer = ShapleyExplainer(
            self.predict_proba,
            np.asarray(explanation["background"], dtype=np.float64),
            np.asarray(explanation["background_weights"], dtype=np.float64),
            method=_method(explanation.get("method")),
            permutations=int(explanation.get("permutations", 2)),
            seed=int(explanation.get("seed", card.raw.get("seed", 0))),
        )

    def _column_feeds(self, card: ModelCard) -> list[tuple[str, Any]] | None:
        """For an ONNX graph with one input per feature: (input name, converter) in card order.

        Imported pipelines take each column as its own [n, 1] tensor, categories as their
        code text; the core's matrix holds category indices, so the converter maps an
        index column to the codes (or to the codes' numbers for a numeric input).
        """
        if card.onnx_input is None:
            return None
        names = {i.name for i in self._session.get_inputs()}
        missing = [f.name for f in card.features if f.name not in names]
        if missing:
            raise ValueError(f"{card.name}: the ONNX graph has no input {missing[0]!r}")
        feeds: list[tuple[str, Any]] = []
        for spec, dtype in zip(card.features, card.onnx_input, strict=True):
            numpy_type = {"double": np.float64, "float": np.float32, "int64": np.int64}.get(dtype)
            if spec.is_category:
                codes = np.array(spec.codes, dtype=object)
                table = codes if numpy_type is None else codes.astype(np.float64).astype(numpy_type)
                feeds.append((spec.name, lambda col, table=table: table[col.astype(np.intp)]))
            else:
                kind = numpy_type or object
                feeds.append((spec.name, lambda col, kind=kind: col.astype(kind)))
        return feeds

    @classmethod
    def load(cls, folder: Path, threads: int = 1) -> Model:
        """Load a model folder after checking every artifact's sha256 against the card."""
        card = ModelCard.load(folder)
        onnx_bytes = read_verified(folder, ONNX_FILE, card.artifacts)
        return cls(folder, card, onnx_bytes, threads=threads)

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def threshold(self) -> float:
        return self.card.threshold

    @property
    def base_probability(self) -> float:
        return self._explainer.base_value

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(default) for each row of X (features in card order), through ONNX Runtime."""
        X = np.ascontiguousarray(X, dtype=np.float64)
        if self._columns is None:
            feed = {self._input: X}
        else:
            feed = {
                name: convert(X[:, j : j + 1]) for j, (name, convert) in enumerate(self._columns)
            }
        (probabilities,) = self._session.run([self._probability_output], feed)
        return np.clip(probabilities[:, 1].astype(np.float64), 0.0, 1.0)

    def sklearn_pipeline(self) -> Any:
        """The joblib pipeline, loaded (after its sha256 check) on first use only."""
        if self._sklearn is None:
            import joblib

            data = read_verified(self.folder, JOBLIB_FILE, self.card.artifacts)
            self._sklearn = joblib.load(io.BytesIO(data))
        return self._sklearn

    def predict_proba_sklearn(self, X: np.ndarray) -> np.ndarray:
        """The joblib pipeline's P(default) for the same matrix, to cross-check the ONNX export."""
        pipeline = self.sklearn_pipeline()
        if self._columns is None:
            return pipeline.predict_proba(np.asarray(X, dtype=np.float64))[:, 1]
        import pandas as pd

        frame = pd.DataFrame(
            {
                name: convert(X[:, j : j + 1]).ravel()
                for j, (name, convert) in enumerate(self._columns)
            }
        )
        return pipeline.predict_proba(frame)[:, 1]

    @property
    def explanation_method(self) -> str:
        return self._explainer.method

    def decide(self, probabilities: np.ndarray) -> np.ndarray:
        """'decline' at or above the threshold, else 'approve'."""
        return _DECISIONS[(probabilities >= self.threshold).view(np.uint8)]

    def explain(self, X: np.ndarray, scores: np.ndarray | None = None) -> np.ndarray:
        return self._explainer.explain(X, scores)

    def reasons(self, contributions: np.ndarray) -> list[dict[str, Any]]:
        """One row of contributions as the API's reason list, largest magnitude first."""
        order = np.argsort(-np.abs(contributions), kind="stable")
        names = self.card.feature_names
        return [{"feature": names[j], "contribution": float(contributions[j])} for j in order]

    def score_one(self, record: Mapping[str, Any], with_reasons: bool = True) -> SingleResult:
        """Validate and score one applicant; raises ``ValidationError`` on bad input.

        ``with_reasons=False`` skips the Shapley values (an empty ``reasons`` list),
        for callers that want the fastest possible score.
        """
        validated = validate_record(self.card.features, record)
        probability = self.predict_proba(validated.X)
        p = float(probability[0])
        reasons = self.reasons(self.explain(validated.X, probability)[0]) if with_reasons else []
        return SingleResult(
            model=self.name,
            model_version=self.version,
            probability_default=p,
            decision=DECLINE if p >= self.threshold else APPROVE,
            threshold=self.threshold,
            reasons=reasons,
            base_probability=self.base_probability,
            warnings=validated.warnings,
            X=validated.X,
        )

    def score_table(
        self,
        columns: Mapping[str, Sequence[Any] | np.ndarray],
        n_rows: int,
        with_reasons: bool = False,
    ) -> BatchResult:
        """Validate and score a table given column-wise; bad rows get errors, the rest scores."""
        table = validate_table(self.card.features, columns, n_rows)
        probability = np.full(n_rows, np.nan)
        decision = np.full(n_rows, None, dtype=object)
        contributions = None
        if table.valid.all():
            probability = self.predict_proba(table.X)
            decision = self.decide(probability)
        elif table.valid.any():
            probability[table.valid] = self.predict_proba(table.X[table.valid])
            decision[table.valid] = self.decide(probability[table.valid])
        if with_reasons:
            contributions = np.full(table.X.shape, np.nan)
            if table.valid.any():
                contributions[table.valid] = self.explain(
                    table.X[table.valid], probability[table.valid]
                )
        return BatchResult(
            model=self.name,
            model_version=self.version,
            threshold=self.threshold,
            feature_names=self.card.feature_names,
            probability_default=probability,
            decision=decision,
            errors=table.errors,
            warnings=table.warnings,
            contributions=contributions,
            base_probability=self.base_probability if with_reasons else None,
            X=table.X,
        )
