"""API keys: creation, listing and revocation (``python -m server keys``) and the check that
every request but ``/health`` makes once any active key exists.

A key looks like ``cs_<id>_<secret>``: ``id`` is 12 hex digits, public, and finds the
row; ``secret`` is 256 random bits. Only the SHA-256 of the whole key is stored. A slow
password hash (bcrypt, scrypt, Argon2) protects guessable passwords; a 256-bit random
secret cannot be guessed, so a slow hash would add tens of milliseconds to every request
and no protection. Hashes are compared with ``hmac.compare_digest`` (constant time).

Revocation takes effect at once in every worker process because a presented key is
looked up in the database on every request (one primary-key SELECT; no cache to go stale).

Open mode (no active key at all) is the one answer that is remembered: finding out that
no key exists costs every key-less request a database round trip, a third of the time a
score takes in-process. A worker trusts its last "no key exists" for
``CREDITSCORER_KEY_OPEN_RECHECK_SECONDS`` (default 1 s, 0 asks every time); a key created
in the same process ends open mode at once, one created elsewhere (the command line,
another worker) within that interval. Once keys exist nothing is remembered: every
request is checked against the database, so a revoked key fails on its next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask, Response, g, request
from sqlalchemy.engine import Engine

from server import db
from server.db import metadata
from server.problems import ApiError

PREFIX = "cs"
ROLES = ("client", "admin")
ADMIN = "admin"
OPEN_PATHS = frozenset({"/health"})
# The Office add-in's static files: Office fetches them before any key can be sent.
OPEN_PREFIXES = ("/addin/",)
REALM = 'Bearer realm="CreditScorer"'
# Pages for people: a browser cannot send X-API-Key, but it asks for Basic credentials
# when challenged, and the API key is accepted as the password.
BROWSER_PATHS = frozenset({"/", "/dashboard"})
BROWSER_REALM = (
    'Basic realm="CreditScorer: any user name, your API key as password", charset="UTF-8"'
)
CORS_HEADERS = "Content-Type, X-API-Key, Authorization, X-Request-ID"
_ID_HEX_DIGITS = 12
# A fixed hash to compare against when the id is unknown, so both paths do the same work.
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("key_sha256", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
)


# Built once: constructing a statement costs more than running it against SQLite.
_KEY_BY_ID = sa.select(api_keys).where(api_keys.c.id == sa.bindparam("key_id"))
_ANY_ACTIVE = sa.select(api_keys.c.id).where(api_keys.c.revoked_at.is_(None)).limit(1)


@dataclass(frozen=True)
class KeyInfo:
    """A stored key, without its secret: what ``keys list`` shows."""

    id: str
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class AuthResult:
    """The outcome of checking one request's key.

    ``open``: no active key exists, so every route is open. Otherwise ``key`` is the
    matching active key, or None when the key is missing, unknown or revoked.
    """

    open: bool
    key: KeyInfo | None = None


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _now() -> datetime:
    return datetime.now(tz=UTC)


def create_tables(engine: Engine) -> None:
    """Bring the database's tables, this one among them, up to date (``db.upgrade``)."""
    db.upgrade(engine)


