"""``python -m server``: train the models if there are none, then serve with waitress.

Waitress runs on Linux, macOS and Windows (``py -m server`` there). For Linux
deployments with several worker processes use gunicorn: ``gunicorn server.wsgi:app``.

``python -m server keys add --name NAME [--role admin]`` creates an API key and prints
it once; ``keys list`` shows every key (never the key itself); ``keys revoke ID`` stops
a key at once. Keys live in the server's database (CREDITSCORER_DATABASE_URL, else the
SQLite file in the instance folder).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path


def _serve(args: argparse.Namespace) -> int:
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=5000, help="port; 0 picks a free one")
    parser.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    commands = parser.add_subparsers(dest="command", metavar="{keys}", help="serve when omitted")
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
    args = parser.parse_args(argv)
    if args.command == "keys":
        return _keys(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
