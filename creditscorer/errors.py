"""The core's exceptions. The HTTP layer maps each to one problem+json status."""

from __future__ import annotations

from dataclasses import dataclass


class CreditScorerError(Exception):
    """Base class of every error the core raises on purpose."""


@dataclass(frozen=True)
class FieldError:
    """One broken rule on one input field: ``field`` names it, ``message`` states the rule."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class ValidationError(CreditScorerError):
    """The input breaks the model's feature schema; ``errors`` lists every broken rule."""

    def __init__(self, errors: list[FieldError], detail: str | None = None):
        self.errors = list(errors)
        count = len(self.errors)
        if detail is None:
            if count == 1:
                detail = str(self.errors[0])
            else:
                names = ", ".join(dict.fromkeys(e.field for e in self.errors))
                detail = f"{count} fields are invalid: {names}"
        self.detail = detail
        super().__init__(self.detail + ": " + "; ".join(str(e) for e in self.errors))


class UnknownModelError(CreditScorerError):
    """No model of that name is installed."""

    def __init__(self, name: str, known: list[str]):
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown model {name!r}; known models: {', '.join(self.known) or 'none'}")


class ArtifactIntegrityError(CreditScorerError):
    """A model artifact is missing or its sha256 differs from the one its card records."""


class ModelNotTrainedError(CreditScorerError):
    """The model folder holds no trained model yet."""
