"""CreditScorer's Flask scoring API.

``create_app`` is the application factory: nothing is created at import time; the
WSGI entry module (``server.wsgi``) and the command line (``python -m server``) make
the app.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import os
import re
import sys
import threading
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request

from creditscorer.store import ModelStore
from server.config import Settings

__all__ = ["create_app"]

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
OPENAPI_FILE = Path(__file__).with_name("openapi.yaml")


def create_app(settings: Settings | None = None, **overrides: Any) -> Flask:
    """Build the app: settings, model store (trained on first use if empty), routes, handlers."""
    settings = settings or Settings.from_env(**overrides)
    app = Flask(__name__, instance_relative_config=True)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logging.getLogger("creditscorer").setLevel(settings.log_level.upper())

    model_dir = settings.model_dir or Path(app.instance_path) / "models"
    store = ModelStore(model_dir, threads=settings.onnx_threads)
    if settings.train_if_missing and not store.names():
        _train_built_in_models(model_dir)
    store.load_all()  # a broken or tampered artifact stops the start, not the first request
    app.extensions["creditscorer.settings"] = settings
    app.extensions["creditscorer.store"] = store

    from server import db

    engine = db.make_engine(settings.database_url or db.default_url(Path(app.instance_path)))
    app.extensions["creditscorer.db"] = engine
    # Feature modules register their tables and request hooks here (query log, keys, admin).
    from server import addin, dashboard, metrics, querylog, stats

    querylog.init_app(app)
    metrics.init_app(app)
    stats.init_app(app)
    dashboard.init_app(app)
    addin.init_app(app)
    # Every table at this release's schema (Alembic; stamps a database of the release
    # before migrations), under a lock so that workers starting together take turns.
    try:
        db.upgrade(engine)
    except Exception as error:
        from server import dberrors

        if not dberrors.is_unavailable(error):
            engine.dispose()  # no app to dispose of it later
            raise
        # The database is down (or read-only, or full) as this process starts: a gunicorn
        # worker restarted during an outage. Failing here would make gunicorn stop the
        # whole service ("Worker failed to boot"); instead the process serves 503s with
        # Retry-After and checks the schema once the database answers again.
        _upgrade_when_back(app, engine, dberrors.describe(error, engine))

    from server.api import api
    from server.problems import register_error_handlers

    app.register_blueprint(api)
    register_error_handlers(app)
    _register_request_ids(app)
    # Keys and admin routes come after the request ids: their 401/403 replies carry one.
    from server import admin, keys

    keys.init_app(app)
    admin.init_app(app)
    _register_openapi(app)
    _cache_ensure_sync(app)
    if settings.gc_tuning:
        tune_gc()
    return app


def _upgrade_when_back(app: Flask, engine: Any, cause: str) -> None:
    """Run the schema upgrade that start-up could not, before the first request it can.

    Until it succeeds every request raises the database's error, which the error handlers
    answer with a 503 and ``Retry-After`` (server.problems); one thread at a time tries,
    the others are answered with the last error at once.
    """
    from server import db

    log = logging.getLogger("creditscorer.db")
    log.error("start-up: the schema could not be checked: %s; serving 503 until it can", cause)
    state: dict[str, Any] = {"pending": True, "error": None}
    trying = threading.Lock()

    def _schema_first() -> None:
        if not state["pending"]:
            return
        if not trying.acquire(blocking=False):
            if state["error"] is not None:
                raise state["error"]
            trying.acquire()  # the first try is under way: wait for it
        try:
            if state["pending"]:
                db.upgrade(engine)
                state["pending"], state["error"] = False, None
                log.warning("start-up: the database answers again; the schema is checked")
        except Exception as error:
            state["error"] = error
            raise
        finally:
            trying.release()

    app.before_request_funcs.setdefault(None, []).insert(0, _schema_first)


def _train_built_in_models(model_dir: Path) -> None:
    """Fill an empty store with the built-in models, in a child process.

    Only an empty store: one that already serves a team's own models is left as it is
    (the German Credit models are not forced into it). The server never imports the
    training code (scikit-learn and friends); ``python -m training ensure`` prints what
    it does.
    """
    import subprocess

    root = str(Path(__file__).resolve().parent.parent)
    paths = [root, os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    command = [sys.executable, "-m", "training", "ensure", "--out", str(model_dir)]
    subprocess.run(command, check=True, env=env, stdin=subprocess.DEVNULL)


def tune_gc() -> None:
    """Make Python's cycle collector cheap for large batches.

    A 100,000-row JSON batch allocates some 500,000 lists and numbers; with the default
    thresholds the collector runs thousands of times and rescans every long-lived object
    (Flask, NumPy, the models) each time, which doubled the time to parse such a batch
    (bench/bench_api.py). Freezing what exists after start-up takes it out of every scan,
    and a larger first-generation threshold makes the scans rarer. There is no full
    collection before the freeze (the few cycles left by imports stay, a few kilobytes):
    it took 60-140 ms of every start-up.
    """
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)
    _limit_malloc_arenas()


M_ARENA_MAX = -8  # glibc's mallopt parameter number


@functools.cache
def _libc() -> Any:
    """glibc, or None elsewhere (macOS, Windows, musl): then memory is left as it is."""
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt, libc.malloc_trim  # noqa: B018 (both must exist: glibc)
    except (OSError, AttributeError):
        return None
    return libc


def _limit_malloc_arenas(arenas: int = 2) -> None:
    """Cap glibc's per-thread malloc arenas (as MALLOC_ARENA_MAX=2 would).

    Waitress serves each request on one of its threads, and glibc gives busy threads
    arenas of their own that keep freed memory: after a few 100,000-row batches a
    waitress process held 368 MB; with two arenas it stayed under 220 MB
    (bench/bench_api.py). glibc's mmap threshold is left to adapt: fixed at 1 MiB, every
    big block was a fresh mapping to fault in, and a 100,000-row logistic predict took
    35 ms instead of 11; ``release_memory`` returns the heap's free pages instead.
    Elsewhere than glibc this does nothing.
    """
    libc = _libc()
    if libc is not None:
        libc.mallopt(M_ARENA_MAX, arenas)


def release_memory() -> None:
    """Hand freed memory back to the system, after a big batch's reply has left.

    pyarrow's allocator (mimalloc) and glibc both keep freed pages for reuse; a worker
    that served one 100,000-row full-attribute batch would keep their peak for good.
    ``malloc_trim`` returns glibc's free pages (a few ms, outside the GIL, after the
    reply); with the ONNX Runtime arena off (creditscorer.scoring) a worker that served
    every benchmark batch settles at about 250 MB instead of 866 MB.
    """
    if "pyarrow" in sys.modules:
        sys.modules["pyarrow"].default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def _register_request_ids(app: Flask) -> None:
    @app.before_request
    def _assign_request_id() -> None:
        given = request.environ.get("HTTP_X_REQUEST_ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else os.urandom(16).hex()

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        headers = response.headers
        headers["X-Request-ID"] = g.get("request_id", "")
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Cache-Control"] = "no-store"
        return response


def _cache_ensure_sync(app: Flask) -> None:
    """Remember ``ensure_sync``'s answer per function.

    Flask asks ``inspect.iscoroutinefunction`` of every hook and view on every request
    (eight times for a score); the answer never changes for a function, and a small
    cache takes that off every request. Async views would still be wrapped, once.
    """
    app.ensure_sync = functools.lru_cache(maxsize=1024)(app.ensure_sync)  # type: ignore[method-assign]


def _register_openapi(app: Flask) -> None:
    cache: dict[str, bytes] = {}

    @app.get("/openapi.json")
    def openapi() -> Response:
        if "spec" not in cache:
            import orjson
            import yaml

            cache["spec"] = orjson.dumps(yaml.safe_load(OPENAPI_FILE.read_text(encoding="utf-8")))
        return Response(cache["spec"], mimetype="application/json")
