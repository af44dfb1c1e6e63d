"""Benchmark: score a 10,000-row table with the workbook's "Score table" in LibreOffice.

Run from the project folder (needs soffice and python3-uno, see README)::

    .venv/bin/python bench/bench_workbook.py                 # 10,000 rows, 3 runs
    .venv/bin/python bench/bench_workbook.py --rows 2000 --runs 1

What it does: trains the quick models into a temporary folder (or uses ``--model-dir``),
starts the real server on 127.0.0.1 (random port), opens a copy of the committed
workbook in headless LibreOffice, pastes the rows into the Batch sheet and runs the macro
the "Score table" button is bound to, timing it from outside (end to end: reading the
sheet, JSON, curl, writing the results). Every run's cells are checked (every row scored,
status Done) before its time counts.

The split into JSON / HTTP / sheet writing: LibreOffice's ``Timer`` counts whole seconds,
so the figures the macro writes into Batch!M10:M12 are coarse there (HTTP is exact: it is
curl's own ``time_total``). For exact figures this script also builds a second copy of the
workbook with one extra module, ``bench/BenchPhases.bas``, whose macros each do one phase
of the same work with the same functions, and times each macro call.

Everything is stopped at the end (soffice and the server), also on errors.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from openpyxl.utils import get_column_letter  # noqa: E402

from devtools.lo_driver import (  # noqa: E402
    LibreOffice,
    libreoffice_available,
    removing_new_request_folders,
)
from devtools.server_process import start_server, train_quick_models  # noqa: E402
from excel.build import WORKBOOK_PATH, build  # noqa: E402

PHASES = ("PhaseBuild", "PhaseHttp", "PhaseParse", "PhaseWrite")
PHASE_LABELS = {
    "PhaseBuild": "read table + JSON request",
    "PhaseHttp": "HTTP (curl via Shell, files)",
    "PhaseParse": "JSON reply -> arrays",
    "PhaseWrite": "sheet writing",
}


def _rows(count: int) -> list[list]:
    with (PROJECT_ROOT / "training" / "data" / "german_credit.csv").open() as handle:
        records = list(csv.DictReader(handle))
    return [
        [
            f"R-{index:05d}",
            int(records[index % len(records)]["duration"]),
            int(records[index % len(records)]["amount"]),
            int(records[index % len(records)]["age"]),
        ]
        for index in range(count)
    ]


def _full_rows(count: int, features: list[str]) -> list[list]:
    """Rows of every feature of a full-attribute model (category codes as in the data)."""
    with (PROJECT_ROOT / "training" / "data" / "german_credit.csv").open() as handle:
        records = list(csv.DictReader(handle))
    rows = []
    for index in range(count):
        record = records[index % len(records)]
        row: list = [f"R-{index:05d}"]
        for name in features:
            value = record[name]
            row.append(int(value) if value.lstrip("-").isdigit() else value)
        rows.append(row)
    return rows


def _full_series(lo: LibreOffice, workdir: Path, url: str, args) -> tuple[list[float], int]:
    """'Prepare table' for the full-attribute model, then 'Score table' on its rows."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{url}/v1/models/{args.full_model}", timeout=30) as reply:
        features = [f["name"] for f in json.load(reply)["features"]]
    rows = _full_rows(args.rows, features)
    product = workdir / "CreditScorer-full.xlsm"
    shutil.copyfile(WORKBOOK_PATH, product)
    doc = lo.open(product)
    lo.set_cells(
        doc, {"ApiUrl": url, "BatchSize": args.batch_size, "DefaultModel": args.full_model}
    )
    lo.run_macro(doc, "CreditScorerButtons.PrepareTable", timeout=120)
    width = len(features) + 1
    lo.clear_range(doc, "Batch", "A2:W100")
    lo.set_range(doc, "Batch", "A2", rows)
    walls = []
    for _ in range(args.runs):
        first = get_column_letter(width + 1)
        lo.clear_range(doc, "Batch", f"{first}2:{get_column_letter(width + 4)}{args.rows + 1}")
        started = time.perf_counter()
        lo.run_macro(doc, "CreditScorerButtons.ScoreTable", timeout=600)
        walls.append(time.perf_counter() - started)
        cells = lo.get_cells(doc, ["BatchStatus", "BatchScored", f"Batch!{first}{args.rows + 1}"])
        if cells["BatchStatus"] != "Done" or cells["BatchScored"] != args.rows:
            raise RuntimeError(f"the full-model run did not score every row: {cells}")
        if not isinstance(cells[f"Batch!{first}{args.rows + 1}"], float):
            raise RuntimeError("the last row of the full-model table has no probability")
    lo.close_doc(doc)
    return walls, width


def _bench_workbook(workdir: Path) -> Path:
    vba_dir = workdir / "vba"
    shutil.copytree(PROJECT_ROOT / "excel" / "vba", vba_dir)
    shutil.copy(PROJECT_ROOT / "bench" / "BenchPhases.bas", vba_dir / "BenchPhases.bas")
    return build(workdir / "bench.xlsm", vba_dir)


