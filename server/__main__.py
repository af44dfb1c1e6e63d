"""``python -m server``: train the models if there are none, then serve.

The default server is granian (a Rust HTTP server with wheels for Linux, macOS and
Windows: ``py -m server`` there): on the 2-core benchmark machine it answered a score
faster than waitress and gunicorn, at one client and at eight (docs/performance.md).
``--server waitress`` serves with waitress, the previous default (pure Python, threads).
For Linux deployments behind nginx, gunicorn stays supported: ``gunicorn server.wsgi:app``
(deploy/gunicorn.conf.py).

``python -m server keys add --name NAME [--role admin]`` creates an API key and prints
it once; ``keys list`` shows every key (never the key itself); ``keys revoke ID`` stops
a key at once. Keys live in the server's database (CREDITSCORER_DATABASE_URL, else the
SQLite file in the instance folder).

``python -m server db upgrade`` brings that database's tables to this release's schema
(Alembic; start-up does the same), ``db downgrade REVISION`` takes it back for an older
release, ``db current`` shows its revision, ``db history`` the revisions, and
``db revision -m MESSAGE [--autogenerate]`` writes a new one (server/migrations/README).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import logging
import os
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

SERVERS = ("granian", "waitress")


_ANNOUNCE = "CREDITSCORER_ANNOUNCE"  # from the command to its workers: where and since when
ANNOUNCE_TIMEOUT_S = 60.0


def granian_app():
    """Granian's app factory, run in each worker: build the app and announce it once serving.

    The worker binds its socket after the factory returns, so a thread asks ``/health``
    until it is answered and only then prints "listening": ready means serving.
    """
    from server import create_app

    app = create_app()
    announce = os.environ.pop(_ANNOUNCE, "")
    if announce:
        threading.Thread(target=_announce, args=announce.split(" "), daemon=True).start()
    return app


def _announce(address: str, host: str, port: str, started: str) -> None:
    deadline = time.monotonic() + ANNOUNCE_TIMEOUT_S
    while time.monotonic() < deadline:
        if address.startswith("https://"):
            # Asking itself whether it serves yet: the certificate is checked by clients.
            context = ssl._create_unverified_context()  # noqa: S323
            connection = http.client.HTTPSConnection(host, int(port), timeout=5, context=context)
        else:
            connection = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            connection.request("GET", "/health")
            reply = connection.getresponse()
            reply.read()
            if reply.status == 200:
                print(
                    f"CreditScorer listening on {address} "
                    f"(ready in {time.time() - float(started):.2f} s; Ctrl+C stops)",
                    flush=True,
                )
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.005)


def _free_port(host: str) -> int:
    """A port nobody listens on now, for ``--port 0`` (granian needs a number to bind)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _serve_granian(args: argparse.Namespace) -> int:
    started = time.time()  # wall time: the worker that reports it is another process
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    if args.workers > 1:
        # Each worker builds its own app; train any missing model once, here, first.
        from server import create_app

        create_app().extensions["creditscorer.db"].dispose()
    port = args.port or _free_port(args.host)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    probe = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(args.host, args.host)  # noqa: S104
    scheme = "https" if args.cert else "http"
    os.environ[_ANNOUNCE] = f"{scheme}://{shown}:{port} {probe} {port} {started}"
    tls = {"ssl_cert": Path(args.cert), "ssl_key": Path(args.key)} if args.cert else {}
    server = Granian(
        "server.__main__:granian_app",
        factory=True,
        address=args.host,
        port=port,
        interface=Interfaces.WSGI,
        workers=args.workers,
        blocking_threads=args.threads,
        log_level=LogLevels.warning,
        **tls,
    )
    server.serve()
    return 0


