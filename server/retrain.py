"""Retraining jobs: validate labelled data, train in a child process, gate, promote.

Why a child process: training is CPU-bound Python and NumPy. In a waitress thread it
would hold the GIL for long stretches and slow every other thread of the process; in a
gunicorn sync worker it would take the worker away from scoring for the whole run and
risk the worker timeout. A child process (``python -m server.retrain <job folder>``, at
a lower CPU priority) leaves every worker free to score; the HTTP request only starts it
and returns, and the job's state lives in a JSON file that any worker can read.

One retrain per model at a time: the request takes an exclusive ``flock`` on
``<model>/.retrain.lock`` and hands the open descriptor to the child, so the lock lives
exactly as long as the child, whichever worker started it (on Windows, where only
waitress runs, the starting process holds the lock until the child exits).

The gate and the promotion run under ``pointer_lock``, so a rollback cannot slip
between "compare with the live version" and "switch the pointer".
"""

from __future__ import annotations

import csv
import io
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from creditscorer.card import FeatureSpec
from creditscorer.errors import FieldError, ValidationError
from creditscorer.store import lock_fd, pointer_lock, promote_version, read_pointer
from creditscorer.validation import validate_table

JOBS_DIR = ".jobs"
JOB_FILE = "job.json"
DATA_FILE = "data.csv"
LOG_FILE = "log.txt"
LOCK_FILE = ".retrain.lock"
OWNER_FILE = ".retrain.owner"  # the job holding the lock (a separate file: Windows
# refuses reads of a locked byte range)
TARGET = "default"
MIN_ROWS = 100
MIN_PER_CLASS = 20
MAX_LISTED_ERRORS = 20
FINISHED = ("promoted", "rejected", "unchanged", "failed")
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class RetrainBusy(Exception):
    """Another retrain of the same model is running."""

    def __init__(self, job_id: str):
        super().__init__(job_id)
        self.job_id = job_id


class TooManyRows(Exception):
    """The upload has more rows than the batch row limit."""


def _utc_now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- validating an upload ------------------------------------------------------------------


def _field(message: str) -> ValidationError:
    return ValidationError([FieldError("file", message)], detail=f"file: {message}")


