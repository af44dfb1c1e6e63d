"""Render a picture of each sheet of the workbook, after clicking its buttons, for the README.

Run ``python -m devtools.render_sheets`` (needs soffice, python3-uno and pdftoppm). It starts
the real server on 127.0.0.1 (quick-trained models in a temporary folder, or
``--model-dir``), opens a copy of the committed workbook in headless LibreOffice, clicks
"Test connection", "Score applicant" and "Score table", exports each sheet as a one-page
PDF and turns it into ``docs/img/workbook-<sheet>.png``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from devtools.lo_driver import LibreOffice, removing_new_request_folders
from devtools.server_process import start_server, train_quick_models
from excel.build import WORKBOOK_PATH

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IMAGE_DIR = PROJECT_ROOT / "docs" / "img"
# Sheet -> the range to show (buttons sit inside these ranges).
SHEET_RANGES = {
    "ReadMe": "A1:A16",
    "Applicant": "A1:H24",
    "Batch": "A1:Z26",
    "Settings": "A1:H11",
}


def render(model_dir: Path, image_dir: Path = IMAGE_DIR) -> list[Path]:
    """Click every button against a live server and write one PNG per sheet."""
    image_dir.mkdir(parents=True, exist_ok=True)
    written = []
    server = start_server(
        {"CREDITSCORER_MODEL_DIR": str(model_dir), "CREDITSCORER_TRAIN_IF_MISSING": "0"}
    )
    url = server.url
    try:
        with (
            removing_new_request_folders(),
            tempfile.TemporaryDirectory(prefix="render-") as tmp,
            LibreOffice() as lo,
        ):
            copy = Path(tmp) / "CreditScorer.xlsm"
            shutil.copyfile(WORKBOOK_PATH, copy)
            doc = lo.open(copy)
            lo.set_cells(doc, {"ApiUrl": url, "InputModel": "forest", "DefaultModel": "forest"})
            for macro in (
                "CreditScorerButtons.TestConnection",
                "CreditScorerButtons.ScoreApplicant",
                "CreditScorerButtons.ScoreTable",
            ):
                lo.run_macro(doc, macro)
            # The address of this run's random port is not what a user has: show the default.
            lo.set_cells(doc, {"ApiUrl": "http://127.0.0.1:5000"})
            status = lo.get_cells(doc, ["ConnectionStatus"])["ConnectionStatus"]
            lo.set_cells(doc, {"ConnectionStatus": status.replace(url, "http://127.0.0.1:5000")})
            pictures = [(sheet, address, sheet.lower()) for sheet, address in SHEET_RANGES.items()]
            for sheet, address, stem in pictures:
                _export(
                    lo,
                    doc,
                    sheet,
                    address,
                    Path(tmp) / f"{stem}.pdf",
                    image_dir / f"workbook-{stem}",
                )
                written.append(image_dir / f"workbook-{stem}.png")
            lo.set_cells(doc, {"ApiUrl": url})
            _score_full_applicant(lo, doc)
            lo.set_cells(doc, {"ApiUrl": "http://127.0.0.1:5000"})
            _export(
                lo,
                doc,
                "Applicant",
                "A1:H32",
                Path(tmp) / "full.pdf",
                image_dir / "workbook-applicant-full",
            )
            written.append(image_dir / "workbook-applicant-full.png")
    finally:
        server.stop()
    return written


def _score_full_applicant(lo: LibreOffice, doc: str, model: str = "logistic_full") -> None:
    """The full-attribute model's inputs laid out from its card, the first applicant of the
    data typed in (category codes, which the layout shows as labels), then scored."""
    import csv

    lo.set_cells(doc, {"InputModel": model})
    lo.run_macro(doc, "CreditScorerButtons.ShowInputs")
    with (PROJECT_ROOT / "training" / "data" / "german_credit.csv").open() as handle:
        record = next(csv.DictReader(handle))
    rows = lo.get_range(doc, "Applicant", "A7:E126")
    values = {}
    for offset, row in enumerate(rows):
        if row[4] in record:
            text = record[row[4]]
            values[f"Applicant!B{7 + offset}"] = int(text) if text.isdigit() else text
    lo.set_cells(doc, values)
    lo.run_macro(doc, "CreditScorerButtons.ShowInputs")  # codes shown as their labels
    lo.run_macro(doc, "CreditScorerButtons.ScoreApplicant")


def _export(lo: LibreOffice, doc: str, sheet: str, address: str, pdf: Path, target: Path) -> None:
    """One sheet's range as a PNG (by way of a one-page PDF)."""
    lo.export_pdf(doc, sheet, address, pdf)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "96", "-singlefile", str(pdf), str(target)],
        check=True,
        timeout=60,
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: train quick models unless --model-dir is given, then render."""
    parser = argparse.ArgumentParser(prog="python -m devtools.render_sheets", description=__doc__)
    parser.add_argument("--model-dir", type=Path, help="a trained model store to use")
    parser.add_argument("--out", type=Path, default=IMAGE_DIR, help="folder for the PNGs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="render-models-") as tmp:
        model_dir = args.model_dir or train_quick_models(Path(tmp) / "models")
        for path in render(model_dir, args.out):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
