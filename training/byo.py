"""Bring your own data or model: ``python -m training fit`` and ``python -m training import``.

``fit`` trains one of CreditScorer's algorithms on any labelled table; ``import`` turns a
team's own fitted scikit-learn pipeline into a served model. Both write a version folder
with a card (the same card as the built-in models) and point ``CURRENT`` at it, so a
running server serves the model on its next request.

Loading a pickle (joblib) runs code, so ``import`` reads only a file that the operator
names on the command line; no route of the server ever accepts one. skops files
(``.skops``) load without running arbitrary code: only types from scikit-learn, NumPy
and SciPy are trusted, and anything else is refused with its name.
"""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from creditscorer.card import FeatureSpec
from creditscorer.store import valid_model_name, write_pointer
from training import report
from training.data import (
    DataError,
    Dataset,
    Table,
    choose_columns,
    column_name,
    encode,
    infer_feature,
    labels,
    load_table,
)
from training.train import (
    SEED,
    Costs,
    _background,
    _feature_entries,
    _metrics,
    _provenance,
    _version,
    choose_threshold,
    expected_cost,
    explanation_block,
    publish_model,
    train_model,
)

TRUSTED_MODULES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


def read_schema(path: Path | None) -> dict[str, dict[str, Any]]:
    """A schema file (YAML or JSON): ``features:`` as a list of card feature entries, by name."""
    if path is None:
        return {}
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    entries = data.get("features", data) if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise DataError(f"{path}: expected a list of features under 'features:'")
    schema = {}
    for entry in entries:
        if not isinstance(entry, dict) or "name" not in entry:
            raise DataError(f"{path}: every feature needs a name")
        schema[column_name(entry["name"])] = {**entry, "name": column_name(entry["name"])}
    return schema


def build_features(
    table: Table, columns: list[str], schema: dict[str, dict[str, Any]], protected: list[str]
) -> list[dict[str, Any]]:
    """Each column's card entry: the schema's where it gives one (merged over the inferred
    one, so it may give just labels or a range), else inferred from the values."""
    features = []
    for name in columns:
        given = schema.get(name, {})
        if "type" in given and (given["type"] == "category") == ("categories" in given):
            entry = dict(given)
        else:
            entry = {**infer_feature(name, table.columns[name]), **given}
            if entry["type"] == "category" and "categories" in given:
                entry["categories"] = given["categories"]
        entry.setdefault("unit", "")
        entry.setdefault("description", name)
        if name in protected and not entry.get("protected"):
            entry["protected"] = True
            entry.setdefault(
                "protected_reason", "marked protected when the model was trained (--protected)"
            )
        try:
            FeatureSpec.from_dict(entry)
        except (KeyError, ValueError, TypeError) as error:
            raise DataError(f"feature {name!r}: invalid schema entry ({error})") from None
        features.append(entry)
    return features


def group_specs(table: Table, names: list[str], features: list[dict[str, Any]]) -> list[dict]:
    """Fairness groupings for the protected columns: numbers in quartile bands, categories
    by label."""
    by_name = {f["name"]: f for f in features}
    specs = []
    for name in names:
        if name not in table.columns:
            raise DataError(f"--protected names no column {name!r}")
        feature = by_name.get(name) or infer_feature(name, table.columns[name])
        if feature["type"] == "category":
            mapping = {c["code"]: c.get("label", c["code"]) for c in feature["categories"]}
            specs.append({"name": name, "column": name, "map": mapping})
        else:
            specs.append(
                {"name": name, "column": name, "bands": report.quartile_bands(table.columns[name])}
            )
    return specs


def _labelled(
    data: Path, target: str, name: str, positive: str | None
) -> tuple[Table, str, np.ndarray]:
    """The table, the target's column name and its 0/1 labels; a bad model name first."""
    if not valid_model_name(name):
        raise DataError(f"model name {name!r}: use a-z, 0-9, _ or -, starting with a letter")
    table = load_table(data)
    target = column_name(target)
    return table, target, labels(table, target, positive)


