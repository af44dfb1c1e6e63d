"""A deliberately naive, seed-style scoring endpoint: the baseline of ``bench/bench_api.py``.

This is how the seed project scored, kept small on purpose so that the benchmark can show
what the real server gains: per request it builds a table (a pandas DataFrame when pandas
is importable, else a dict of lists turned into a NumPy array: pandas is not a project
dependency), calls the default scikit-learn ``predict_proba`` of the joblib pipeline, and
answers with ``flask.jsonify``. No schema validation beyond ``float()``, no reasons, no
ONNX. It is served by waitress with its default settings (4 threads).

The joblib files are unpickled only after their sha256 matches the model card (house rule:
never unpickle an unverified file).

Run: ``python bench/naive_app.py --model-dir DIR --port PORT`` (127.0.0.1 only).
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from flask import Flask, jsonify, request

try:  # pandas is optional here and not a project dependency
    import pandas as pd
except ImportError:  # the numpy-per-request form
    pd = None

FRAME = (
    "pandas DataFrame per request"
    if pd is not None
    else "dict of lists -> numpy array per request (pandas not installed)"
)


def load_pipeline(model_folder: Path) -> tuple[Any, dict[str, Any]]:
    """The current version's joblib pipeline and card, after checking the file's sha256."""
    version = (model_folder / "CURRENT").read_text(encoding="ascii").strip()
    folder = model_folder / version
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    data = (folder / "model.joblib").read_bytes()
    expected = card["artifacts"]["model.joblib"]
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise SystemExit(f"{folder / 'model.joblib'}: sha256 {actual} is not the card's {expected}")
    return joblib.load(io.BytesIO(data)), card


def _frame(columns: dict[str, list[Any]], features: list[str]) -> Any:
    """The per-request table, the way the seed built it."""
    if pd is not None:
        return pd.DataFrame(columns)[features].astype(float).to_numpy()
    return np.column_stack([np.asarray(columns[f], dtype=float) for f in features])


def create_app(model_dir: Path) -> Flask:
    app = Flask(__name__)
    models = {
        p.name: load_pipeline(p) for p in sorted(model_dir.iterdir()) if (p / "CURRENT").is_file()
    }

    def pick(name: str | None) -> tuple[Any, dict[str, Any]]:
        return models[name or "logistic"]

    @app.get("/health")
    def health():
        return jsonify({"status": "ok", "models": sorted(models), "frame": FRAME})

    @app.get("/predict")
    def predict():
        try:
            pipeline, card = pick(request.args.get("model"))
            features = [f["name"] for f in card["features"]]
            columns = {f: [float(request.args[f])] for f in features}
        except (KeyError, ValueError) as error:
            return jsonify({"error": f"bad input: {error}"}), 400
        p = float(pipeline.predict_proba(_frame(columns, features))[:, 1][0])
        threshold = card["threshold"]["value"]
        return jsonify(
            {
                "model": card["name"],
                "probability_default": p,
                "decision": "decline" if p >= threshold else "approve",
            }
        )

    @app.post("/predict/batch")
    def predict_batch():
        body = request.get_json()
        try:
            pipeline, card = pick(body.get("model"))
            features = [f["name"] for f in card["features"]]
            position = {name: j for j, name in enumerate(body["columns"])}
            columns = {f: [row[position[f]] for row in body["rows"]] for f in features}
            X = _frame(columns, features)
        except (KeyError, ValueError, TypeError, AttributeError) as error:
            return jsonify({"error": f"bad input: {error}"}), 400
        probabilities = pipeline.predict_proba(X)[:, 1]
        threshold = card["threshold"]["value"]
        rows = [[float(p), "decline" if p >= threshold else "approve"] for p in probabilities]
        return jsonify(
            {"model": card["name"], "columns": ["probability_default", "decision"], "rows": rows}
        )

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    from waitress import serve

    app = create_app(args.model_dir)
    print(f"naive baseline listening on http://{args.host}:{args.port} ({FRAME})", flush=True)
    serve(app, host=args.host, port=args.port, ident="naive")
    return 0


if __name__ == "__main__":
    sys.exit(main())
