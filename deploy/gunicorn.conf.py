"""gunicorn settings for CreditScorer: ``gunicorn -c deploy/gunicorn.conf.py server.wsgi:app``.

Every value can be changed on the command line (``--bind``, ``--workers``) or through the
environment variables read below. Behind nginx on the same host the defaults fit a
small team: two worker processes (one per core) with four threads each, so a slow
client or a log write in one thread does not stall the others.
"""

from __future__ import annotations

import os
import subprocess
import sys

bind = os.environ.get("CREDITSCORER_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("CREDITSCORER_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("CREDITSCORER_THREADS", "4"))
# Scoring a 100,000-row batch takes a few seconds; retraining runs outside the request.
timeout = int(os.environ.get("CREDITSCORER_WORKER_TIMEOUT", "120"))
graceful_timeout = 30  # on SIGTERM, requests in flight finish (and are logged) first
keepalive = 5
# Each worker builds its own app: its own database connections and model sessions,
# nothing shared across fork (SQLite and PostgreSQL connections must not be).
preload_app = False
# nginx on the same host sets X-Forwarded-For / -Proto; trust it and nobody else.
forwarded_allow_ips = os.environ.get("CREDITSCORER_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("CREDITSCORER_ACCESS_LOG") or None  # the query log is the record
errorlog = "-"
# gunicorn 25+ opens a control socket at one fixed path per user; two instances on a host
# (or a test run beside a service) would fight over it. Off; supervisor manages the process.
control_socket_disable = True
loglevel = os.environ.get("CREDITSCORER_GUNICORN_LOG_LEVEL", "info")


def on_starting(server) -> None:
    """Before any worker starts: train missing models and create the tables once.

    Done in a child process so that the master stays small and holds no database
    connection or model session across fork; without it, two workers starting together
    would both train the missing models and race to create the tables.
    """
    code = "from server import create_app; create_app()"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=900)
