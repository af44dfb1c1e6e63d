"""The server's database: the query log and the API keys live here.

SQLite by default (a file in the instance folder, WAL mode and a busy timeout so that
several gunicorn workers can share it); PostgreSQL when ``CREDITSCORER_DATABASE_URL``
points at one. SQLAlchemy Core only: tables, not an ORM. Alembic keeps the tables'
schema current: the revisions in ``server/migrations/versions`` run at start-up and
with ``python -m server db upgrade``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from server import dberrors

if TYPE_CHECKING:
    from alembic.config import Config

metadata = sa.MetaData()

SQLITE_BUSY_TIMEOUT_MS = 10_000


def default_url(instance_path: Path) -> str:
    return f"sqlite:///{Path(instance_path) / 'creditscorer.sqlite3'}"


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite connections get WAL, a busy timeout and foreign keys."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        dberrors.replace_broken_sqlite_connections(engine)
        return engine
    return sa.create_engine(url, pool_pre_ping=True)


# Any fixed 64-bit number: the PostgreSQL advisory lock that serialises schema changes.
_DDL_LOCK = 0x43_72_65_64_69_74_53_63  # "CreditSc"
_DDL_ATTEMPTS = 5

MIGRATIONS = Path(__file__).with_name("migrations")
# The revision that is the schema of the release before migrations, and the tables that
# release's metadata.create_all made: a database holding them and no alembic_version is
# that release's, and is stamped with this revision rather than built by it.
BASELINE = "0001"
BASELINE_TABLES = ("query_log", "api_keys")

log = logging.getLogger("creditscorer.db")


class SchemaError(RuntimeError):
    """The database's schema cannot be brought to this release's (e.g. it is newer)."""


@dataclass(frozen=True)
class Upgrade:
    """What ``upgrade`` did: the revision before (None: none recorded) and after."""

    before: str | None
    after: str | None
    stamped: bool  # a database of the release before migrations, recorded as BASELINE


class _AlembicInternals(logging.Filter):
    """Alembic's INFO lines that name its internals ("Context impl SQLiteImpl." …)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(("Context impl", "Will assume"))


def quiet_alembic_logs() -> None:
    """Keep Alembic's "Running upgrade …" lines at start-up, without the rest of its INFO."""
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    migration = logging.getLogger("alembic.runtime.migration")
    if not any(isinstance(f, _AlembicInternals) for f in migration.filters):
        migration.addFilter(_AlembicInternals())


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration, built here (no alembic.ini): the scripts in server/migrations.

    ``connection`` is the one the migrations run on (env.py takes it from the attributes).
    """
    quiet_alembic_logs()  # before the import, which already logs (the first time)
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # Revision files are numbered: 0001_first_release_schema.py, 0002_….py
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest revision this release's migrations know."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database's alembic_version (None: no such record)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


_REVISION = re.compile(r"""^revision(?:\s*:[^=]*)?\s*=\s*["']([^"']+)["']""", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?:\s*:[^=]*)?\s*=\s*(.+)$", re.MULTILINE)


def recorded_head(engine: Engine) -> str | None:
    """The newest revision, when the database records exactly it; else None.

    A check without Alembic, for every start-up: importing Alembic (its DDL modules for
    every database) took 0.2-0.7 s of each start on the benchmark machine, to find that
    there was nothing to do. The revisions come from the migration files' ``revision``
    and ``down_revision`` lines, as Alembic reads them; anything unusual (no single head,
    a file this cannot read, no ``alembic_version`` table) answers None, and ``upgrade``
    then asks Alembic.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN_REVISION.search(text)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        parents.update(re.findall(r"""["']([^"']+)["']""", down.group(1)))
    heads = revisions - parents
    if len(heads) != 1:
        return None
    try:
        with engine.connect() as connection:
            found = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            recorded = [row[0] for row in found]
    except sa.exc.DBAPIError:  # no such table: an empty database, or one made before migrations
        return None
    return recorded[0] if recorded == sorted(heads) else None


def upgrade(engine: Engine, revision: str = "head") -> Upgrade:
    """Bring the database's tables to ``revision`` (the newest by default); safe to repeat.

    An empty database gets every revision in turn. One made by the release before
    migrations (its tables present, no alembic_version) is stamped with ``BASELINE``
    first, then upgraded, and keeps its rows.

    Several processes may start at once (gunicorn workers, or N app containers behind one
    PostgreSQL), and each would find the schema old and change it. They take turns: on
    PostgreSQL under a transaction-scoped advisory lock, on SQLite in a write transaction
    begun at once (``BEGIN IMMEDIATE``); the later ones then find the schema current and do
    nothing. Both databases change their schema inside that transaction, so a migration
    that fails leaves the database as it was.
    """
    current = recorded_head(engine) if revision == "head" else None
    if current is not None:  # the usual start-up: already at the newest revision
        where = engine.url.render_as_string(hide_password=True)
        log.info("%s: at %s, nothing to do", where, current)
        return Upgrade(before=current, after=current, stamped=False)
    done = _under_schema_lock(engine, lambda connection: _upgrade_locked(connection, revision))
    where = engine.url.render_as_string(hide_password=True)
    start = BASELINE if done.stamped else done.before
    if start != done.after:
        log.info("%s: upgraded from %s to %s", where, start or "an empty database", done.after)
    elif not done.stamped:
        log.info("%s: at %s, nothing to do", where, done.after)
    return done


