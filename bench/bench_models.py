"""In-process cost of each model: one applicant with and without reasons, a 100,000-row table.

    python bench/bench_models.py [--model-dir DIR] [--rows 100000] [--repeat 200]

Function calls, no HTTP: the floor the API's figures (bench/bench_api.py) sit on. Prints
medians side by side, with each model's feature count and explanation method, so the
full-attribute models read beside the seed's three-feature ones. Uses the model store
(CREDITSCORER_MODEL_DIR or instance/models); trains nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from creditscorer import ModelStore, default_model_dir


def _median_ms(call, repeat: int, budget: float = 10.0) -> float:
    call()  # warm up
    times = []
    deadline = time.perf_counter() + budget
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
        if time.perf_counter() > deadline:
            break
    return statistics.median(times) * 1000


def applicant(model) -> dict:
    """A valid applicant for any card: the middle of each numeric training range, the
    most common category."""
    record = {}
    for spec, feature in zip(model.card.features, model.card.raw["features"], strict=True):
        if spec.is_category:
            shares = feature.get("training_distribution", {}).get("shares")
            index = int(np.argmax(shares)) if shares else 0
            record[spec.name] = spec.categories[index].label
        else:
            middle = (spec.training_min + spec.training_max) / 2
            record[spec.name] = round(middle) if spec.type == "integer" else middle
    return record


def table(model, rows: int) -> dict[str, list]:
    rng = np.random.default_rng(0)
    columns = {}
    for spec in model.card.features:
        if spec.is_category:
            columns[spec.name] = rng.choice(spec.codes, rows).tolist()
        else:
            values = rng.uniform(spec.training_min, spec.training_max, rows)
            columns[spec.name] = (
                np.round(values).astype(int).tolist() if spec.type == "integer" else values.tolist()
            )
    return columns


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args(argv)
    store = ModelStore(args.model_dir or default_model_dir())
    names = store.names()
    if not names:
        print("no models: run python -m training first", file=sys.stderr)
        return 1
    print(
        f"{'model':16s} {'features':>8s} {'reasons':>12s} {'score ms':>9s} "
        f"{'+reasons ms':>11s} {'table ms':>9s} {'rows/s':>11s}"
    )
    for name in names:
        model = store.get(name)
        record = applicant(model)
        columns = table(model, args.rows)
        plain = _median_ms(
            lambda m=model, r=record: m.score_one(r, with_reasons=False), args.repeat
        )
        reasons = _median_ms(lambda m=model, r=record: m.score_one(r), args.repeat)
        batch = _median_ms(lambda m=model, c=columns: m.score_table(c, args.rows), 5, budget=20.0)
        print(
            f"{name:16s} {len(model.card.features):8d} {model.explanation_method:>12s} "
            f"{plain:9.3f} {reasons:11.3f} {batch:9.1f} {args.rows / batch * 1000:11,.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
