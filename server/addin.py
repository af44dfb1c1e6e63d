"""The Office add-in (Excel custom functions and task pane), served as static files under /addin/.

The files live in the top-level ``addin/`` folder and are sent as they are, with no
build step: the manifest is the one exception, in that the origin written in it
(``https://localhost:5443``, the address in the docs) is replaced by the origin the
manifest was asked from, so that ``https://scoring.example.org/addin/manifest.xml``
is ready to sideload as downloaded. Everything is same-origin: the pages call the API
of the server that served them, so no CORS setting is needed.

The pages' Content-Security-Policy allows scripts from this server and from
Microsoft's Office CDN (an add-in must load ``office.js`` from there), and nothing
else from anywhere.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, abort, request, send_from_directory

ADDIN_DIR = Path(__file__).resolve().parent.parent / "addin" / "public"
MANIFEST = "manifest.xml"
MANIFEST_ORIGIN = "https://localhost:5443"
OFFICE_CDN = "https://appsforoffice.microsoft.com"
CSP = (
    "default-src 'none'; "
    f"script-src 'self' {OFFICE_CDN}; "
    "style-src 'self'; "
    "img-src 'self' data:; "
    "connect-src 'self'; "
    "base-uri 'none'; form-action 'none'"
)
TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".json": "application/json",
    ".css": "text/css",
    ".png": "image/png",
    ".xml": "application/xml",
}

addin_files = Blueprint("addin", __name__)


def request_origin() -> str:
    """The scheme and host this request came to (a proxy's X-Forwarded-Proto counts)."""
    scheme = request.headers.get("X-Forwarded-Proto", request.scheme).split(",")[0].strip()
    if scheme not in ("http", "https"):
        scheme = request.scheme
    return f"{scheme}://{request.host}"


@addin_files.get("/addin/")
def addin_home() -> Response:
    """The task pane is the add-in's home page."""
    return addin_file("taskpane.html")


@addin_files.get("/addin/<path:name>")
def addin_file(name: str) -> Response:
    """One file of the add-in; the manifest with this server's origin written in."""
    suffix = Path(name).suffix.lower()
    if suffix not in TYPES or not (ADDIN_DIR / name).is_file():
        abort(404)
    if name == MANIFEST:
        text = (ADDIN_DIR / MANIFEST).read_text(encoding="utf-8")
        response = Response(text.replace(MANIFEST_ORIGIN, request_origin()), mimetype=TYPES[suffix])
        response.headers["Content-Disposition"] = 'attachment; filename="creditscorer-manifest.xml"'
    else:
        response = send_from_directory(ADDIN_DIR, name, mimetype=TYPES[suffix], max_age=0)
    response.headers["Content-Security-Policy"] = CSP
    return response


def init_app(app: Flask) -> None:
    """Register the /addin/ routes (open to all: Office fetches them without an API key)."""
    app.register_blueprint(addin_files)
