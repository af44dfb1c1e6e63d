"""Retraining jobs: validate labelled data, train in a child process, gate, promote.

Why a child process: training is CPU-bound Python and NumPy. In a waitress thread it
would hold the GIL for long stretches and slow every other thread of the process; in a
gunicorn sync worker it would take the worker away from scoring for the whole run and
risk the worker timeout. A child process (``python -m training.retrain <job folder>``,
at a lower CPU priority) leaves every worker free to score; the HTTP request only starts
it and returns, and the job's state lives in a JSON file that any worker can read. The
server never imports the training code: the child is the only place it runs.

The upload is validated here, by the live model's card (its features, categories
included), and handed to the child as a normalised CSV: the features (categories as
their codes), ``default``, and the columns the card's fairness table groups by. Any
other uploaded column is listed in the job as ignored.

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
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from creditscorer.card import FeatureSpec
from creditscorer.errors import FieldError, ValidationError
from creditscorer.files import atomic_write, atomic_write_json, utc_now
from creditscorer.store import lock_fd
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
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class RetrainBusy(Exception):
    """Another retrain of the same model is running."""

    def __init__(self, job_id: str):
        super().__init__(job_id)
        self.job_id = job_id


class TooManyRows(Exception):
    """The upload has more rows than the batch row limit."""


# -- validating an upload ------------------------------------------------------------------


def _field(message: str) -> ValidationError:
    return ValidationError([FieldError("file", message)], detail=f"file: {message}")


@dataclass(frozen=True)
class TrainingUpload:
    """A validated upload: the features' matrix, the labels, and what else it held."""

    X: np.ndarray
    y: np.ndarray
    rows: int
    kept: dict[str, list[str]]  # columns the card's fairness table groups by, raw
    ignored: list[str]  # every other column that is neither a feature nor the target


def parse_training_csv(
    data: bytes, specs: Sequence[FeatureSpec], max_rows: int, keep: Sequence[str] = ()
) -> TrainingUpload:
    """Read and validate a labelled CSV: the features in ``specs`` order and ``default``.

    ``keep`` names columns to pass on as they are when present (fairness groupings).
    Every rule broken is collected first and reported by line,
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
    kept = {
        name: [r[header.index(name)] for r in rows]
        for name in keep
        if name in header and name not in wanted
    }
    used = {*wanted, *kept}
    ignored = [name for name in header if name not in used]
    return TrainingUpload(X=table.X, y=labels, rows=len(rows), kept=kept, ignored=ignored)


def normalised_csv(specs: Sequence[FeatureSpec], upload: TrainingUpload) -> bytes:
    """The validated table as a plain comma-separated CSV for the training code: numbers
    as numbers, categories as their codes, then ``default`` and the kept columns."""
    columns: list[list[Any]] = []
    for j, spec in enumerate(specs):
        values = upload.X[:, j]
        if spec.is_category:
            columns.append(np.asarray(spec.codes, dtype=object)[values.astype(np.intp)].tolist())
        else:
            columns.append([int(v) if float(v).is_integer() else repr(v) for v in values.tolist()])
    columns.append(upload.y.tolist())
    columns.extend(upload.kept.values())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*(s.name for s in specs), TARGET, *upload.kept])
    writer.writerows(zip(*columns, strict=True))
    return buffer.getvalue().encode("utf-8")


# -- starting and reading jobs (in the server process) -------------------------------------


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
        atomic_write(folder / OWNER_FILE, job_id.encode("ascii"), durable=False)
        job_dir = _job_dir(model_dir, name, job_id)
        job_dir.mkdir(parents=True)
        if data is not None:
            (job_dir / DATA_FILE).write_bytes(data)
        job = {
            "job_id": job_id,
            "model": name,
            "status": "running",
            "started_at": utc_now(),
            "finished_at": None,
            **options,
            "model_dir": str(Path(model_dir).resolve()),
        }
        atomic_write_json(job_dir / JOB_FILE, job)
        paths = [str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
        with open(job_dir / LOG_FILE, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "training.retrain", str(job_dir)]
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