def parse_training_csv(
    data: bytes, specs: Sequence[FeatureSpec], max_rows: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Read and validate a labelled CSV: the features in ``specs`` order and ``default``.

    Returns (X, y, rows). Every rule broken is collected first and reported by line,
    column and rule (at most ``MAX_LISTED_ERRORS`` listed); nothing is trained from a
    file with any invalid row, because a silently dropped row changes the model.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise _field(f"is not UTF-8 text (invalid byte at position {error.start})") from None
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] | None = None
    lines: list[int] = []
    rows: list[list[str]] = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in row]
                continue
            rows.append(row)
            lines.append(reader.line_num)
            if len(rows) > max_rows:
                raise TooManyRows(f"more than {max_rows} rows")
    except csv.Error as error:
        raise _field(f"line {reader.line_num}: is not valid CSV ({error})") from None
    if header is None:
        raise _field("is empty; expected a header row and labelled rows")
    wanted = [s.name for s in specs] + [TARGET]
    missing = [name for name in wanted if name not in header]
    if missing:
        errors = [FieldError("file", f"column {name!r} is required") for name in missing]
        raise ValidationError(errors, detail=f"the file lacks columns: {', '.join(missing)}")
    position = {name: header.index(name) for name in wanted}
    width = len(header)
    errors: dict[int, str] = {}
    for i, row in enumerate(rows):
        if len(row) != width:
            errors[i] = f"has {len(row)} values; the header has {width}"
            rows[i] = (row + [""] * width)[:width]
    columns = {s.name: [r[position[s.name]] for r in rows] for s in specs}
    table = validate_table(specs, columns, len(rows))
    for i, message in table.errors.items():
        errors[i] = f"{errors[i]}; {message}" if i in errors else message
    labels = np.zeros(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        value = row[position[TARGET]].strip()
        if value in ("0", "1"):
            labels[i] = int(value)
        else:
            message = f"{TARGET}: must be 0 (good) or 1 (bad), not {value[:20]!r}"
            errors[i] = f"{errors[i]}; {message}" if i in errors else message
    if errors:
        listed = [
            FieldError("file", f"line {lines[i]}: {errors[i]}")
            for i in sorted(errors)[:MAX_LISTED_ERRORS]
        ]
        shown = "" if len(errors) <= MAX_LISTED_ERRORS else f" (the first {MAX_LISTED_ERRORS})"
        raise ValidationError(
            listed,
            detail=f"{len(errors)} of {len(rows)} rows are invalid{shown}; nothing was trained",
        )
    counts = np.bincount(labels, minlength=2)
    if len(rows) < MIN_ROWS or counts.min() < MIN_PER_CLASS:
        raise _field(
            f"needs at least {MIN_ROWS} rows and {MIN_PER_CLASS} of each class to train and "
            f"hold out a test split; it has {len(rows)} rows ({counts[0]} with {TARGET}=0, "
            f"{counts[1]} with {TARGET}=1)"
        )
    return table.X, labels, len(rows)


def normalised_csv(names: Sequence[str], X: np.ndarray, y: np.ndarray) -> bytes:
    """The validated table as a plain comma-separated CSV for the training code."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*names, TARGET])
    for row, label in zip(X.tolist(), y.tolist(), strict=True):
        writer.writerow([int(v) if float(v).is_integer() else repr(v) for v in row] + [label])
    return buffer.getvalue().encode("utf-8")


# -- starting and reading jobs (in the server process) -------------------------------------


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically, so a reader sees the old state or the new one."""
    fd, tmp = tempfile.mkstemp(prefix=".job.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _job_dir(model_dir: Path, name: str, job_id: str) -> Path:
    return Path(model_dir) / name / JOBS_DIR / job_id


def start_job(
    model_dir: Path, name: str, options: dict[str, Any], data: bytes | None
) -> dict[str, Any]:
    """Start a retrain of ``name`` in a child process; return the job's first state.

    Raises ``RetrainBusy`` when a retrain of that model is running already.
    """
    folder = Path(model_dir) / name
    lock_path = folder / LOCK_FILE
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    if not lock_fd(fd, blocking=False):
        os.close(fd)
        raise RetrainBusy(_lock_owner(folder))
    try:
        job_id = f"{datetime.now(tz=UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        # The owner file names the job holding the lock, so a reader can tell a dead job
        # from a live one. Written before the job exists, so no reader sees a stale owner.
        _write_text(folder / OWNER_FILE, job_id)
        job_dir = _job_dir(model_dir, name, job_id)
        job_dir.mkdir(parents=True)
        if data is not None:
            (job_dir / DATA_FILE).write_bytes(data)
        job = {
            "job_id": job_id,
            "model": name,
            "status": "running",
            "started_at": _utc_now(),
            "finished_at": None,
            **options,
            "model_dir": str(Path(model_dir).resolve()),
        }
        _write_json(job_dir / JOB_FILE, job)
        paths = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        with open(job_dir / LOG_FILE, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "server.retrain", str(job_dir)]
                + ([] if os.name == "nt" else [str(fd)]),
                cwd=PROJECT_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=() if os.name == "nt" else (fd,),
            )
    except BaseException:
        os.close(fd)
        raise
    if os.name != "nt":
        os.close(fd)  # the child holds the lock now, through its copy of the descriptor
        fd = -1

    def reap() -> None:
        process.wait()  # no zombie; on Windows the lock goes with the child's end
        if fd >= 0:
            os.close(fd)

    threading.Thread(target=reap, name=f"retrain-{job_id}", daemon=True).start()
    return public_job(job)


def _write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".owner.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _lock_owner(model_folder: Path) -> str:
    try:
        return (model_folder / OWNER_FILE).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return ""


def _running(model_dir: Path, name: str, job_id: str) -> bool:
    """True while the child of ``job_id`` holds the model's retrain lock."""
    lock_path = Path(model_dir) / name / LOCK_FILE
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if lock_fd(fd, blocking=False):
            return False  # nobody holds it (closing the descriptor releases it again)
        return _lock_owner(lock_path.parent) == job_id
    finally:
        os.close(fd)


def public_job(job: dict[str, Any]) -> dict[str, Any]:
    """A job's state without server paths."""
    return {k: v for k, v in job.items() if k not in ("model_dir", "data_path")}


def read_job(model_dir: Path, name: str, job_id: str) -> dict[str, Any] | None:
    """A job's current state; None when there is no such job."""
    if not job_id.replace("-", "").isalnum():
        return None
    path = _job_dir(model_dir, name, job_id) / JOB_FILE
    try:
        job = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    if job["status"] == "running" and not _running(model_dir, name, job_id):
        job = json.loads(path.read_text(encoding="utf-8"))  # it may have finished just now
        if job["status"] == "running":
            job.update(
                status="failed",
                promoted=False,
                reason="the training process ended without a result (killed or crashed)",
            )
    return public_job(job)


def wait_for_job(model_dir: Path, name: str, job_id: str, seconds: float) -> dict[str, Any] | None:
    """Poll a job until it finishes or ``seconds`` pass; return its last state."""
    deadline = time.monotonic() + seconds
    job = read_job(model_dir, name, job_id)
    while job is not None and job["status"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
        job = read_job(model_dir, name, job_id)
    return job


# -- the job itself (in the child process) -------------------------------------------------


def _auc(y: np.ndarray, probability: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, probability))


def run_job(job: dict[str, Any], job_dir: Path) -> dict[str, Any]:
    """Train, gate and maybe promote; return the job's final fields."""
    from sklearn.model_selection import train_test_split

    from creditscorer.scoring import Model
    from training.data import FEATURES, load_csv, parse_labelled_csv
    from training.train import DEFAULT_DATA, HOLDOUT_SHARE, SEED, train_model

    model_dir = Path(job["model_dir"])
    name = job["model"]
    folder = model_dir / name
    if (job_dir / DATA_FILE).exists():
        dataset = parse_labelled_csv(
            (job_dir / DATA_FILE).read_bytes(), source=f"upload {job['data']['source']}"
        )
    else:
        dataset = load_csv(DEFAULT_DATA)
    new_folder, card = train_model(name, dataset, model_dir, quick=job["quick"], promote=False)
    new_version = card["version"]
    # The gate scores both models on the rows the candidate never saw: the same stratified
    # split that train_model holds out (same seed, same share).
    _, holdout = train_test_split(
        np.arange(dataset.n_rows), test_size=HOLDOUT_SHARE, stratify=dataset.y, random_state=SEED
    )
    X_holdout, y_holdout = dataset.X[holdout], dataset.y[holdout]
    candidate_auc = _auc(y_holdout, Model.load(new_folder).predict_proba(X_holdout))
    max_drop = float(job["max_auc_drop"])
    with pointer_lock(folder):
        live_version = read_pointer(folder)
        live = Model.load(folder / live_version)
        if live.card.feature_names == list(FEATURES):
            live_auc = _auc(y_holdout, live.predict_proba(X_holdout))
            measured_on = (
                f"the candidate's hold-out split ({len(holdout)} rows of {dataset.source})"
            )
        else:  # pragma: no cover - a live model with other features than training builds
            live_auc = float(live.card.raw["metrics"]["holdout"]["roc_auc"])
            measured_on = "each model's own hold-out split (the live model has other features)"
        drop = live_auc - candidate_auc
        if new_version == live_version:
            status, reason = "unchanged", "the new model is identical to the live version"
        elif job["force"]:
            status = "promoted"
            reason = f"forced (the gate would have {'passed' if drop <= max_drop else 'failed'})"
        elif drop <= max_drop:
            status = "promoted"
            reason = (
                f"passed the gate: hold-out AUC {candidate_auc:.4f} is not worse than the "
                f"live model's {live_auc:.4f} by more than {max_drop:g}"
            )
        else:
            status = "rejected"
            reason = (
                f"failed the gate: hold-out AUC {candidate_auc:.4f} is worse than the live "
                f"model's {live_auc:.4f} by {drop:.4f} > {max_drop:g}; version {new_version} "
                "is kept but not live (retrain with force=true to promote it anyway)"
            )
        if status == "promoted":
            promote_version(folder, new_version, note=f"retrain job {job['job_id']}: {reason}")
    return {
        "status": status,
        "promoted": status == "promoted",
        "reason": reason,
        "old_version": live_version,
        "new_version": new_version,
        "live_version": new_version if status == "promoted" else live_version,
        "auc": {
            "candidate": round(candidate_auc, 6),
            "live": round(live_auc, 6),
            "max_drop": max_drop,
            "measured_on": measured_on,
        },
        "data": {**job["data"], "rows": dataset.n_rows, "sha256": dataset.sha256},
        "training_seconds": card["training_seconds"],
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m server.retrain <job folder> [lock fd]``: run one job, record its outcome.

    The inherited lock descriptor is closed as soon as the outcome is on disk, so the
    next retrain may start while this process is still winding down.
    """
    args = sys.argv[1:] if argv is None else argv
    job_dir = Path(args[0])
    if hasattr(os, "nice"):
        os.nice(10)  # scoring requests come first on a busy machine
    job = json.loads((job_dir / JOB_FILE).read_text(encoding="utf-8"))
    try:
        outcome = run_job(job, job_dir)
    except Exception as error:
        traceback.print_exc()  # into the job's log.txt, never into an HTTP reply
        outcome = {
            "status": "failed",
            "promoted": False,
            "reason": f"training failed ({type(error).__name__}); see the job's log.txt",
        }
    job.update(outcome, finished_at=_utc_now())
    _write_json(job_dir / JOB_FILE, job)
    if len(args) > 1:
        os.close(int(args[1]))  # releases the model's retrain lock
    return 0 if outcome["status"] != "failed" else 1


if __name__ == "__main__":
    sys.exit(main())
