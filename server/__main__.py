"""``python -m server``: train the models if there are none, then serve with waitress.

Waitress runs on Linux, macOS and Windows (``py -m server`` there). For Linux
deployments with several worker processes use gunicorn: ``gunicorn server.wsgi:app``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    parser.add_argument("--port", type=int, default=5000, help="port; 0 picks a free one")
    parser.add_argument("--threads", type=int, default=8, help="waitress worker threads")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    return _serve(args)


if __name__ == "__main__":
    sys.exit(main())