def fit(
    data: Path,
    target: str,
    name: str,
    model_dir: Path,
    algorithm: str = "logistic",
    features: list[str] | None = None,
    exclude: list[str] | None = None,
    schema: Path | None = None,
    protected: list[str] | None = None,
    positive: str | None = None,
    costs: Costs | None = None,
    quick: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Train ``algorithm`` on a labelled table and publish it as model ``name``."""
    table, target, y = _labelled(data, target, name, positive)
    protected = [column_name(p) for p in protected or []]
    columns = choose_columns(table, target, features, exclude or [])
    entries = build_features(table, columns, read_schema(schema), protected)
    dataset = encode(table, entries, y)
    excluded = [
        {"name": c, "reason": "left out when the model was trained (--exclude)"}
        for c in table.columns
        if c not in columns and c != target
    ]
    return train_model(
        name,
        dataset,
        model_dir,
        quick=quick,
        algorithm=algorithm,
        limitations=(
            f"Trained with `python -m training fit` on {table.source} ({table.n_rows} rows); "
            "the metrics describe that data only. Check it represents the applicants you score."
        ),
        excluded_columns=excluded,
        groups=group_specs(table, protected, entries),
        costs=costs or Costs(),
        target_meaning=f"1 = {target} is the default value ({positive or 'detected'}), 0 = not",
    )


def _load_pipeline(path: Path) -> tuple[Any, str]:
    path = Path(path)
    if path.suffix.lower() == ".skops":
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=path)
        refused = [t for t in untrusted if not t.startswith(TRUSTED_MODULES)]
        if refused:
            raise DataError(
                f"{path.name}: refusing to load types outside scikit-learn, NumPy and SciPy: "
                + ", ".join(refused[:5])
            )
        return sio.load(path, trusted=untrusted), "skops"
    import joblib

    return joblib.load(path), "joblib"  # the operator named this file: see the module doc


def _unconvertible_step(pipeline: Any) -> str | None:
    """The first step (name and class) that skl2onnx has no converter for, if any."""
    from skl2onnx._supported_operators import sklearn_operator_name_map

    def walk(obj: Any, label: str):
        steps = getattr(obj, "steps", None)
        if steps is not None:
            for step_name, step in steps:
                yield from walk(step, step_name)
            return
        transformers = getattr(obj, "transformers_", None)
        if transformers is not None:
            yield (label, obj)
            for step_name, step, _cols in transformers:
                if not isinstance(step, str):
                    yield from walk(step, step_name)
            return
        yield (label, obj)

    for label, step in walk(pipeline, "pipeline"):
        if type(step) not in sklearn_operator_name_map:
            return f"step {label!r} ({type(step).__name__})"
    return None


def _export_columns(pipeline: Any, entries: list[dict[str, Any]]) -> tuple[bytes, str]:
    """ONNX with one [n, 1] input per column: double numbers where the converters keep
    double precision throughout, else float (skl2onnx's one-hot of text emits float, which
    a double graph cannot take); the caller checks the agreement either way."""
    import onnxruntime as ort
    from skl2onnx import to_onnx
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, StringTensorType

    classifier = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    failure = ""
    for number_type, tensor in (("double", DoubleTensorType), ("float", FloatTensorType)):
        initial_types = [
            (
                f["name"],
                StringTensorType([None, 1]) if f["type"] == "category" else tensor([None, 1]),
            )
            for f in entries
        ]
        try:
            onnx_bytes = to_onnx(
                pipeline,
                initial_types=initial_types,
                options={id(classifier): {"zipmap": False}},
                target_opset={"": 17, "ai.onnx.ml": 3},
            ).SerializeToString()
            ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
        except Exception as error:  # skl2onnx and ONNX Runtime raise many kinds; keep the text
            failure = str(error).splitlines()[0][:300]
            continue
        return onnx_bytes, number_type
    raise DataError(f"skl2onnx could not export the pipeline: {failure}")


def import_pipeline(
    pipeline_file: Path,
    data: Path,
    target: str,
    name: str,
    model_dir: Path,
    schema: Path | None = None,
    protected: list[str] | None = None,
    positive: str | None = None,
    costs: Costs | None = None,
    quick: bool = False,
) -> tuple[Path, dict[str, Any]]:
    """Evaluate a fitted pipeline on labelled data, export it to ONNX, card it, publish it."""
    table, target, y = _labelled(data, target, name, positive)
    started = time.perf_counter()
    costs = costs or Costs()
    pipeline, file_format = _load_pipeline(pipeline_file)
    if not hasattr(pipeline, "predict_proba"):
        raise DataError(f"{Path(pipeline_file).name}: the object has no predict_proba")
    names_in = getattr(pipeline, "feature_names_in_", None)
    if names_in is None:
        raise DataError(
            f"{Path(pipeline_file).name}: fit the pipeline on a pandas DataFrame, so that it "
            "knows its input columns by name (feature_names_in_)"
        )
    raw_names = [str(n) for n in names_in]
    columns = [column_name(n) for n in raw_names]
    if len(set(columns)) != len(columns) or columns != [n for n in raw_names]:
        raise DataError(
            "the pipeline's input columns must be lower-case names of letters, digits and _ "
            f"(got {', '.join(raw_names)})"
        )
    entries = build_features(table, choose_columns(table, target, columns), read_schema(schema), [])
    dataset = encode(table, entries, y)
    step = _unconvertible_step(pipeline)
    if step is not None:
        raise DataError(f"skl2onnx cannot convert {step}; use steps it supports")
    onnx_bytes, number_type = _export_columns(pipeline, entries)
    classifier = pipeline.steps[-1][1] if hasattr(pipeline, "steps") else pipeline
    card_stub = {
        "name": name,
        "version": "import",
        "algorithm": type(classifier).__name__,
        "features": entries,
        "threshold": {"value": 0.5},
        "artifacts": {},
        "onnx": {
            "input": "columns",
            "columns": [
                {"name": f["name"], "dtype": "string" if f["type"] == "category" else number_type}
                for f in entries
            ],
        },
        "explanation": {"background": [[0.0] * len(entries)], "background_weights": [1.0]},
    }
    from creditscorer.card import ModelCard
    from creditscorer.scoring import Model

    probe = Model(Path("."), ModelCard.from_dict(card_stub), onnx_bytes)
    probe._sklearn = pipeline
    probability = probe.predict_proba(dataset.X)
    difference = float(np.max(np.abs(probability - probe.predict_proba_sklearn(dataset.X))))
    if difference > 1e-6:
        raise DataError(f"the ONNX export differs from the pipeline by {difference:.2e}")
    threshold = choose_threshold(dataset.y, probability, costs)
    background, weights = _background(dataset.X, SEED, entries)
    explanation = explanation_block(
        probe.predict_proba, background, weights, dataset.X, SEED, quick
    )
    buffer = io.BytesIO()
    import joblib

    joblib.dump(pipeline, buffer, compress=3)
    joblib_bytes = buffer.getvalue()
    trained_at, version = _version(onnx_bytes)
    protected = [column_name(p) for p in protected or []]
    groups = group_specs(table, protected, entries)
    from training.train import fairness_groups

    card = {
        "schema_version": 2,
        "name": name,
        "version": version,
        "algorithm": type(classifier).__name__,
        "pipeline": [s for s, _ in pipeline.steps] if hasattr(pipeline, "steps") else [],
        "imported": {
            "file": Path(pipeline_file).name,
            "format": file_format,
            "sha256": hashlib.sha256(Path(pipeline_file).read_bytes()).hexdigest(),
        },
        "features": _feature_entries(entries, dataset.X),
        "excluded_columns": [],
        "onnx": card_stub["onnx"],
        "target": {"name": target, "meaning": "1 = default, 0 = not"},
        "threshold": {
            "value": threshold,
            "method": (
                f"minimises the mean cost (bad approved {costs.bad_approved:g}, good declined "
                f"{costs.good_declined:g}) over the given data"
            ),
            "decision_rule": "decline when probability_default >= threshold, else approve",
            "cost_matrix": {
                "bad_approved": costs.bad_approved,
                "good_declined": costs.good_declined,
            },
        },
        "baselines": {
            "data_expected_cost_decline_everyone": expected_cost(
                dataset.y, np.ones(len(dataset.y)), threshold, costs
            ),
        },
        "metrics": {
            "cv": {},
            "holdout": _metrics(dataset.y, probability, threshold, costs),
            "notes": (
                "imported pipeline: 'holdout' is measured on all the given data; if the "
                "pipeline was fitted on any of these rows, the figures are optimistic"
            ),
        },
        "calibration": report.calibration_table(dataset.y, probability),
        "fairness": report.fairness_table(
            dataset.y, probability, threshold, fairness_groups(dataset, np.arange(len(y)), groups)
        ),
        "rows": {"total": len(y), "train": None, "holdout": len(y)},
        "data": {"source": table.source, "sha256": table.sha256},
        "explanation": explanation,
        "seed": SEED,
        **_provenance(trained_at, started, difference),
        "limitations": (
            f"Imported from {Path(pipeline_file).name}; evaluated on {table.source}. "
            "CreditScorer did not fit this model and cannot say which rows it was fitted on."
        ),
    }
    folder = publish_model(Path(model_dir) / name, card, joblib_bytes, onnx_bytes)
    write_pointer(folder.parent, version)
    return folder, card


__all__ = ["DataError", "Dataset", "fit", "import_pipeline"]
