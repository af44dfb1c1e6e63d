"""Reproducible training of CreditScorer's models: artifacts, ONNX export and model cards."""

from training.train import DEFAULT_DATA, MODEL_NAMES, ensure_models, train_all, train_model

__all__ = ["DEFAULT_DATA", "MODEL_NAMES", "ensure_models", "train_all", "train_model"]
