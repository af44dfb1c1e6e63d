"""``python -m training``: train CreditScorer's models, or bring your own data or pipeline.

    python -m training                      train the built-in models (German Credit)
    python -m training ensure               train only the built-in models that are missing
    python -m training fit --data F --target COL --name NAME [...]
    python -m training import --pipeline P --data F --target COL --name NAME [...]

Every command writes a new version folder with its card into the model store and points
the model's CURRENT file at it; a running server serves it on its next request.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from creditscorer.store import default_model_dir
from training.data import DataError
from training.train import ALGORITHMS, DEFAULT_DATA, MODEL_NAMES, Costs, ensure_models, train_all

COMMANDS = ("ensure", "fit", "import")


def _line(name: str, card: dict[str, Any]) -> str:
    cv, holdout = card["metrics"]["cv"], card["metrics"]["holdout"]
    cv_text = (
        f"CV AUC {cv['roc_auc']['mean']:.3f} ± {cv['roc_auc']['std']:.3f}  " if cv else "CV AUC —  "
    )
    return (
        f"{name:14s} {card['version']}  {cv_text}hold-out AUC {holdout['roc_auc']:.3f}  "
        f"threshold {card['threshold']['value']:.3f}  "
        f"hold-out cost {holdout['expected_cost']:.3f}  ({card['training_seconds']} s)"
    )


def _log(message: str) -> None:
    print(message, flush=True)


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _byo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True, help="labelled .csv or .xlsx")
    parser.add_argument("--target", required=True, help="the label column (two values)")
    parser.add_argument("--name", required=True, help="the model's name in the store")
    parser.add_argument("--schema", type=Path, help="YAML with card feature entries to use")
    parser.add_argument("--positive", help="the target value that means default")
    parser.add_argument(
        "--protected", help="comma-separated protected columns: marked, and fairness by them"
    )
    parser.add_argument("--cost-bad-approved", type=float, default=5.0)
    parser.add_argument("--cost-good-declined", type=float, default=1.0)
    parser.add_argument("--model-dir", type=Path, default=None, help="the model store")
    parser.add_argument("--quick", action="store_true", help="small grids, for tests")


def _byo(argv: list[str]) -> int:
    command = argv[0]
    parser = argparse.ArgumentParser(prog=f"python -m training {command}")
    if command == "fit":
        parser.add_argument("--algorithm", choices=ALGORITHMS, default="logistic")
        parser.add_argument("--features", help="comma-separated input columns (default: all)")
        parser.add_argument("--exclude", help="comma-separated columns to leave out")
    else:
        parser.add_argument(
            "--pipeline",
            type=Path,
            required=True,
            help="a fitted scikit-learn pipeline: .skops (recommended) or a joblib pickle",
        )
    _byo_arguments(parser)
    args = parser.parse_args(argv[1:])
    out = args.model_dir or default_model_dir()
    from training import byo

    # What fit and import share: the data, the target, the name, the store and these.
    shared = {
        "schema": args.schema,
        "protected": _split(args.protected),
        "positive": args.positive,
        "costs": Costs(args.cost_bad_approved, args.cost_good_declined),
        "quick": args.quick,
    }
    try:
        if command == "fit":
            _log(f"training {args.name} ({args.algorithm}) on {args.data}…")
            _folder, card = byo.fit(
                args.data,
                args.target,
                args.name,
                out,
                algorithm=args.algorithm,
                features=_split(args.features),
                exclude=_split(args.exclude),
                **shared,
            )
        else:
            _log(f"importing {args.pipeline} as {args.name}…")
            _folder, card = byo.import_pipeline(
                args.pipeline, args.data, args.target, args.name, out, **shared
            )
    except (DataError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(_line(args.name, card))
    print(f"model store: {out} ({len(card['features'])} features; served on the next request)")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("fit", "import"):
        return _byo(argv)
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("command", nargs="?", choices=["ensure"], help="train only missing models")
    parser.add_argument(
        "--out", type=Path, default=None, help="model store (default: instance/models)"
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="German Credit CSV")
    parser.add_argument("--model", choices=MODEL_NAMES, action="append", help="train only this one")
    parser.add_argument("--quick", action="store_true", help="tiny grids, for tests")
    args = parser.parse_args(argv)
    out = args.out or default_model_dir()
    if args.command == "ensure":
        trained = ensure_models(out, quick=args.quick, log=_log)
        _log(f"trained {', '.join(trained)}" if trained else f"every model is in {out}")
        return 0
    names = tuple(args.model or MODEL_NAMES)
    cards = train_all(out, data=args.data, quick=args.quick, names=names, log=_log)
    for name, card in cards.items():
        print(_line(name, card))
    print(f"model store: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
