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
FEATURE_TYPES = ("integer", "number")


def _fmt(value: float) -> str:
    """Format a bound the way a person writes it: 18, 0.5, 1000000."""
    return f"{value:g}" if abs(value) < 1e15 and value != int(value) else f"{int(value)}"


@dataclass(frozen=True)
class FeatureSpec:
    """One input feature: its type, the range a request may use, and the range seen in training."""

    name: str
    type: str
    unit: str
    description: str
    minimum: float
    maximum: float
    min_exclusive: bool
    max_exclusive: bool
    training_min: float
    training_max: float

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSpec:
        accepted = data["accepted"]
        training = data["training_range"]
        spec = cls(
            name=str(data["name"]),
            type=str(data["type"]),
            unit=str(data.get("unit", "")),
            description=str(data.get("description", "")),
            minimum=float(accepted["min"]),
            maximum=float(accepted["max"]),
            min_exclusive=bool(accepted.get("min_exclusive", False)),
            max_exclusive=bool(accepted.get("max_exclusive", False)),
            training_min=float(training["min"]),
            training_max=float(training["max"]),
        )
        if spec.type not in FEATURE_TYPES:
            raise ValueError(f"feature {spec.name!r}: unknown type {spec.type!r}")
        return spec

    def to_dict(self) -> dict[str, Any]:
        def num(v: float) -> float | int:
            return int(v) if float(v).is_integer() else v

        accepted: dict[str, Any] = {"min": num(self.minimum), "max": num(self.maximum)}
        if self.min_exclusive:
            accepted["min_exclusive"] = True
        if self.max_exclusive:
            accepted["max_exclusive"] = True
        return {
            "name": self.name,
            "type": self.type,
            "unit": self.unit,
            "description": self.description,
            "accepted": accepted,
            "training_range": {"min": num(self.training_min), "max": num(self.training_max)},
        }

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
        )

    @classmethod
    def load(cls, folder: Path) -> ModelCard:
        with open(Path(folder) / CARD_FILE, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

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
