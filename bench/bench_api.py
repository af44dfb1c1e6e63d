"""CreditScorer benchmark: the real server against its in-process floor and a naive baseline.

Run from the project folder::

    .venv/bin/python bench/bench_api.py           # full run, at most ~10 minutes on 2 cores
    .venv/bin/python bench/bench_api.py --quick   # short run (~1-2 minutes), for smoke-testing
    .venv/bin/python bench/bench_api.py --smoke   # a few requests each (< 40 s), for the tests

It trains the models into a temporary folder once (``--model-dir`` reuses a trained store),
then measures side by side in one run and prints one report:

* the in-process floor: ONNX Runtime against scikit-learn ``predict_proba`` (1 row, every
  batch size), ``score_one`` with and without reasons;
* the real server (``python -m server``, granian, the default): start-up time (process
  start to the first 200 on ``/health``), single-score latency p50/p99 over one keep-alive
  connection
  (``http.client``), throughput at concurrency 8 (8 threads, each its own connection, a
  bounded number of requests), batch latency at 1; 1,000; 10,000; 100,000 rows as JSON
  columns, CSV, Arrow IPC stream and Parquet, and the resident memory after the batches;
  the full-attribute models (single score with reasons, 100,000-row batch) when trained;
* the previous default, ``python -m server --server waitress`` (singles, throughput, the
  100,000-row JSON and CSV batches);
* 2 worker processes: ``python -m server --workers 2``, gunicorn sync and gthread
  (start-up, throughput, memory per worker);
* the naive seed-style baseline ``bench/naive_app.py`` (waitress, joblib pipeline, a table
  per request, default scikit-learn predict, ``flask.jsonify``);
* the issue's targets, each with our figure and met / not met.

Everything listens on 127.0.0.1 only; every request count and wait is bounded; every child
process is stopped at the end, also on Ctrl+C, SIGTERM or an exception. The report is also
written to ``bench/results/`` (a text file and a JSON file) unless ``--no-save`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devtools.server_process import cpu_seconds, stop_process, worker_pids  # noqa: E402

HOST = "127.0.0.1"
MODELS = ("logistic", "forest")
FEATURES = ("duration", "amount", "age")
SIZES = (1, 1_000, 10_000, 100_000)
CONCURRENCY = 8
START_TIMEOUT = 90.0
PYCACHE = "pycache"  # folder of the servers' bytecode in the run's work folder
REQUEST_TIMEOUT = 120.0

FULL_MODELS = ("logistic_full", "forest_full")  # every German Credit attribute but the excluded
FORMATS = ("json", "csv", "arrow", "parquet")
ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
MEDIA_TYPES = {"json": "application/json", "csv": "text/csv", "arrow": ARROW, "parquet": PARQUET}

TARGETS = {
    "single_p50_ms": 0.6,
    "single_p50_reasons_ms": 1.0,
    "health_p50_ms": 0.4,
    "throughput_rps": 2000.0,
    "batch_json_100k_ms": 60.0,
    "batch_csv_vs_json": 1.5,
    "batch_columnar_100k_ms": 15.0,
    "batch_forest_ratio": 1.3,
    "rss_mb": 200.0,
    "startup_s": 1.0,
}


@dataclass(frozen=True)
class Plan:
    """How much to measure: the full run, ``--quick`` or ``--smoke``."""

    name: str
    train_quick: bool  # quick-trained models (tiny grids): only for --smoke
    warmup: int  # requests before a latency series
    single: int  # requests per single-score latency series
    per_thread: int  # requests per thread at concurrency 8
    batch_sizes: tuple[int, ...]
    batch_runs: dict[int, int]  # timed runs per batch size (after one warm-up)
    startups: int  # cold starts per server, the median is reported
    floor_min_seconds: float  # minimum time per in-process measurement
    series_cap_seconds: float  # a latency or throughput series stops after this long


FULL = Plan(
    name="full",
    train_quick=False,
    warmup=200,
    single=2_000,
    per_thread=1_000,
    batch_sizes=SIZES,
    batch_runs={1: 21, 1_000: 9, 10_000: 7, 100_000: 5},
    startups=3,
    floor_min_seconds=0.4,
    series_cap_seconds=15.0,
)
QUICK = Plan(
    name="quick",
    train_quick=False,
    warmup=50,
    single=300,
    per_thread=100,
    batch_sizes=SIZES,
    batch_runs={1: 5, 1_000: 3, 10_000: 3, 100_000: 3},
    startups=1,
    floor_min_seconds=0.1,
    series_cap_seconds=10.0,
)
SMOKE = Plan(
    name="smoke",
    train_quick=True,
    warmup=3,
    single=20,
    per_thread=5,
    batch_sizes=(1, 1_000),
    batch_runs={1: 2, 1_000: 2},
    startups=1,
    floor_min_seconds=0.02,
    series_cap_seconds=5.0,
)


def log(message: str) -> None:
    """Progress goes to stderr; the report goes to stdout."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- child processes


