"""CreditScorer core: model cards, input validation, scoring and explanations.

Pure Python and NumPy; no web framework. The server, the xlwings UDFs' local mode,
the training code, the benchmarks and the tests all build on this package.
"""

from creditscorer.card import FeatureSpec, ModelCard
from creditscorer.errors import (
    ArtifactIntegrityError,
    CreditScorerError,
    FieldError,
    UnknownModelError,
    ValidationError,
)
from creditscorer.scoring import BatchResult, Model, SingleResult
from creditscorer.store import ModelStore, default_model_dir

__all__ = [
    "ArtifactIntegrityError",
    "BatchResult",
    "CreditScorerError",
    "FeatureSpec",
    "FieldError",
    "Model",
    "ModelCard",
    "ModelStore",
    "SingleResult",
    "UnknownModelError",
    "ValidationError",
    "default_model_dir",
]