def _prepare(lo: LibreOffice, path: Path, url: str, rows: list[list], args) -> str:
    doc = lo.open(path)
    lo.set_cells(doc, {"ApiUrl": url, "BatchSize": args.batch_size, "DefaultModel": args.model})
    lo.clear_range(doc, "Batch", "A2:H100")
    lo.set_range(doc, "Batch", "A2", rows)
    return doc


def _check(lo: LibreOffice, doc: str, count: int) -> dict:
    cells = lo.get_cells(
        doc,
        [
            "BatchStatus",
            "BatchScored",
            "BatchFailed",
            "BatchJsonSeconds",
            "BatchHttpSeconds",
            "BatchWriteSeconds",
            f"Batch!E{count + 1}",
            f"Batch!F{count + 1}",
        ],
    )
    if cells["BatchStatus"] != "Done" or cells["BatchScored"] != count:
        raise RuntimeError(f"the run did not score every row: {cells}")
    if not isinstance(cells[f"Batch!E{count + 1}"], float):
        raise RuntimeError("the last row has no probability")
    return cells


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--model", default="forest")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model-dir", type=Path, help="a trained model store to reuse")
    parser.add_argument("--full-model", default="logistic_full", help="the wide series' model")
    args = parser.parse_args(argv)

    available, reason = libreoffice_available()
    if not available:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    rows = _rows(args.rows)
    with tempfile.TemporaryDirectory(prefix="bench-workbook-") as tmp:
        workdir = Path(tmp)
        model_dir = args.model_dir or train_quick_models(workdir / "models")
        server = start_server(
            {"CREDITSCORER_MODEL_DIR": str(model_dir), "CREDITSCORER_TRAIN_IF_MISSING": "0"}
        )
        url = server.url
        try:
            with removing_new_request_folders(), LibreOffice() as lo:
                product = workdir / "CreditScorer.xlsm"
                shutil.copyfile(WORKBOOK_PATH, product)
                doc = _prepare(lo, product, url, rows, args)
                walls, reported = [], []
                for _ in range(args.runs):
                    lo.clear_range(doc, "Batch", f"E2:H{args.rows + 1}")
                    started = time.perf_counter()
                    lo.run_macro(doc, "CreditScorerButtons.ScoreTable", timeout=600)
                    walls.append(time.perf_counter() - started)
                    reported.append(_check(lo, doc, args.rows))
                lo.close_doc(doc)
                full_walls, full_width = _full_series(lo, workdir, url, args)

                phased = _bench_workbook(workdir)
                doc = _prepare(lo, phased, url, rows, args)
                phase_times = {name: [] for name in PHASES}
                for _ in range(args.runs):
                    lo.clear_range(doc, "Batch", f"E2:H{args.rows + 1}")
                    for name in PHASES:
                        started = time.perf_counter()
                        lo.run_macro(doc, f"BenchPhases.{name}", timeout=600)
                        phase_times[name].append(time.perf_counter() - started)
                    written = lo.get_cells(doc, [f"Batch!E{args.rows + 1}", "Batch!O3"])
                    if (
                        written["Batch!O3"] != args.rows
                        or written[f"Batch!E{args.rows + 1}"] is None
                    ):
                        raise RuntimeError(f"the phase macros did not score every row: {written}")
        finally:
            server.stop()

    median = statistics.median
    chunks = -(-args.rows // args.batch_size)
    print(
        f"Workbook benchmark: {args.rows:,} rows, batch size {args.batch_size} ({chunks} requests),"
    )
    print(f"model {args.model}, LibreOffice headless (curl transport), median of {args.runs} runs")
    print()
    print(f"End to end, 'Score table' button macro: {median(walls):6.2f} s   (target <= 10 s)")
    print(f"  runs: {', '.join(f'{w:.2f}' for w in walls)} s")
    print(
        f"Same, model {args.full_model} ({full_width} input columns, 'Prepare table' header): "
        f"{median(full_walls):6.2f} s   (target <= 15 s)"
    )
    print(f"  runs: {', '.join(f'{w:.2f}' for w in full_walls)} s")
    print(
        "  the macro's own cells (whole-second clock in LibreOffice, HTTP exact): "
        f"JSON {median(r['BatchJsonSeconds'] for r in reported):.0f} s, "
        f"HTTP {median(r['BatchHttpSeconds'] for r in reported):.2f} s, "
        f"writing {median(r['BatchWriteSeconds'] for r in reported):.0f} s"
    )
    print()
    print("Split, each phase timed as its own macro (bench/BenchPhases.bas):")
    total = 0.0
    for name in PHASES:
        seconds = median(phase_times[name])
        total += seconds
        print(f"  {PHASE_LABELS[name]:32s} {seconds:6.2f} s")
    json_seconds = median(phase_times["PhaseBuild"]) + median(phase_times["PhaseParse"])
    print(f"  {'sum of phases':32s} {total:6.2f} s")
    print()
    print(
        f"JSON {json_seconds:.2f} s (request {median(phase_times['PhaseBuild']):.2f} + reply "
        f"{median(phase_times['PhaseParse']):.2f}), HTTP {median(phase_times['PhaseHttp']):.2f} s, "
        f"sheet writing {median(phase_times['PhaseWrite']):.2f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
