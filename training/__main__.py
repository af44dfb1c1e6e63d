"""``python -m training``: train the models and print a one-line summary of each card."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from creditscorer.store import default_model_dir
from training.train import DEFAULT_DATA, MODEL_NAMES, train_all


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="model store (default: %(default)s, i.e. CREDITSCORER_MODEL_DIR or instance/models)",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="labelled CSV")
    parser.add_argument("--model", choices=MODEL_NAMES, action="append", help="train only this one")
    parser.add_argument("--quick", action="store_true", help="tiny grids, for tests")
    args = parser.parse_args(argv)
    out = args.out or default_model_dir()
    cards = train_all(out, data=args.data, quick=args.quick, names=tuple(args.model or MODEL_NAMES))
    for name, card in cards.items():
        cv, holdout = card["metrics"]["cv"], card["metrics"]["holdout"]
        print(
            f"{name:8s} {card['version']}  CV AUC {cv['roc_auc']['mean']:.3f} ± "
            f"{cv['roc_auc']['std']:.3f}  hold-out AUC {holdout['roc_auc']:.3f}  "
            f"threshold {card['threshold']['value']:.3f}  "
            f"hold-out cost {holdout['expected_cost']:.3f}"
            f"  ({card['training_seconds']} s)"
        )
    print(f"model store: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