class Child:
    """A server process started by this script, in its own session so Ctrl+C reaches us first."""

    registry: list[Child] = []  # noqa: RUF012 (every child of this run, to stop them all)

    def __init__(self, label: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.label = label
        self.log_path = log_path
        self._log = open(log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        Child.registry.append(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    def worker_pids(self) -> list[int]:
        """The master's child processes (gunicorn workers); empty for a single process."""
        return worker_pids(self.pid)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        stop_process(self.process, timeout)  # and the workers in its process group
        self._log.close()
        if self in Child.registry:
            Child.registry.remove(self)

    @classmethod
    def stop_all(cls) -> None:
        for child in list(cls.registry):
            try:
                child.stop()
            except Exception as error:  # keep stopping the others
                log(f"could not stop {child.label} (pid {child.pid}): {error}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def proc_memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process in MB, from /proc/<pid>/status."""
    values: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024.0
    except OSError:
        pass
    return values


def system_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (everything but idle and iowait)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


class CpuWatch:
    """How much CPU other processes on the machine used during a measurement, in cores.

    Busy time of the whole machine minus this process (all its threads) and the server
    processes: what is left is other work that competed with the measurement.
    """

    def __init__(self, pids: list[int]):
        self.pids = pids
        self.start = self._snapshot()

    def _snapshot(self) -> tuple[float, float, float]:
        try:
            busy = system_busy_seconds()
        except OSError:
            busy = float("nan")
        return time.perf_counter(), busy, time.process_time() + cpu_seconds(self.pids)

    def background_cores(self) -> float:
        wall0, busy0, own0 = self.start
        wall1, busy1, own1 = self._snapshot()
        if wall1 - wall0 < 0.05:
            return float("nan")
        return max(0.0, ((busy1 - busy0) - (own1 - own0)) / (wall1 - wall0))


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def git_state() -> str:
    """The commit measured, and whether the working tree had uncommitted changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "server", "creditscorer"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout?)"
    if dirty:
        return f"{head} + {len(dirty)} uncommitted file(s) in server/ and creditscorer/"
    return f"{head} (server/ and creditscorer/ clean)"


# --------------------------------------------------------------------------- HTTP client


class Client:
    """One keep-alive HTTP/1.1 connection (``http.client``); reconnects when the server closes."""

    def __init__(self, port: int, timeout: float = REQUEST_TIMEOUT):
        self.port = port
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
        self.reconnects = 0

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers or {})
                response = self.conn.getresponse()
                data = response.read()
                if response.will_close:
                    self.reconnects += 1  # http.client opens a new connection next time
                return response.status, data
            except (http.client.RemoteDisconnected, ConnectionError):
                # The server closed an idle keep-alive connection; retry once on a new one.
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def wait_healthy(child: Child, port: int, started: float, timeout: float = START_TIMEOUT) -> float:
    """Poll /health until the first 200; return seconds since ``started``."""
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if child.process.poll() is not None:
            raise RuntimeError(f"{child.label} exited at start-up:\n{child.log_tail()}")
        conn = http.client.HTTPConnection(HOST, port, timeout=2)
        try:
            conn.request("GET", "/health")
            response = conn.getresponse()
            response.read()
            if response.status == 200:
                return time.perf_counter() - started
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.005)
    raise RuntimeError(f"{child.label} gave no 200 on /health within {timeout:.0f} s")


# --------------------------------------------------------------------------- statistics


def summarise(samples: list[float]) -> dict[str, float]:
    """Median, p99, mean and min of durations in seconds, returned in milliseconds."""
    if not samples:
        return {"n": 0, "p50": float("nan"), "p99": float("nan"), "mean": float("nan")}
    a = np.asarray(samples) * 1e3
    return {
        "n": len(samples),
        "p50": float(np.median(a)),
        "p99": float(np.percentile(a, 99)),
        "mean": float(a.mean()),
        "min": float(a.min()),
    }


def time_call(fn: Callable[[], Any], min_seconds: float, min_runs: int = 3) -> float:
    """Median wall time of ``fn`` in milliseconds, after one warm-up call."""
    fn()
    samples: list[float] = []
    spent = 0.0
    while len(samples) < min_runs or spent < min_seconds:
        t0 = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - t0
        samples.append(elapsed)
        spent += elapsed
        if len(samples) >= 10_000:
            break
    return float(np.median(samples) * 1e3)


# --------------------------------------------------------------------------- workload


def applicants(n: int, seed: int = 20261126) -> np.ndarray:
    """``n`` applicants drawn (with replacement) from the shipped training data."""
    from training.german import SEED_FEATURES
    from training.train import german_dataset

    data = german_dataset(SEED_FEATURES).X
    rng = np.random.default_rng(seed)
    return data[rng.integers(0, data.shape[0], n)]


def as_cells(X: np.ndarray) -> list[list[int | float]]:
    """Rows as a client sends them: whole numbers as integers."""
    return [[int(v) if float(v).is_integer() else float(v) for v in row] for row in X.tolist()]


def single_paths(prefix: str, model: str, X: np.ndarray, extra: str = "") -> list[str]:
    return [
        f"{prefix}?model={model}&duration={d}&amount={a}&age={g}{extra}"
        for d, a, g in as_cells(X[:64])
    ]


def json_batch(model: str, rows: list[list[int | float]]) -> bytes:
    return json.dumps({"model": model, "columns": list(FEATURES), "rows": rows}).encode()


def columnar_batch(kind: str, columns: dict[str, list[Any]]) -> bytes:
    """The table as an Arrow IPC stream or a Parquet file (pyarrow)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(columns)
    sink = pa.BufferOutputStream()
    if kind == "arrow":
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    else:
        pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def full_applicants(model_dir: Path, n: int, seed: int = 20261126) -> dict[str, list[Any]]:
    """``n`` full-attribute applicants from the training data, categories as their codes."""
    from creditscorer import ModelStore
    from training.german import FULL_FEATURES
    from training.train import german_dataset

    card = ModelStore(model_dir).get(FULL_MODELS[0]).card
    data = german_dataset(FULL_FEATURES).X
    picked = data[np.random.default_rng(seed).integers(0, data.shape[0], n)]
    columns: dict[str, list[Any]] = {}
    for j, spec in enumerate(card.features):
        values = picked[:, j]
        if spec.is_category:
            codes = np.array([c.code for c in spec.categories], dtype=object)
            columns[spec.name] = codes[values.astype(int)].tolist()
        else:
            columns[spec.name] = [int(v) if float(v).is_integer() else float(v) for v in values]
    return columns


def csv_batch(rows: list[list[int | float]]) -> bytes:
    lines = [",".join(FEATURES)] + [",".join(map(str, r)) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode()


# --------------------------------------------------------------------------- measurements


def latency_series(
    port: int, paths: list[str], n: int, warmup: int, cap: float, pids: list[int]
) -> dict:
    """Sequential GETs over one keep-alive connection; per-request wall time."""
    client = Client(port)
    samples: list[float] = []
    errors = 0
    try:
        for i in range(warmup):
            status, _ = client.request("GET", paths[i % len(paths)])
            errors += status != 200
        watch = CpuWatch(pids)
        deadline = time.perf_counter() + cap
        for i in range(n):
            path = paths[i % len(paths)]
            t0 = time.perf_counter()
            status, _ = client.request("GET", path)
            samples.append(time.perf_counter() - t0)
            errors += status != 200
            if t0 > deadline:
                break
    finally:
        client.close()
    result = summarise(samples)
    result["errors"] = errors
    result["reconnects"] = client.reconnects
    result["background_cores"] = watch.background_cores()
    return result


def throughput_series(
    port: int, paths: list[str], per_thread: int, cap: float, server_pids: list[int]
) -> dict:
    """CONCURRENCY threads, each with its own keep-alive connection and ``per_thread`` GETs."""
    barrier = threading.Barrier(CONCURRENCY + 1)
    stop_at = [float("inf")]
    results: list[dict[str, Any]] = [{} for _ in range(CONCURRENCY)]

    def worker(k: int) -> None:
        client = Client(port)
        samples: list[float] = []
        errors = 0
        failed = False
        try:
            for i in range(3):  # open and warm the connection before the clock starts
                client.request("GET", paths[(k + i) % len(paths)])
            client.reconnects = 0
        except Exception as error:
            results[k]["exception"] = repr(error)
            failed = True
        barrier.wait(timeout=60)
        try:
            for i in range(per_thread if not failed else 0):
                t0 = time.perf_counter()
                status, _ = client.request("GET", paths[(k * 7 + i) % len(paths)])
                samples.append(time.perf_counter() - t0)
                errors += status != 200
                if t0 > stop_at[0]:
                    break
        except Exception as error:  # reported, not raised: the other threads carry on
            results[k]["exception"] = repr(error)
        finally:
            client.close()
        results[k].update(samples=samples, errors=errors, reconnects=client.reconnects)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(CONCURRENCY)]
    for t in threads:
        t.start()
    barrier.wait(timeout=60)
    cpu_client0, cpu_server0 = time.process_time(), cpu_seconds(server_pids)
    watch = CpuWatch(server_pids)
    t0 = time.perf_counter()
    stop_at[0] = t0 + cap
    for t in threads:
        t.join(timeout=cap + REQUEST_TIMEOUT)
    elapsed = time.perf_counter() - t0
    cpu_client = time.process_time() - cpu_client0
    cpu_server = cpu_seconds(server_pids) - cpu_server0
    samples = [s for r in results for s in r.get("samples", [])]
    done = len(samples)
    result = summarise(samples)
    result.update(
        requests=done,
        seconds=elapsed,
        rps=done / elapsed if elapsed > 0 else float("nan"),
        errors=sum(r.get("errors", 0) for r in results),
        reconnects=sum(r.get("reconnects", 0) for r in results),
        exceptions=[r["exception"] for r in results if "exception" in r],
        client_cpu_ms_per_req=cpu_client / done * 1e3 if done else float("nan"),
        server_cpu_ms_per_req=cpu_server / done * 1e3 if done else float("nan"),
        background_cores=watch.background_cores(),
    )
    return result


def batch_series(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    runs: int,
    check: Callable,
    pids: list[int],
) -> dict:
    """POST the same batch ``runs`` times after one checked warm-up; request to last byte."""
    client = Client(port)
    try:
        status, reply = client.request("POST", path, body, headers)
        if status != 200:
            raise RuntimeError(f"POST {path} answered {status}: {reply[:300]!r}")
        check(reply)
        watch = CpuWatch(pids)
        cpu0 = cpu_seconds(pids)
        samples = []
        for _ in range(runs):
            t0 = time.perf_counter()
            status, reply = client.request("POST", path, body, headers)
            samples.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"POST {path} answered {status}")
    finally:
        client.close()
    result = summarise(samples)
    result.update(
        request_bytes=len(body),
        reply_bytes=len(reply),
        background_cores=watch.background_cores(),
        server_cpu_ms=(cpu_seconds(pids) - cpu0) / runs * 1e3 if pids else float("nan"),
    )
    return result


def check_json_rows(n: int) -> Callable[[bytes], None]:
    def check(reply: bytes) -> None:
        body = json.loads(reply)
        if len(body["rows"]) != n:
            raise RuntimeError(f"expected {n} result rows, got {len(body['rows'])}")
        failed = body.get("summary", {}).get("failed", 0)
        if failed:
            raise RuntimeError(f"{failed} of {n} rows failed: {body['rows'][:2]}")

    return check


def check_csv_rows(n: int) -> Callable[[bytes], None]:
    def check(reply: bytes) -> None:
        lines = reply.decode().strip().splitlines()
        if len(lines) != n + 1:
            raise RuntimeError(f"expected {n} CSV result rows, got {len(lines) - 1}")

    return check


def check_columnar_rows(kind: str, n: int) -> Callable[[bytes], None]:
    def check(reply: bytes) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if kind == "arrow":
            with pa.ipc.open_stream(pa.py_buffer(reply)) as reader:
                table = reader.read_all()
        else:
            table = pq.read_table(pa.BufferReader(reply))
        if table.num_rows != n or table.column("error").null_count != n:
            raise RuntimeError(f"expected {n} {kind} result rows without errors")

    return check


def check_reply(fmt: str, n: int) -> Callable[[bytes], None]:
    if fmt == "json":
        return check_json_rows(n)
    if fmt == "csv":
        return check_csv_rows(n)
    return check_columnar_rows(fmt, n)


def batch_request(ctx: Context, name: str, fmt: str, n: int) -> tuple[str, bytes, dict]:
    """Path, body and headers of one batch; the reply comes in the request's format."""
    if fmt == "json":
        return (
            "/v1/predict/batch",
            ctx.bodies[("json", name, n)],
            {"Content-Type": MEDIA_TYPES[fmt]},
        )
    return (
        f"/v1/predict/batch?model={name}",
        ctx.bodies[(fmt, name, n)],
        {"Content-Type": MEDIA_TYPES[fmt], "Accept": MEDIA_TYPES[fmt]},
    )


# --------------------------------------------------------------------------- the run


@dataclass
class Context:
    plan: Plan
    model_dir: Path
    work: Path
    env: dict[str, str]
    X: np.ndarray  # the largest batch; smaller batches are its first rows
    rows: list[list[int | float]]
    bodies: dict[tuple[str, str, int], bytes]
    full: dict[str, list[Any]] | None = None  # full-attribute applicants, by column


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    from importlib.metadata import version

    def ver(name: str) -> str:
        try:
            return version(name)
        except Exception:
            return "not installed"

    blas = []
    with contextlib.suppress(Exception):
        import sklearn.ensemble  # noqa: F401 (loads the OpenMP runtime too)
        from threadpoolctl import threadpool_info

        blas = [
            f"{i.get('internal_api')} {i.get('version') or ''} threads={i.get('num_threads')}"
            for i in threadpool_info()
        ]
    try:
        import pandas  # noqa: F401

        pandas_state = "installed"
    except ImportError:
        pandas_state = "not installed"
    return {
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "numpy": ver("numpy"),
        "onnxruntime": ver("onnxruntime"),
        "scikit-learn": ver("scikit-learn"),
        "flask": ver("flask"),
        "waitress": ver("waitress"),
        "granian": ver("granian"),
        "pyarrow": ver("pyarrow"),
        "gunicorn": ver("gunicorn"),
        "pandas": pandas_state,
        "threadpools": blas,
        "env": {
            k: os.environ.get(k, "(unset)")
            for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
        },
        "creditscorer_env": {
            k: v
            for k, v in os.environ.items()
            if k.startswith("CREDITSCORER_") and k != "CREDITSCORER_MODEL_DIR"
        },
    }


def prepare_models(args: argparse.Namespace, plan: Plan, work: Path) -> tuple[Path, str]:
    if args.model_dir:
        return args.model_dir.resolve(), f"reused {args.model_dir}"
    out = work / "models"
    argv = [sys.executable, "-m", "training", "--out", str(out)]
    if plan.train_quick:
        argv.append("--quick")
    log(f"training {'quick' if plan.train_quick else 'full'} models into {out} ...")
    t0 = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, timeout=600)
    how = "quick-trained (tiny grids)" if plan.train_quick else "fully trained"
    return out, f"{how} into a temporary folder in {time.perf_counter() - t0:.0f} s"


def measure_floor(ctx: Context) -> dict[str, Any]:
    """In-process: ONNX vs scikit-learn predict, score_one with and without reasons."""
    from creditscorer import ModelStore

    threads = int(os.environ.get("CREDITSCORER_ONNX_THREADS", "1") or 1)
    store = ModelStore(ctx.model_dir, threads=threads)
    record = dict(zip(FEATURES, ctx.rows[0], strict=True))
    floor: dict[str, Any] = {"onnx_threads": threads}
    for name in MODELS:
        model = store.get(name)
        model.sklearn_pipeline()  # load (verified) outside the timings
        entry: dict[str, Any] = {"version": model.version, "onnx": {}, "sklearn": {}}
        for n in sorted({1, *ctx.plan.batch_sizes, 100_000}):
            X = np.ascontiguousarray(ctx.X[:n])
            budget = ctx.plan.floor_min_seconds
            entry["onnx"][n] = time_call(lambda X=X, m=model: m.predict_proba(X), budget)
            entry["sklearn"][n] = time_call(lambda X=X, m=model: m.predict_proba_sklearn(X), budget)
        entry["score_one_reasons"] = time_call(
            lambda m=model: m.score_one(record, with_reasons=True), ctx.plan.floor_min_seconds
        )
        entry["score_one_plain"] = time_call(
            lambda m=model: m.score_one(record, with_reasons=False), ctx.plan.floor_min_seconds
        )
        floor[name] = entry
        log(
            f"floor {name}: ONNX 1 row {entry['onnx'][1]:.3f} ms, 100k {entry['onnx'][100_000]:.1f}"
            f" ms; sklearn 1 row {entry['sklearn'][1]:.3f} ms, 100k"
            f" {entry['sklearn'][100_000]:.1f} ms"
        )
    if ctx.full is not None:
        from creditscorer.validation import validate_table

        n = len(next(iter(ctx.full.values())))
        record = {k: v[0] for k, v in ctx.full.items()}
        for name in FULL_MODELS:
            model = store.get(name)
            X = validate_table(model.card.features, ctx.full, n).X
            budget = ctx.plan.floor_min_seconds
            floor[name] = {
                "version": model.version,
                "onnx": {n: time_call(lambda X=X, m=model: m.predict_proba(X), budget)},
                "score_one_reasons": time_call(
                    lambda m=model: m.score_one(record, with_reasons=True), budget
                ),
                "score_one_plain": time_call(
                    lambda m=model: m.score_one(record, with_reasons=False), budget
                ),
            }
            log(f"floor {name}: score_one+reasons {floor[name]['score_one_reasons']:.3f} ms")
    return floor


def start_server(ctx: Context, kind: str, k: int) -> tuple[Child, int, float]:
    """Start one server of ``kind``; return it, its port and the start-up time in seconds."""
    port = free_port()
    py = sys.executable
    if kind == "granian":  # the default of python -m server
        argv = [py, "-m", "server", "--host", HOST, "--port", str(port)]
    elif kind == "granian2":
        argv = [py, "-m", "server", "--host", HOST, "--port", str(port), "--workers", "2"]
    elif kind == "waitress":  # the previous default
        argv = [py, "-m", "server", "--host", HOST, "--port", str(port), "--server", "waitress"]
    elif kind in ("gunicorn", "gthread"):
        conf = ctx.work / "gunicorn_bench_conf.py"  # empty: flags only, no project config file
        conf.write_text("# flags are passed on the command line\n")
        argv = [
            py, "-m", "gunicorn", "-c", str(conf), "-w", "2", "-b", f"{HOST}:{port}",
            "--log-level", "warning",
        ]  # fmt: skip
        if gunicorn_major() >= 25:  # its control socket has one fixed path per user: stay off it
            argv.append("--no-control-socket")
        if kind == "gthread":  # the worker model of deploy/gunicorn.conf.py
            argv += ["-k", "gthread", "--threads", "4", "--keep-alive", "5"]
        argv.append("server.wsgi:app")
    elif kind == "naive":
        argv = [
            py, str(ROOT / "bench" / "naive_app.py"), "--model-dir", str(ctx.model_dir),
            "--host", HOST, "--port", str(port),
        ]  # fmt: skip
    else:
        raise ValueError(kind)
    t0 = time.perf_counter()
    child = Child(f"{kind}#{k}", argv, ctx.env, ctx.work / f"{kind}.log")
    seconds = wait_healthy(child, port, t0)
    if kind in ("gunicorn", "granian2"):  # wait until both workers exist, for memory
        deadline = time.perf_counter() + START_TIMEOUT
        while len(child.worker_pids()) < 2 and time.perf_counter() < deadline:
            time.sleep(0.01)
    return child, port, seconds


def start_measured(ctx: Context, kind: str) -> tuple[Child, int, dict[str, Any]]:
    """Cold-start the server ``plan.startups`` times; keep the last one running.

    One uncounted start comes first: it writes the bytecode of every module the server
    imports (see ``PYCACHE``), as any installed copy has it, so that the counted starts
    measure the server and not the compiler.
    """
    times = []
    child = port = None
    warm, _, _ = start_server(ctx, kind, -1)
    warm.stop()
    for k in range(ctx.plan.startups):
        if child is not None:
            child.stop()
        child, port, seconds = start_server(ctx, kind, k)
        times.append(seconds)
    assert child is not None
    assert port is not None
    log(f"{kind}: start-up {', '.join(f'{t:.2f}' for t in times)} s")
    return child, port, {"runs": times, "median": float(np.median(times))}


def pids_of(child: Child) -> list[int]:
    workers = child.worker_pids()
    return workers or [child.pid]


def measure_ours(ctx: Context, results: dict[str, Any], kind: str = "granian") -> None:
    """One single-process server: the default (granian, every figure) or the previous
    default (waitress: singles, throughput, and the 100,000-row JSON and CSV batches)."""
    plan = ctx.plan
    key = "ours" if kind == "granian" else "previous"
    child, port, startup = start_measured(ctx, kind)
    results["startup"][kind] = startup
    pids = pids_of(child)
    try:
        single: dict[str, Any] = {}
        for name in MODELS:
            for reasons in (True, False):
                extra = "" if reasons else "&reasons=false"
                paths = single_paths("/v1/predict", name, ctx.X, extra)
                series = latency_series(
                    port, paths, plan.single, plan.warmup, plan.series_cap_seconds, pids
                )
                single[f"{name}|{reasons}"] = series
                log(
                    f"{kind} single {name} reasons={reasons}: p50 {series['p50']:.3f} ms,"
                    f" p99 {series['p99']:.3f} ms"
                )
        single["health"] = latency_series(
            port, ["/health"], plan.single, plan.warmup, plan.series_cap_seconds, pids
        )
        if kind == "granian" and ctx.full is not None:
            for name in FULL_MODELS:
                paths = full_paths(name, ctx.full)
                series = latency_series(
                    port, paths, plan.single, plan.warmup, plan.series_cap_seconds, pids
                )
                single[f"{name}|True"] = series
                log(f"{kind} single {name} reasons=True: p50 {series['p50']:.3f} ms")
        results["single"][key] = single
        conc: dict[str, Any] = {}
        for name in MODELS:
            for reasons in (True, False):
                extra = "" if reasons else "&reasons=false"
                paths = single_paths("/v1/predict", name, ctx.X, extra)
                series = throughput_series(
                    port, paths, plan.per_thread, plan.series_cap_seconds, pids
                )
                conc[f"{name}|{reasons}"] = series
                log(f"{kind} c8 {name} reasons={reasons}: {series['rps']:.0f} req/s")
        results["throughput"][kind] = conc
        batch: dict[str, Any] = {}
        largest = max(plan.batch_sizes)
        formats = FORMATS if kind == "granian" else ("json", "csv")
        sizes = plan.batch_sizes if kind == "granian" else (largest,)
        for name in MODELS:
            for fmt in formats:
                for n in sizes:
                    path, body, headers = batch_request(ctx, name, fmt, n)
                    series = batch_series(
                        port, path, body, headers, plan.batch_runs[n], check_reply(fmt, n), pids
                    )
                    batch[f"{name}|{fmt}|{n}"] = series
                    log(f"{kind} batch {name} {fmt} {n}: {series['p50']:.1f} ms")
        if kind == "granian" and ctx.full is not None:
            for name in FULL_MODELS:
                for fmt in ("json", "arrow"):
                    path, body, headers = batch_request(ctx, name, fmt, largest)
                    series = batch_series(
                        port,
                        path,
                        body,
                        headers,
                        plan.batch_runs[largest],
                        check_reply(fmt, largest),
                        pids,
                    )
                    batch[f"{name}|{fmt}|{largest}"] = series
                    log(f"{kind} batch {name} {fmt} {largest}: {series['p50']:.1f} ms")
        results["batch"][key] = batch
        results["memory"][kind] = [proc_memory(pid) for pid in pids]
    finally:
        child.stop()


def full_paths(name: str, full: dict[str, list[Any]]) -> list[str]:
    from urllib.parse import urlencode

    n = min(64, len(next(iter(full.values()))))
    return [
        "/v1/predict?" + urlencode({"model": name, **{k: v[i] for k, v in full.items()}})
        for i in range(n)
    ]


def gunicorn_major() -> int:
    from importlib.metadata import version

    try:
        return int(version("gunicorn").split(".")[0])
    except Exception:
        return 0


def measure_gunicorn(ctx: Context, results: dict[str, Any], kind: str) -> None:
    """``gunicorn -w 2``: sync workers (``kind="gunicorn"``) or gthread workers with 4 threads."""
    plan = ctx.plan
    child, port, startup = start_measured(ctx, kind)
    results["startup"][kind] = startup
    try:
        conc: dict[str, Any] = {}
        for name in MODELS:
            for reasons in (True, False):
                extra = "" if reasons else "&reasons=false"
                paths = single_paths("/v1/predict", name, ctx.X, extra)
                series = throughput_series(
                    port, paths, plan.per_thread, plan.series_cap_seconds, pids_of(child)
                )
                conc[f"{name}|{reasons}"] = series
                log(f"{kind} c8 {name} reasons={reasons}: {series['rps']:.0f} req/s")
        results["throughput"][kind] = conc
        if kind in ("gthread", "granian2"):
            results["memory"][kind] = [proc_memory(pid) for pid in child.worker_pids()]
            return
        # The largest batches, from 2 clients at once so that both workers do one.
        n = max(plan.batch_sizes)
        batch: dict[str, Any] = {}
        for name in MODELS:
            body = ctx.bodies[("json", name, n)]
            holder: dict[int, Any] = {}

            def run(k: int, body: bytes = body, holder: dict[int, Any] = holder) -> None:
                holder[k] = batch_series(
                    port,
                    "/v1/predict/batch",
                    body,
                    {"Content-Type": "application/json"},
                    max(1, plan.batch_runs[n] // 2),
                    check_json_rows(n),
                    [],  # two at once: the background figure would count the other
                )

            pair = [threading.Thread(target=run, args=(k,), daemon=True) for k in (0, 1)]
            for t in pair:
                t.start()
            for t in pair:
                t.join(timeout=600)
            if len(holder) != 2:
                raise RuntimeError(f"gunicorn batch {name} {n} did not finish")
            batch[f"{name}|json|{n}"] = holder[0]
            log(f"gunicorn batch {name} json {n} (2 at once): {holder[0]['p50']:.1f} ms")
        results["batch"]["gunicorn_pair"] = batch
        results["memory"]["gunicorn"] = [proc_memory(pid) for pid in child.worker_pids()]
        results["memory"]["gunicorn_master"] = [proc_memory(child.pid)]
    finally:
        child.stop()


def measure_naive(ctx: Context, results: dict[str, Any]) -> None:
    plan = ctx.plan
    child, port, startup = start_measured(ctx, "naive")
    results["startup"]["naive"] = startup
    try:
        conn = http.client.HTTPConnection(HOST, port, timeout=10)
        conn.request("GET", "/health")
        results["naive_frame"] = json.loads(conn.getresponse().read())["frame"]
        conn.close()
        single: dict[str, Any] = {}
        conc: dict[str, Any] = {}
        for name in MODELS:
            paths = single_paths("/predict", name, ctx.X)
            series = latency_series(
                port, paths, plan.single, plan.warmup, plan.series_cap_seconds, [child.pid]
            )
            single[f"{name}|False"] = series
            log(f"naive single {name}: p50 {series['p50']:.3f} ms, p99 {series['p99']:.3f} ms")
        for name in MODELS:
            paths = single_paths("/predict", name, ctx.X)
            series = throughput_series(
                port, paths, plan.per_thread, plan.series_cap_seconds, [child.pid]
            )
            conc[f"{name}|False"] = series
            log(f"naive c8 {name}: {series['rps']:.0f} req/s")
        single["health"] = latency_series(
            port, ["/health"], plan.single, plan.warmup, plan.series_cap_seconds, [child.pid]
        )
        results["single"]["naive"] = single
        results["throughput"]["naive"] = conc
        batch: dict[str, Any] = {}
        for name in MODELS:
            for n in plan.batch_sizes:
                if n == 1:
                    continue
                body = ctx.bodies[("json", name, n)]
                series = batch_series(
                    port,
                    "/predict/batch",
                    body,
                    {"Content-Type": "application/json"},
                    plan.batch_runs[n],
                    check_json_rows(n),
                    [child.pid],
                )
                batch[f"{name}|json|{n}"] = series
                log(f"naive batch {name} json {n}: {series['p50']:.1f} ms")
        results["batch"]["naive"] = batch
        results["memory"]["naive"] = [proc_memory(child.pid)]
    finally:
        child.stop()


# --------------------------------------------------------------------------- the report


def fmt_ms(value: float | None) -> str:
    if value is None or value != value:
        return "—"
    if value < 1:
        return f"{value:.3f}"
    if value < 10:
        return f"{value:.2f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def fmt_cores(value: float | None) -> str:
    return "?" if value is None or value != value else f"{value:.2f}"


def fmt_x(value: float | None) -> str:
    if value is None or value != value or value == float("inf"):
        return "—"
    return f"{value:.2f}×" if value < 10 else f"{value:.0f}×"


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0 or a != a or b != b:
        return None
    return a / b


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(headers)]
    out = [
        "  ".join(
            h.ljust(w) if j == 0 else h.rjust(w)
            for j, (h, w) in enumerate(zip(headers, widths, strict=True))
        )
    ]
    out.append("  ".join("-" * w for w in widths))
    for r in rows:
        out.append(
            "  ".join(
                c.ljust(w) if j == 0 else c.rjust(w)
                for j, (c, w) in enumerate(zip(r, widths, strict=True))
            )
        )
    return "\n".join(out)


def get(d: dict[str, Any], *keys: Any) -> Any:
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def report(results: dict[str, Any]) -> str:
    m = results["machine"]
    plan = results["plan"]
    floor = results["floor"]
    out = io.StringIO()

    def p(text: str = "") -> None:
        print(text, file=out)

    p(f"CreditScorer benchmark — {results['started']} — plan: {plan['name']}")
    p(f"command: {results['command']}")
    p(f"code: {results['git']}")
    p(
        f"load average at start {results['load_start']}, at end {results['load_end']}; "
        f"other processes used {fmt_cores(results.get('background_mean'))} cores on average "
        f"(worst series {fmt_cores(results.get('background_max'))}) while we measured"
    )
    if (results.get("background_mean") or 0) > 0.2:
        p("  WARNING: other work competed for the CPU during this run; figures are pessimistic.")
    p()
    p("== Machine ==")
    p(f"nproc {m['nproc']} (affinity {m['affinity']}); CPU {m['cpu']}; Linux {m['kernel']}")
    p(
        f"python {m['python']}, numpy {m['numpy']}, onnxruntime {m['onnxruntime']}, "
        f"scikit-learn {m['scikit-learn']}, flask {m['flask']}, waitress {m['waitress']}, "
        f"gunicorn {m['gunicorn']}, granian {m['granian']}, pyarrow {m['pyarrow']}, "
        f"pandas {m['pandas']}"
    )
    env = ", ".join(f"{k}={v}" for k, v in m["env"].items())
    p(f"OPENBLAS note: {env}.")
    p("  Unset means OpenBLAS/OpenMP start one thread per core: the scikit-learn figures")
    p("  (in-process and the naive server) may use them; ONNX Runtime uses")
    p(
        f"  CREDITSCORER_ONNX_THREADS={floor['onnx_threads']} intra-op thread(s) "
        "in the server and here."
    )
    for pool in m["threadpools"]:
        p(f"  threadpool: {pool}")
    if m["creditscorer_env"]:
        p(f"CREDITSCORER_* settings in effect: {m['creditscorer_env']}")
    p(
        f"models: {results['models_note']}; versions "
        + ", ".join(f"{n} {floor[n]['version']}" for n in MODELS)
    )
    p(
        f"naive baseline: bench/naive_app.py under waitress (4 threads), joblib pipeline, "
        f"{results.get('naive_frame', '?')}, sklearn predict_proba, flask.jsonify"
    )
    p(
        f"load: single = {plan['single']} sequential GETs on one keep-alive connection after "
        f"{plan['warmup']} warm-up; c8 = {CONCURRENCY} threads × {plan['per_thread']} GETs,"
    )
    p("  one keep-alive connection each (Python http.client on the same cores as the server)")
    p()

    p("== In-process floor (median ms per call, this process) ==")
    rows = []
    for name in MODELS:
        f = floor[name]
        for n in sorted(f["onnx"], key=int):
            o, s = f["onnx"][n], f["sklearn"][n]
            rows.append(
                [f"{name} predict {int(n):,} row(s)", fmt_ms(o), fmt_ms(s), fmt_x(ratio(s, o))]
            )
        rows.append([f"{name} score_one + reasons", fmt_ms(f["score_one_reasons"]), "", ""])
        rows.append([f"{name} score_one, no reasons", fmt_ms(f["score_one_plain"]), "", ""])
    p(table(["call", "ONNX ms", "sklearn ms", "sklearn/ONNX"], rows))
    p()

    p("== Start-up (process start -> first 200 on /health, median of cold starts) ==")
    p("(bytecode cached by one uncounted start first, as an installed copy has it)")
    rows = []
    for kind, label in SERVER_LABELS:
        s = results["startup"].get(kind)
        if s:
            runs = ", ".join(f"{t:.2f}" for t in s["runs"])
            rows.append([label, f"{s['median']:.2f}", runs])
    p(table(["server", "median s", "runs s"], rows))
    p()

    p("== Single-score latency, one keep-alive connection (ms) ==")
    rows = []
    for name in (*MODELS, *FULL_MODELS):
        for reasons in (True, False):
            ours = get(results, "single", "ours", f"{name}|{reasons}")
            if ours is None:
                continue
            prev = get(results, "single", "previous", f"{name}|{reasons}") or {}
            naive = get(results, "single", "naive", f"{name}|False") if not reasons else None
            inproc = get(floor, name, "score_one_reasons" if reasons else "score_one_plain")
            rows.append(
                [
                    f"{name} {'with' if reasons else 'no'} reasons",
                    fmt_ms(inproc),
                    fmt_ms(ours.get("p50")),
                    fmt_ms(ours.get("p99")),
                    fmt_ms(prev.get("p50")),
                    fmt_ms(naive and naive["p50"]),
                    fmt_x(ratio(naive and naive["p50"], ours.get("p50"))),
                ]
            )
    ours = get(results, "single", "ours", "health") or {}
    prev = get(results, "single", "previous", "health") or {}
    naive = get(results, "single", "naive", "health") or {}
    rows.append(
        [
            "GET /health (no scoring)",
            "",
            fmt_ms(ours.get("p50")),
            fmt_ms(ours.get("p99")),
            fmt_ms(prev.get("p50")),
            fmt_ms(naive.get("p50")),
            fmt_x(ratio(naive.get("p50"), ours.get("p50"))),
        ]
    )
    p(
        table(
            [
                "request",
                "in-proc",
                "ours p50",
                "ours p99",
                "previous p50",
                "naive p50",
                "naive/ours",
            ],
            rows,
        )
    )
    p("  ours = python -m server (granian); previous = the previous default, waitress, same app;")
    p("  naive has no reasons: it is compared on the no-reasons rows; /health is each server's")
    p("  own cheapest route, the HTTP + framework floor that a score cannot go below")
    p()

    p(f"== Throughput at concurrency {CONCURRENCY} (requests/s; server CPU ms per request) ==")
    kinds = ("granian", "waitress", "granian2", "gunicorn", "gthread")
    rows = []
    for name in MODELS:
        for reasons in (True, False):
            key = f"{name}|{reasons}"
            row = [f"{name} {'with' if reasons else 'no'} reasons"]
            for kind in kinds:
                s = get(results, "throughput", kind, key) or {}
                row += [
                    f"{s.get('rps', float('nan')):,.0f}",
                    fmt_ms(s.get("server_cpu_ms_per_req")),
                ]
            nv = get(results, "throughput", "naive", f"{name}|False") if not reasons else None
            row += [f"{nv['rps']:,.0f}" if nv else "—", fmt_ms(nv and nv["server_cpu_ms_per_req"])]
            rows.append(row)
    headers = ["request"]
    for label in ("granian 1w", "waitress", "granian 2w", "gunicorn 2w", "gthread 2w×4", "naive"):
        headers += [label, "cpu/req"]
    p(table(headers, rows))
    notes = []
    for server in (*kinds, "naive"):
        for key, s in (get(results, "throughput", server) or {}).items():
            if s.get("errors") or s.get("exceptions"):
                notes.append(f"{server} {key}: {s['errors']} non-200, exceptions {s['exceptions']}")
            if s.get("reconnects"):
                notes.append(f"{server} {key}: {s['reconnects']} new connections (server closed)")
    cpu = [s["client_cpu_ms_per_req"] for sv in results["throughput"].values() for s in sv.values()]
    if cpu:
        p(
            f"  the load generator itself used {min(cpu):.2f}–{max(cpu):.2f} ms CPU per request "
            "on the same cores"
        )
    for note in notes[:8]:
        p(f"  note: {note}")
    p()

    p(
        "== Batch latency, POST to last byte (median ms; reply in the request's format) "
        "vs in-process ONNX predict of the same rows =="
    )
    rows = []
    for name in MODELS:
        for n in plan["batch_sizes"]:
            o = floor[name]["onnx"].get(n)
            row = [f"{name} {n:,}", fmt_ms(o)]
            for fmt in FORMATS:
                row.append(
                    fmt_ms((get(results, "batch", "ours", f"{name}|{fmt}|{n}") or {}).get("p50"))
                )
            j = get(results, "batch", "ours", f"{name}|json|{n}") or {}
            row.append(fmt_x(ratio(j.get("p50"), o)))
            for key, fmt in (("previous", "json"), ("previous", "csv"), ("naive", "json")):
                row.append(
                    fmt_ms((get(results, "batch", key, f"{name}|{fmt}|{n}") or {}).get("p50"))
                )
            rows.append(row)
    p(
        table(
            [
                "model rows",
                "ONNX",
                "JSON",
                "CSV",
                "Arrow",
                "Parquet",
                "JSON/ONNX",
                "prev JSON",
                "prev CSV",
                "naive JSON",
            ],
            rows,
        )
    )
    p("  JSON = {columns, rows} in, JSON table out; CSV, Arrow IPC stream, Parquet: that format in")
    p("  and out (input echoed, then the results); prev = the previous default server (waitress)")
    pair = get(results, "batch", "gunicorn_pair") or {}
    for key, s in pair.items():
        name, _, n = key.split("|")
        p(
            f"  gunicorn -w 2, two {int(n):,}-row {name} JSON batches at once: "
            f"{fmt_ms(s['p50'])} ms each"
        )
    p()

    if any(name in floor for name in FULL_MODELS):
        p("== Full-attribute models (every German Credit attribute but the excluded ones) ==")
        rows = []
        for name in FULL_MODELS:
            if name not in floor:
                continue
            f = floor[name]
            n = max(int(k) for k in f["onnx"])
            single = get(results, "single", "ours", f"{name}|True") or {}
            j = get(results, "batch", "ours", f"{name}|json|{n}") or {}
            a = get(results, "batch", "ours", f"{name}|arrow|{n}") or {}
            rows.append(
                [
                    name,
                    fmt_ms(f["score_one_reasons"]),
                    fmt_ms(single.get("p50")),
                    fmt_ms(f["onnx"][n] if n in f["onnx"] else f["onnx"][str(n)]),
                    fmt_ms(j.get("p50")),
                    fmt_ms(a.get("p50")),
                ]
            )
        p(
            table(
                [
                    "model",
                    "score+reasons in-proc",
                    "single+reasons p50",
                    f"predict {n:,} in-proc",
                    f"{n:,} JSON",
                    f"{n:,} Arrow",
                ],
                rows,
            )
        )
        p()

    p("== Memory (RSS after the batch runs, MB; peak = VmHWM) ==")
    rows = []
    for kind, label in SERVER_LABELS:
        mems = results["memory"].get(kind, [])
        for k, mem in enumerate(mems):
            suffix = f" worker {k + 1}" if len(mems) > 1 else ""
            rows.append(
                [
                    label + suffix,
                    f"{mem.get('VmRSS', float('nan')):.0f}",
                    f"{mem.get('VmHWM', float('nan')):.0f}",
                ]
            )
    p(table(["process", "RSS MB", "peak MB"], rows))
    p()

    p("== Targets (benchmark figures on this machine) ==")
    rows = [
        [t["target"], t["figure"], "met" if t["met"] else "NOT MET"] for t in results["targets"]
    ]
    p(table(["target", "ours", "verdict"], rows))
    p()
    p("The same targets' figures for the previous default and the naive app (—: no such figure):")
    rows = [
        [t["target"], t["figure"], t.get("previous", "—"), t.get("naive", "—")]
        for t in results["targets"]
    ]
    p(table(["target", "ours", "previous default (waitress, 1 process)", "naive"], rows))
    p(f"\ntotal benchmark time {results['seconds']:.0f} s")
    return out.getvalue()


SERVER_LABELS = (
    ("granian", "ours, python -m server (granian)"),
    ("waitress", "previous default, python -m server --server waitress"),
    ("granian2", "ours, python -m server --workers 2"),
    ("gunicorn", "ours, gunicorn -w 2 (sync)"),
    ("gthread", "ours, gunicorn -w 2 -k gthread --threads 4"),
    ("naive", "naive baseline (waitress)"),
)


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    t = TARGETS
    floor = results["floor"]
    targets = []

    def shown(value: float | None, unit: str) -> str:
        if value is None or value != value:
            return "—"
        if unit == "req/s":
            return f"{value:,.0f} {unit}"
        if unit == "ms":
            return f"{fmt_ms(value)} {unit}"
        return f"{value:.2f} {unit}"

    def add(
        target: str,
        value: float | None,
        limit: float,
        unit: str,
        higher_is_better: bool = False,
        previous: float | None = None,
        naive: float | None = None,
    ) -> None:
        """One target: our figure and verdict, beside the previous default's and the naive app's
        figure for the same measurement where they were measured (— where not)."""
        others = {"previous": shown(previous, unit), "naive": shown(naive, unit)}
        if value is None or value != value:
            targets.append(
                {"target": target, "figure": "not measured", "met": False, "value": None, **others}
            )
            return
        met = value >= limit if higher_is_better else value <= limit
        targets.append(
            {"target": target, "figure": shown(value, unit), "met": met, "value": value, **others}
        )

    def p50(*keys: str) -> float | None:
        return (get(results, *keys) or {}).get("p50")

    def rps(kind: str, key: str) -> float | None:
        return (get(results, "throughput", kind, key) or {}).get("rps")

    for name in (*MODELS, *FULL_MODELS):
        if name in FULL_MODELS and name not in floor:
            continue
        add(
            f"single p50 ≤ {t['single_p50_reasons_ms']} ms, {name}, default (reasons + log row)",
            p50("single", "ours", f"{name}|True"),
            t["single_p50_reasons_ms"],
            "ms",
            previous=p50("single", "previous", f"{name}|True"),
        )
        if name in MODELS:
            add(
                f"single p50 ≤ {t['single_p50_ms']} ms, {name}, no reasons",
                p50("single", "ours", f"{name}|False"),
                t["single_p50_ms"],
                "ms",
                previous=p50("single", "previous", f"{name}|False"),
                naive=p50("single", "naive", f"{name}|False"),
            )
    add(
        f"GET /health p50 ≤ {t['health_p50_ms']} ms",
        p50("single", "ours", "health"),
        t["health_p50_ms"],
        "ms",
        previous=p50("single", "previous", "health"),
        naive=p50("single", "naive", "health"),
    )
    for name in MODELS:
        key = f"{name}|True"
        options = {
            kind: (get(results, "throughput", kind, key) or {}).get("rps") or 0.0
            for kind in ("granian2", "gunicorn", "gthread")
        }
        best = max(options, key=options.get)
        errors = sum(
            (get(results, "throughput", kind, key) or {}).get("errors", 0) for kind in options
        )
        add(
            f"≥ {t['throughput_rps']:,.0f} scores/s at c{CONCURRENCY}, 2 workers "
            f"(best: {best}), {name}, default, {errors} failures",
            options[best] if errors == 0 else 0.0,
            t["throughput_rps"],
            "req/s",
            higher_is_better=True,
            previous=rps("waitress", key),  # one process each: not 2 workers
            naive=rps("naive", f"{name}|False"),
        )
    n = 100_000
    json_ms = p50("batch", "ours", f"logistic|json|{n}")
    previous_json = p50("batch", "previous", f"logistic|json|{n}")
    add(
        f"100,000-row batch ≤ {t['batch_json_100k_ms']:.0f} ms, logistic, JSON",
        json_ms,
        t["batch_json_100k_ms"],
        "ms",
        previous=previous_json,
        naive=p50("batch", "naive", f"logistic|json|{n}"),
    )
    add(
        f"100,000-row batch, logistic, CSV ≤ {t['batch_csv_vs_json']}× JSON",
        ratio(p50("batch", "ours", f"logistic|csv|{n}"), json_ms),
        t["batch_csv_vs_json"],
        "×",
        previous=ratio(p50("batch", "previous", f"logistic|csv|{n}"), previous_json),
    )
    for fmt, label in (("arrow", "Arrow IPC stream"), ("parquet", "Parquet")):
        add(
            f"100,000-row batch ≤ {t['batch_columnar_100k_ms']:.0f} ms, logistic, {label}",
            p50("batch", "ours", f"logistic|{fmt}|{n}"),
            t["batch_columnar_100k_ms"],
            "ms",
        )
    for fmt in ("json", "arrow"):
        onnx = floor["forest"]["onnx"].get(n)
        add(
            f"100,000-row batch ≤ {t['batch_forest_ratio']}× in-process ONNX predict, "
            f"forest, {fmt.upper()}",
            ratio(p50("batch", "ours", f"forest|{fmt}|{n}"), onnx),
            t["batch_forest_ratio"],
            "×",
            previous=ratio(p50("batch", "previous", f"forest|{fmt}|{n}"), onnx),
            naive=ratio(p50("batch", "naive", f"forest|{fmt}|{n}"), onnx),
        )
    for name in FULL_MODELS:
        if name in floor:
            add(
                f"100,000-row batch ≤ {t['batch_json_100k_ms']:.0f} ms, {name}, JSON",
                p50("batch", "ours", f"{name}|json|{n}"),
                t["batch_json_100k_ms"],
                "ms",
            )

    def worst_rss(kinds: tuple[str, ...]) -> float | None:
        mems = [mem for kind in kinds for mem in results["memory"].get(kind) or []]
        return max((mem.get("VmRSS", float("nan")) for mem in mems), default=None)

    for kinds, label in (
        (("granian",), "python -m server"),
        (("granian2", "gunicorn", "gthread"), "each worker of 2"),
    ):
        add(
            f"RSS ≤ {t['rss_mb']:.0f} MB, {label}",
            worst_rss(kinds),
            t["rss_mb"],
            "MB",
            previous=worst_rss(("waitress",)),
            naive=worst_rss(("naive",)),
        )
    for kind, label in (("granian", "python -m server"), ("gunicorn", "gunicorn -w 2")):
        add(
            f"start-up ≤ {t['startup_s']:.0f} s, {label}",
            (results["startup"].get(kind) or {}).get("median"),
            t["startup_s"],
            "s",
            previous=(results["startup"].get("waitress") or {}).get("median"),
            naive=(results["startup"].get("naive") or {}).get("median"),
        )
    return targets


def run(args: argparse.Namespace) -> dict[str, Any]:
    plan = SMOKE if args.smoke else QUICK if args.quick else FULL
    started = time.perf_counter()
    results: dict[str, Any] = {
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "plan": {**plan.__dict__, "batch_runs": {str(k): v for k, v in plan.batch_runs.items()}},
        "startup": {},
        "single": {},
        "throughput": {},
        "batch": {},
        "memory": {},
    }
    results["machine"] = machine_info()
    results["git"] = git_state()
    results["load_start"] = load_average()
    with tempfile.TemporaryDirectory(prefix="cs-bench-") as tmp:
        work = Path(tmp)
        model_dir, results["models_note"] = prepare_models(args, plan, work)
        env = {k: v for k, v in os.environ.items() if k != "GUNICORN_CMD_ARGS"}
        env.update(
            CREDITSCORER_MODEL_DIR=str(model_dir),
            CREDITSCORER_TRAIN_IF_MISSING="0",
            CREDITSCORER_DATABASE_URL=f"sqlite:///{work / 'bench.sqlite3'}",
            CREDITSCORER_LOG_LEVEL=os.environ.get("CREDITSCORER_LOG_LEVEL", "WARNING"),
            PYTHONUNBUFFERED="1",
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            # Bytecode in the run's own folder: a machine with PYTHONDONTWRITEBYTECODE=1 and a
            # venv without __pycache__ compiles every module at each start (3-4 s here).
            PYTHONPYCACHEPREFIX=str(work / PYCACHE),
        )
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        n_max = max((*plan.batch_sizes, 100_000))
        X = applicants(n_max)
        rows = as_cells(X)
        bodies = {}
        for n in plan.batch_sizes:
            seed_columns = {f: [r[j] for r in rows[:n]] for j, f in enumerate(FEATURES)}
            for name in MODELS:
                bodies[("json", name, n)] = json_batch(name, rows[:n])
                bodies[("csv", name, n)] = csv_batch(rows[:n])
                for kind in ("arrow", "parquet"):
                    bodies[(kind, name, n)] = columnar_batch(kind, seed_columns)
        full = None
        if all((model_dir / name).is_dir() for name in FULL_MODELS):
            largest = max(plan.batch_sizes)
            full = full_applicants(model_dir, largest)
            full_rows = [list(r) for r in zip(*full.values(), strict=True)]
            for name in FULL_MODELS:
                bodies[("json", name, largest)] = json.dumps(
                    {"model": name, "columns": list(full), "rows": full_rows}
                ).encode()
                bodies[("arrow", name, largest)] = columnar_batch("arrow", full)
        ctx = Context(plan, model_dir, work, env, X, rows, bodies, full)
        try:
            results["floor"] = measure_floor(ctx)
            measure_ours(ctx, results, "granian")
            measure_ours(ctx, results, "waitress")
            measure_gunicorn(ctx, results, "granian2")
            measure_gunicorn(ctx, results, "gunicorn")
            measure_gunicorn(ctx, results, "gthread")
            measure_naive(ctx, results)
        finally:
            Child.stop_all()  # before the temporary folder goes
    results["seconds"] = time.perf_counter() - started
    results["load_end"] = load_average()
    background = [
        s["background_cores"]
        for section in ("single", "throughput", "batch")
        for server in results[section].values()
        for s in server.values()
        if s.get("background_cores") == s.get("background_cores") and "background_cores" in s
    ]
    results["background_mean"] = float(np.mean(background)) if background else None
    results["background_max"] = float(np.max(background)) if background else None
    results["targets"] = evaluate_targets(results)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench/bench_api.py", description=__doc__.split("\n\n")[0]
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="short run (~1-2 minutes)")
    mode.add_argument("--smoke", action="store_true", help="tiny run for the test suite (< 40 s)")
    parser.add_argument("--model-dir", type=Path, help="reuse this trained model store")
    parser.add_argument(
        "--results-dir",
        type=Path,
        default=ROOT / "bench" / "results",
        help="where the report is saved (default %(default)s)",
    )
    parser.add_argument("--no-save", action="store_true", help="print only, save nothing")
    args = parser.parse_args(argv)

    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    try:
        results = run(args)
    except KeyboardInterrupt:
        log("interrupted; stopping the servers")
        return 130
    finally:
        Child.stop_all()
    text = report(results)
    print(text, flush=True)
    if not args.no_save and not args.smoke:
        args.results_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        base = args.results_dir / f"bench-{results['plan']['name']}-{stamp}"
        base.with_suffix(".txt").write_text(text, encoding="utf-8")
        base.with_suffix(".json").write_text(
            json.dumps(results, indent=1, default=str), encoding="utf-8"
        )
        log(f"saved {base}.txt and .json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