class _KeyChanges:
    """Counts key changes made by this process, so that its open-mode answers go stale."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def bump(self) -> None:
        with self._lock:
            self.count += 1


_changes = _KeyChanges()


def create_key(engine: Engine, name: str, role: str = "client") -> tuple[str, str]:
    """Store a new key's hash; return (id, key). The key itself is never stored."""
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise ValueError("the name must be 1 to 100 printable characters")
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles: {', '.join(ROLES)}")
    key_id = secrets.token_hex(_ID_HEX_DIGITS // 2)
    key = f"{PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    with engine.begin() as conn:
        conn.execute(
            api_keys.insert().values(
                id=key_id, name=name, role=role, key_sha256=key_hash(key), created_at=_now()
            )
        )
    _changes.bump()
    return key_id, key


def _info(row: Any) -> KeyInfo:
    return KeyInfo(row.id, row.name, row.role, row.created_at, row.revoked_at)


def list_keys(engine: Engine) -> list[KeyInfo]:
    """Every key, active and revoked, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at, api_keys.c.id))
        return [_info(r) for r in rows]


def revoke_key(engine: Engine, key_id: str) -> bool:
    """Revoke a key by id; False when no active key has that id."""
    with engine.begin() as conn:
        result = conn.execute(
            api_keys.update()
            .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=_now())
        )
    _changes.bump()
    return result.rowcount == 1


def _split(key: str) -> str | None:
    """The id part of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX or len(parts[1]) != _ID_HEX_DIGITS:
        return None
    return parts[1]


def check_key(engine: Engine, presented: str | None, known_open: bool = False) -> AuthResult:
    """Decide whether ``presented`` (None when the request carried no key) may pass.

    ``known_open``: the caller already knows that no active key exists, so only a
    presented key is looked up (to record its id) and the "any key?" query is skipped.
    """
    key_id = _split(presented) if presented else None
    if key_id is None and known_open:
        return AuthResult(open=True)
    with engine.connect() as conn:
        if key_id is not None:
            row = conn.execute(_KEY_BY_ID, {"key_id": key_id}).first()
            stored = row.key_sha256 if row is not None else _DUMMY_HASH
            matches = hmac.compare_digest(stored, key_hash(presented or ""))
            if matches and row is not None and row.revoked_at is None:
                return AuthResult(open=False, key=_info(row))
        if known_open:
            return AuthResult(open=True)
        any_active = conn.execute(_ANY_ACTIVE).first()
    return AuthResult(open=any_active is None)


class KeyChecker:
    """``check_key`` for one app, remembering "no key exists" for ``recheck_seconds``.

    Only the open-mode answer is kept (see the module docstring): it ends when this
    process creates or revokes a key, and after ``recheck_seconds`` in any case.
    """

    def __init__(self, engine: Engine, recheck_seconds: float):
        self.engine = engine
        self.recheck_seconds = recheck_seconds
        self._open_until = 0.0
        self._open_changes = -1

    def _known_open(self) -> bool:
        return self._open_changes == _changes.count and time.monotonic() < self._open_until

    def check(self, presented: str | None) -> AuthResult:
        """The outcome for one request's key (None when it carried none)."""
        changes = _changes.count  # read before the query: a change meanwhile makes it stale
        known_open = self._known_open()
        result = check_key(self.engine, presented, known_open=known_open)
        if result.open and not known_open and self.recheck_seconds > 0:
            self._open_until = time.monotonic() + self.recheck_seconds
            self._open_changes = changes
        return result


def presented_keys() -> list[str]:
    """Every distinct key the request carries: ``X-API-Key`` first, then the token of
    ``Authorization: Bearer`` or, for browsers, the password of ``Authorization: Basic``
    (any user name). An ``Authorization`` header that carries no readable key (another
    scheme, no credentials, broken Basic) counts as a key that matches none, so that it is
    refused like any other wrong key instead of being skipped."""
    found: list[str] = []
    key = request.headers.get("X-API-Key", "").strip()
    if key:
        found.append(key)
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return found
    scheme, _, credentials = header.partition(" ")
    other = header
    if scheme.lower() == "bearer" and credentials.strip():
        other = credentials.strip()
    elif scheme.lower() == "basic" and request.authorization is not None:
        other = (request.authorization.password or "").strip() or header
    if other not in found:
        found.append(other)
    return found


def presented_key() -> str | None:
    """The request's key (see ``presented_keys``); None when it carries none."""
    found = presented_keys()
    return found[0] if found else None


F = TypeVar("F", bound=Callable[..., Any])


def require_role(role: str) -> Callable[[F], F]:
    """View decorator: 403 unless the request's key has ``role`` (open mode lets all pass)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not g.get("auth_open", False) and g.get("key_role") != role:
                raise ApiError(
                    403,
                    f"this route needs a key with the {role} role; "
                    f"key {g.get('key_id')} has the role {g.get('key_role')}",
                )
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _allowed_origin(origins: frozenset[str]) -> str | None:
    origin = request.headers.get("Origin")
    if not origin or not origins:
        return None
    if "*" in origins:
        return "*"
    return origin if origin in origins else None


def _is_preflight() -> bool:
    return request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers


def init_app(app: Flask) -> None:
    """Check every request's key, and answer CORS for allowed origins.

    The keys table is made by ``create_app``'s schema upgrade, which runs before this.
    """
    engine: Engine = app.extensions["creditscorer.db"]
    settings = app.extensions["creditscorer.settings"]
    checker = KeyChecker(engine, settings.key_open_recheck_seconds)
    app.extensions["creditscorer.keys"] = checker
    origins = frozenset(o.strip() for o in settings.cors_origins.split(",") if o.strip())

    @app.before_request
    def _check_api_key() -> None:
        g.key_id = None
        g.key_role = None
        g.auth_open = False
        if request.path in OPEN_PATHS or request.path.startswith(OPEN_PREFIXES):
            return
        if _is_preflight() and _allowed_origin(origins):
            return
        sent = presented_keys()
        presented = sent[0] if sent else None
        result = checker.check(presented)
        if result.open:
            g.auth_open = True
            return
        if len(sent) > 1:
            # Two headers, two keys: whichever is wrong, the request is refused, so that the
            # answer never depends on which header a proxy or client library reads first.
            challenge = REALM + ', error="invalid_token"'
            if request.path in BROWSER_PATHS:
                challenge = BROWSER_REALM
            raise ApiError(
                401,
                "the X-API-Key and Authorization headers carry different keys; "
                "send one key, in one of them (or the same key in both)",
                headers={"WWW-Authenticate": challenge},
            )
        if result.key is None:
            if presented is None:
                detail = (
                    "this server needs an API key: send it in the X-API-Key header "
                    "(or as Authorization: Bearer <key>)"
                )
                challenge = REALM
            else:
                detail = "the API key is not valid (unknown, malformed or revoked)"
                challenge = REALM + ', error="invalid_token"'
            if request.path in BROWSER_PATHS:
                challenge = BROWSER_REALM
            raise ApiError(401, detail, headers={"WWW-Authenticate": challenge})
        g.key_id = result.key.id
        g.key_role = result.key.role

    @app.after_request
    def _cors(response: Response) -> Response:
        allowed = _allowed_origin(origins)
        if allowed is None:
            return response
        response.headers["Access-Control-Allow-Origin"] = allowed
        response.vary.add("Origin")
        response.headers["Access-Control-Expose-Headers"] = "X-Request-ID, X-Model-Version"
        if _is_preflight():
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        return response