def _serve(args: argparse.Namespace) -> int:
    if bool(args.cert) != bool(args.key):
        print("error: --cert and --key go together", file=sys.stderr)
        return 2
    if args.cert and args.server != "granian":
        print("error: --cert/--key need --server granian (waitress has no TLS)", file=sys.stderr)
        return 2
    if args.server == "granian":
        return _serve_granian(args)
    started = time.perf_counter()
    from waitress import create_server

    from server import create_app

    app = create_app()
    server = create_server(
        app,
        host=args.host,
        port=args.port,
        threads=args.threads,
        ident="CreditScorer",
        clear_untrusted_proxy_headers=True,
    )
    host = server.effective_host  # type: ignore[union-attr]
    port = server.effective_port  # type: ignore[union-attr]
    shown = f"[{host}]" if ":" in str(host) else host
    print(
        f"CreditScorer listening on http://{shown}:{port} "
        f"(ready in {time.perf_counter() - started:.2f} s; Ctrl+C stops)",
        flush=True,
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


def _engine(url: str | None):
    from flask import Flask

    from server import db
    from server.config import Settings

    # The same instance folder as the app's (create_app uses Flask("server")), without
    # loading models or training anything.
    instance = Path(Flask("server", instance_relative_config=True).instance_path)
    return db.make_engine(url or Settings.from_env().database_url or db.default_url(instance))


def _keys(args: argparse.Namespace) -> int:
    from server import keys

    engine = _engine(args.database_url)
    try:
        keys.create_tables(engine)
        if args.keys_command == "add":
            try:
                key_id, key = keys.create_key(engine, args.name, args.role)
            except ValueError as error:
                print(f"error: {error}", file=sys.stderr)
                return 2
            print(f"created key {key_id} ({args.role}) for {args.name!r}.", file=sys.stderr)
            print("Store it now: it is shown only once and only its hash is kept.", file=sys.stderr)
            print(key)
            return 0
        if args.keys_command == "list":
            rows = keys.list_keys(engine)
            if not rows:
                print("no keys: every route is open (create one with: keys add --name NAME)")
            for k in rows:
                state = f"revoked {k.revoked_at:%Y-%m-%d %H:%M:%S}" if k.revoked_at else "active"
                print(f"{k.id}  {k.role:6s}  {state:27s}  {k.created_at:%Y-%m-%d}  {k.name}")
            return 0
        if keys.revoke_key(engine, args.key_id):
            print(f"revoked key {args.key_id}; it stops working with the next request")
            return 0
        print(f"error: no active key with id {args.key_id!r} (see: keys list)", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _db(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from server import db

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    db.quiet_alembic_logs()
    if args.db_command == "history":
        return _db_history()
    try:
        engine = _engine(args.database_url)
    except (sa.exc.ArgumentError, ImportError) as error:
        # Not a URL, an unknown dialect, or a driver that is not installed.
        print(f"error: the database URL is not usable: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"error: cannot make the SQLite file's folder: {error}", file=sys.stderr)
        return 1
    where = engine.url.render_as_string(hide_password=True)
    try:
        if args.db_command == "upgrade":
            db.upgrade(engine, args.revision)
        elif args.db_command == "downgrade":
            if args.revision == "base":
                print("error: base would drop every table; drop them yourself", file=sys.stderr)
                return 2
            db.downgrade(engine, args.revision)
        elif args.db_command == "current":
            current = db.current_revision(engine)
            head = db.head_revision()
            if current is None:
                print(f"{where}: no revision (empty, or made before migrations; db upgrade)")
            else:
                print(f"{where}: {current}{' (head)' if current == head else f', head {head}'}")
        else:
            return _db_revision(engine, args.message, args.autogenerate)
        return 0
    except sa.exc.DBAPIError as error:
        # Connection refused, no such database, wrong password, a read-only file …
        reason = str(error.orig).strip().splitlines()[0] if error.orig else str(error)
        print(f"error: cannot use the database {where}: {reason}", file=sys.stderr)
        return 1
    except db.SchemaError as error:
        print(f"error: {where}: {error}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _db_history() -> int:
    from alembic.script import ScriptDirectory

    from server import db

    script = ScriptDirectory.from_config(db.alembic_config())
    for revision in script.walk_revisions():
        head = " (head)" if revision.is_head else ""
        doc = (revision.doc or "").strip().splitlines()[0] if revision.doc else ""
        print(f"{revision.down_revision or 'base'} -> {revision.revision}{head}: {doc}")
    return 0


def _db_revision(engine, message: str, autogenerate: bool) -> int:
    from alembic import command

    from server import db

    head = db.head_revision()
    number = f"{int(head or 0) + 1:04d}"
    if autogenerate:
        # Compared against a database at the head revision: upgrade it first.
        db.upgrade(engine)
    with engine.connect() as connection:
        config = db.alembic_config(connection)
        if importlib.util.find_spec("ruff"):
            # The new file in the house style (imports sorted, unused ones removed).
            # A hand-written revision keeps its imports until its operations use them.
            hooks = (("lint", "check --fix"),) if autogenerate else ()
            hooks += (("format", "format"),)
            config.set_section_option(
                "post_write_hooks", "hooks", ", ".join(name for name, _ in hooks)
            )
            for hook, options in hooks:
                config.set_section_option("post_write_hooks", f"{hook}.type", "module")
                config.set_section_option("post_write_hooks", f"{hook}.module", "ruff")
                config.set_section_option(
                    "post_write_hooks", f"{hook}.options", f"{options} REVISION_SCRIPT_FILENAME"
                )
        command.revision(config, message, autogenerate=autogenerate, rev_id=number)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=5000, help="port; 0 picks a free one")
    parser.add_argument(
        "--server", choices=SERVERS, default="granian", help="HTTP server (default %(default)s)"
    )
    parser.add_argument(
        "--threads", type=int, default=4, help="threads per process that run the app (default 4)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="granian worker processes (default 1)"
    )
    parser.add_argument(
        "--cert",
        default=None,
        help="TLS certificate (PEM) to serve HTTPS, e.g. for the Office add-in",
    )
    parser.add_argument("--key", default=None, help="the certificate's private key (PEM)")
    commands = parser.add_subparsers(dest="command", metavar="{keys,db}", help="serve when omitted")
    keys_parser = commands.add_parser("keys", help="manage API keys")
    keys_parser.add_argument(
        "--database-url", default=None, help="default: CREDITSCORER_DATABASE_URL or instance/"
    )
    keys_commands = keys_parser.add_subparsers(dest="keys_command", required=True)
    add = keys_commands.add_parser("add", help="create a key and print it once")
    add.add_argument("--name", required=True, help="who or what uses the key")
    add.add_argument("--role", choices=("client", "admin"), default="client")
    keys_commands.add_parser("list", help="every key: id, role, state, created, name")
    revoke = keys_commands.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id", help="the id shown by keys add / keys list")
    db_parser = commands.add_parser("db", help="the database's schema (Alembic migrations)")
    db_parser.add_argument(
        "--database-url", default=None, help="default: CREDITSCORER_DATABASE_URL or instance/"
    )
    db_commands = db_parser.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="bring the tables to the newest revision")
    upgrade.add_argument("revision", nargs="?", default="head", help="default: head")
    downgrade = db_commands.add_parser(
        "downgrade", help="take the tables back to a revision, for an older release"
    )
    downgrade.add_argument("revision", help="e.g. 0001 (see: db history)")
    db_commands.add_parser("current", help="the revision the database is at")
    db_commands.add_parser("history", help="every revision, newest first")
    revision = db_commands.add_parser("revision", help="write a new revision file")
    revision.add_argument("-m", "--message", required=True, help="what the revision changes")
    revision.add_argument(
        "--autogenerate",
        action="store_true",
        help="fill it in from the difference between the tables in the code and the database",
    )
    args = parser.parse_args(argv)
    if args.command == "keys":
        return _keys(args)
    if args.command == "db":
        return _db(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
