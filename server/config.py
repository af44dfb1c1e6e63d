"""Server settings: embedded defaults, then ``CREDITSCORER_*`` environment variables, then
explicit overrides passed to ``create_app``."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

PREFIX = "CREDITSCORER_"


@dataclass(frozen=True)
class Settings:
    """Every setting the server reads, with its default. Environment: CREDITSCORER_<NAME>."""

    model_dir: Path | None = None  # None: <instance folder>/models
    default_model: str = "logistic"
    max_request_bytes: int = 32 * 1024 * 1024
    max_batch_rows: int = 100_000
    max_reason_rows: int = 5_000
    onnx_threads: int = 1
    train_if_missing: bool = True
    # keys and retraining
    key_open_recheck_seconds: float = 1.0  # see server.keys: how long "no key exists" holds
    cors_origins: str = ""  # comma-separated browser origins allowed to call the API; "*": any
    retrain_max_auc_drop: float = 0.01  # the gate: new hold-out AUC >= current - this
    retrain_quick: bool = False  # small tuning grids (tests, quick demos)
    retrain_wait_seconds: int = 100  # cap on ?wait=: under nginx (130 s) and gunicorn (120 s)
    gc_tuning: bool = True  # see server.tune_gc
    log_level: str = "INFO"
    database_url: str | None = None  # None: SQLite file in the instance folder
    # query log and statistics
    query_log: bool = True  # write one row per scoring request (single and batch) to the database
    log_inputs: bool = True  # include the applicants' feature values (personal data) in that row
    log_retention_days: int = 90  # rows older than this are deleted; 0 keeps them forever
    log_synchronous_commit: bool = False  # PostgreSQL: wait for the WAL flush (see querylog)
    # A request whose inputs + outputs JSON is above this (64 KiB: about 950 rows of a
    # three-feature model) has them compressed into query_log_detail (see querylog).
    log_detail_bytes: int = 64 * 1024
    log_group_commit: bool = True  # concurrent requests' rows share a commit (see logwriter)
    log_group_writers: int = 1  # groups one process writes at once (0 counts as 1)
    stats_window_hours: int = 24  # the window of /v1/stats and /dashboard when none is given

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, f.type, raw)
        return replace(cls(**values), **overrides)


def _convert(name: str, kind: Any, raw: str) -> Any:
    kind = str(kind)
    try:
        if kind == "int":
            value = int(raw)
            if value < 0:
                raise ValueError
            return value
        if kind == "float":
            number = float(raw)
            if not math.isfinite(number) or number < 0:
                raise ValueError
            return number
        if kind == "bool":
            lowered = raw.strip().lower()
            if lowered not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError
            return lowered in {"1", "true", "yes", "on"}
        if "Path" in kind:
            return Path(raw)
        return raw
    except ValueError:
        raise ValueError(f"{PREFIX}{name.upper()}={raw!r} is not a valid {kind}") from None