def downgrade(engine: Engine, revision: str) -> Upgrade:
    """Take the tables back to ``revision``, for an older release; under the same lock.

    Each revision's ``downgrade`` undoes its ``upgrade``: what a later revision added
    (columns, tables) is dropped with its data.
    """

    def work(connection: Connection) -> Upgrade:
        from alembic import command
        from alembic.runtime.migration import MigrationContext

        before = MigrationContext.configure(connection).get_current_revision()
        _check_known(connection, before)
        command.downgrade(alembic_config(connection), revision)
        after = MigrationContext.configure(connection).get_current_revision()
        return Upgrade(before=before, after=after, stamped=False)

    done = _under_schema_lock(engine, work)
    where = engine.url.render_as_string(hide_password=True)
    if done.before != done.after:
        log.info("%s: downgraded from %s to %s", where, done.before, done.after or "nothing")
    else:
        log.info("%s: at %s, nothing to do", where, done.after)
    return done


def _under_schema_lock(engine: Engine, work: Callable[[Connection], Upgrade]) -> Upgrade:
    quiet_alembic_logs()  # before alembic is imported: its import already logs
    for attempt in range(_DDL_ATTEMPTS):
        try:
            with _schema_lock(engine) as connection:
                return work(connection)
        except sa.exc.OperationalError as error:
            # "database is locked": several SQLite connections switching a new file to WAL
            # at the same moment, where SQLite refuses at once rather than wait.
            if "database is locked" not in str(error) or attempt == _DDL_ATTEMPTS - 1:
                raise
            time.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")  # the last attempt returns or raises


def _check_known(connection: Connection, revision: str | None) -> None:
    """Refuse a database at a revision these migrations do not have (a newer release's)."""
    from alembic.script import ScriptDirectory

    if revision is None:
        return
    script = ScriptDirectory.from_config(alembic_config(connection))
    if revision not in {r.revision for r in script.walk_revisions()}:
        raise SchemaError(
            f"the database is at revision {revision}, which this release does not know "
            f"(its newest is {script.get_current_head()}): a newer release upgraded it"
        )


def create_tables(engine: Engine) -> None:
    """Create or upgrade the tables: ``upgrade(engine)``, under the same lock."""
    upgrade(engine)


@contextmanager
def _schema_lock(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that no other process changing the schema can share."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DDL_LOCK})
            yield connection
        return
    if engine.dialect.name != "sqlite":
        with engine.begin() as connection:
            yield connection
        return
    with engine.connect() as connection:
        # A batch migration copies a table and drops the old one, which with foreign keys
        # on would delete or refuse rows that point at it. The pragma is ignored inside a
        # transaction, so it is set before, and the keys are checked before the commit.
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
        connection.commit()
        try:
            # pysqlite begins no transaction for DDL; this one also takes the write lock
            # now (waiting out the busy timeout), so the check of the version and the
            # change are one step that no other process can interleave.
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            yield connection
            broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise SchemaError(f"the migration left rows whose foreign key is broken: {broken}")
            connection.commit()
        finally:
            connection.rollback()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def _upgrade_locked(connection: Connection, revision: str) -> Upgrade:
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    config = alembic_config(connection)
    before = MigrationContext.configure(connection).get_current_revision()
    stamped = False
    if before is None:
        present = set(sa.inspect(connection).get_table_names()) & set(BASELINE_TABLES)
        if present == set(BASELINE_TABLES):
            command.stamp(config, BASELINE)
            stamped = True
            log.info(
                "%s: found %s and no alembic_version (made by the release before "
                "migrations): stamped %s",
                connection.engine.url.render_as_string(hide_password=True),
                ", ".join(BASELINE_TABLES),
                BASELINE,
            )
        elif present:
            # A key added before the server ever started: BASELINE creates the rest.
            log.info("found only %s: %s creates the other tables", ", ".join(present), BASELINE)
    else:
        _check_known(connection, before)
    command.upgrade(config, revision)
    after = MigrationContext.configure(connection).get_current_revision()
    return Upgrade(before=before, after=after, stamped=stamped)
