"""Model cards: the JSON document that describes one trained model version.

The card is the single source of the feature schema (names, types, accepted and
training ranges), the decision threshold, the metrics and the sha256 of every
artifact file. Clients learn the features from it instead of from code constants,
so a retrained model with other features needs no client change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CARD_FILE = "card.json"
FEATURE_TYPES = ("integer", "number", "category")
_SHOWN_CATEGORIES = 12  # allowed values quoted in a message before "and N more"


def _fmt(value: float) -> str:
    """Format a bound the way a person writes it: 18, 0.5, 1000000."""
    return f"{value:g}" if abs(value) < 1e15 and value != int(value) else f"{int(value)}"


def fold(text: str) -> str:
    """The matching key of a category code or label: trimmed, spaces folded, lower case."""
    return " ".join(text.split()).lower()


@dataclass(frozen=True)
class Category:
    """One allowed value of a category feature: the code the model knows and a human label."""

    code: str
    label: str


@dataclass(frozen=True)
class FeatureSpec:
    """One input feature.

    Numeric features (``integer``, ``number``) carry the range a request may use and the
    range seen in training. ``category`` features carry their allowed values; inside the
    core a category value is the float index of its code in ``categories``.
    """

    name: str
    type: str
    unit: str
    description: str
    minimum: float = float("-inf")
    maximum: float = float("inf")
    min_exclusive: bool = False
    max_exclusive: bool = False
    training_min: float = float("-inf")
    training_max: float = float("inf")
    categories: tuple[Category, ...] = ()
    label: str = ""
    protected: bool = False
    protected_reason: str = ""
    lookup: dict[str, int] = field(default_factory=dict, repr=False, compare=False, hash=False)

    @property
    def is_category(self) -> bool:
        return self.type == "category"

    @property
    def display_label(self) -> str:
        return self.label or self.name

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        kind = str(data["type"])
        if kind not in FEATURE_TYPES:
            raise ValueError(f"feature {data.get('name')!r}: unknown type {kind!r}")
        common = {
            "name": str(data["name"]),
            "type": kind,
            "unit": str(data.get("unit", "")),
            "description": str(data.get("description", "")),
            "label": str(data.get("label", "")),
            "protected": bool(data.get("protected", False)),
            "protected_reason": str(data.get("protected_reason", "")),
        }
        if kind == "category":
            categories = tuple(
                Category(code=str(c["code"]), label=str(c.get("label", c["code"])))
                for c in data["categories"]
            )
            return cls(
                **common, categories=categories, lookup=_category_lookup(common["name"], categories)
            )
        accepted = data["accepted"]
        training = data.get("training_range", accepted)
        return cls(
            **common,
            minimum=float(accepted["min"]),
            maximum=float(accepted["max"]),
            min_exclusive=bool(accepted.get("min_exclusive", False)),
            max_exclusive=bool(accepted.get("max_exclusive", False)),
            training_min=float(training["min"]),
            training_max=float(training["max"]),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.label:
            out["label"] = self.label
        out["unit"] = self.unit
        out["description"] = self.description
        if self.is_category:
            out["categories"] = [{"code": c.code, "label": c.label} for c in self.categories]
        else:
            accepted: dict[str, Any] = {"min": _num(self.minimum), "max": _num(self.maximum)}
            if self.min_exclusive:
                accepted["min_exclusive"] = True
            if self.max_exclusive:
                accepted["max_exclusive"] = True
            out["accepted"] = accepted
            out["training_range"] = {"min": _num(self.training_min), "max": _num(self.training_max)}
        if self.protected:
            out["protected"] = True
            out["protected_reason"] = self.protected_reason
        return out

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.categories]

    @property
    def allowed_text(self) -> str:
        """The allowed values for a message, shortened when there are many."""
        shown = [
            c.code if fold(c.code) == fold(c.label) else f"{c.code} ({c.label})"
            for c in self.categories[:_SHOWN_CATEGORIES]
        ]
        more = len(self.categories) - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more > 0 else "")

    @property
    def category_rule(self) -> str:
        return f"must be one of {self.allowed_text}"

    @property
    def range_rule(self) -> str:
        """The accepted range as a sentence fragment: 'must be between 18 and 100'."""
        lo, hi = _fmt(self.minimum), _fmt(self.maximum)
        if not self.min_exclusive and not self.max_exclusive:
            return f"must be between {lo} and {hi}"
        low = f"greater than {lo}" if self.min_exclusive else f"at least {lo}"
        high = f"less than {hi}" if self.max_exclusive else f"at most {hi}"
        return f"must be {low} and {high}"

    @property
    def training_range_text(self) -> str:
        return f"{_fmt(self.training_min)}–{_fmt(self.training_max)}"

    def json_schema(self) -> dict[str, Any]:
        """This feature as a JSON Schema property (draft 2020-12)."""
        schema: dict[str, Any] = {"title": self.display_label}
        if self.description:
            schema["description"] = self.description
        if self.is_category:
            values = list(dict.fromkeys([*self.codes, *(c.label for c in self.categories)]))
            schema["type"] = "string"
            schema["enum"] = values
            schema["x-categories"] = [{"code": c.code, "label": c.label} for c in self.categories]
            schema["x-match"] = "case-insensitive; surrounding and repeated white space ignored"
        else:
            schema["type"] = self.type
            key_lo = "exclusiveMinimum" if self.min_exclusive else "minimum"
            key_hi = "exclusiveMaximum" if self.max_exclusive else "maximum"
            schema[key_lo] = _num(self.minimum)
            schema[key_hi] = _num(self.maximum)
            schema["x-training-range"] = {
                "min": _num(self.training_min),
                "max": _num(self.training_max),
            }
        if self.unit:
            schema["x-unit"] = self.unit
        if self.protected:
            schema["x-protected"] = True
        return schema


def _num(v: float) -> float | int:
    return int(v) if float(v).is_integer() else v


def _category_lookup(name: str, categories: tuple[Category, ...]) -> dict[str, int]:
    """Folded code and label -> index; refuses a card whose values would be ambiguous."""
    if not categories:
        raise ValueError(f"feature {name!r}: a category feature needs at least one category")
    lookup: dict[str, int] = {}
    for index, category in enumerate(categories):
        for text in dict.fromkeys((fold(category.code), fold(category.label))):
            if not text:
                raise ValueError(f"feature {name!r}: empty category code or label")
            if lookup.get(text, index) != index:
                raise ValueError(f"feature {name!r}: {text!r} names two categories")
            lookup[text] = index
    return lookup


@dataclass(frozen=True)
class ModelCard:
    """A parsed card. ``raw`` keeps the whole JSON document for the API's card routes."""

    name: str
    version: str
    algorithm: str
    features: tuple[FeatureSpec, ...]
    threshold: float
    artifacts: dict[str, str]
    raw: dict[str, Any] = field(repr=False, compare=False)
    # How the ONNX graph takes its input: None for one double matrix in feature order
    # (categories as indices), else the element type of each feature's own [n, 1] tensor.
    onnx_input: tuple[str, ...] | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        features = tuple(FeatureSpec.from_dict(f) for f in data["features"])
        names = [f.name for f in features]
        if len(set(names)) != len(names):
            raise ValueError("card lists a feature twice")
        return cls(
            name=str(data["name"]),
            version=str(data["version"]),
            algorithm=str(data["algorithm"]),
            features=features,
            threshold=float(data["threshold"]["value"]),
            artifacts=dict(data["artifacts"]),
            raw=data,
            onnx_input=_onnx_input(data.get("onnx"), features),
        )

    @classmethod
    def load(cls, folder: Path) -> ModelCard:
        with open(Path(folder) / CARD_FILE, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def protected_features(self) -> list[str]:
        return [f.name for f in self.features if f.protected]

    def request_schema(self) -> dict[str, Any]:
        """A JSON Schema (draft 2020-12) of one applicant row for this model."""
        return {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": f"One applicant for model {self.name} (version {self.version})",
            "type": "object",
            "properties": {f.name: f.json_schema() for f in self.features},
            "required": self.feature_names,
            "additionalProperties": True,
            "x-model": self.name,
            "x-model-version": self.version,
        }

    def summary(self) -> dict[str, Any]:
        """The short form listed by ``GET /v1/models``."""
        metrics = self.raw.get("metrics", {})
        return {
            "name": self.name,
            "version": self.version,
            "algorithm": self.algorithm,
            "features": [f.to_dict() for f in self.features],
            "threshold": self.threshold,
            "cv_roc_auc": metrics.get("cv", {}).get("roc_auc", {}).get("mean"),
            "holdout_roc_auc": metrics.get("holdout", {}).get("roc_auc"),
            "trained_at": self.raw.get("trained_at"),
        }


ONNX_DTYPES = ("double", "float", "int64", "string")


def _onnx_input(
    spec: dict[str, Any] | None, features: tuple[FeatureSpec, ...]
) -> tuple[str, ...] | None:
    if not spec or spec.get("input", "matrix") == "matrix":
        return None
    if spec.get("input") != "columns":
        raise ValueError(f"card: unknown onnx input {spec.get('input')!r}")
    columns = spec["columns"]
    if [c["name"] for c in columns] != [f.name for f in features]:
        raise ValueError("card: onnx columns must list the features in order")
    dtypes = tuple(str(c["dtype"]) for c in columns)
    unknown = [d for d in dtypes if d not in ONNX_DTYPES]
    if unknown:
        raise ValueError(f"card: unknown onnx column type {unknown[0]!r}")
    return dtypes
