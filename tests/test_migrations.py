"""Schema migrations (Alembic): a database of any earlier release reaches this one's schema.

Each test runs on a new SQLite file and on a new schema of the test PostgreSQL. The
release before migrations is frozen as the DDL its ``metadata.create_all`` ran
(tests/data/schema_bd58281_*.sql, made by tests/data/dump_schema.py from that commit).
"""

from __future__ import annotations

import fnmatch
import logging
import os
import shlex
import shutil
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from support import run_together

from server import db, keys, querylog  # noqa: F401 (importing registers their tables)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).with_name("data")
OLD_KEY = "cs_0123456789ab_an-old-secret-of-the-release-before-migrations"
ROWS = 3
PREVIOUS_RELEASE = "bd58281"  # the release before migrations
# The newest code before migrations: the query log's detail table, made by create_all.
JUST_BEFORE_MIGRATIONS = "33ac01f"


@pytest.fixture
def url(db_url: str) -> Iterator[str]:
    """A database with nothing in it: the SQLite file, or a new PostgreSQL schema."""
    if not db_url.startswith("postgresql"):
        yield db_url
        return
    schema = f"migrations_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(db_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield (
            sa.make_url(db_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def engine_for(url: str) -> sa.Engine:
    return db.make_engine(url)


def make_previous_release_database(
    url: str, tables: tuple[str, ...] = ("query_log", "api_keys"), commit: str = PREVIOUS_RELEASE
):
    """The tables the code at ``commit`` made with create_all, with a few rows in them."""
    engine = engine_for(url)
    dialect = "postgresql" if engine.dialect.name == "postgresql" else "sqlite"
    ddl = (DATA / f"schema_{commit}_{dialect}.sql").read_text(encoding="utf-8")
    lines = [line for line in ddl.splitlines() if not line.startswith("--")]
    statements = [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
    try:
        with engine.begin() as connection:
            for statement in statements:
                # "CREATE TABLE name (" or "CREATE INDEX ix ON name (": the table it makes.
                table = statement.split("(")[0].split()[-1]
                if table in tables or commit != PREVIOUS_RELEASE:
                    connection.exec_driver_sql(statement)
            if "query_log" in tables:
                for n in range(ROWS):
                    connection.execute(
                        sa.text(
                            "INSERT INTO query_log (created_at, request_id, route, model, "
                            "model_version, status, row_count, rows_failed, approved, declined, "
                            "latency_ms, key_id, inputs, outputs, summary) VALUES (:at, :rid, "
                            "'POST /v1/predict', 'logistic', '1', 200, 1, 0, 1, 0, 1.5, "
                            "'0123456789ab', '{}', '{}', '{}')"
                        ).bindparams(sa.bindparam("at", type_=sa.DateTime())),
                        {"at": datetime(2026, 11, 30, 12, n), "rid": f"old-{n}"},
                    )
            if "api_keys" in tables:
                connection.execute(
                    sa.text(
                        "INSERT INTO api_keys (id, name, role, key_sha256, created_at) "
                        "VALUES ('0123456789ab', 'old client', 'client', :hash, :at)"
                    ).bindparams(sa.bindparam("at", type_=sa.DateTime(timezone=True))),
                    {"hash": keys.key_hash(OLD_KEY), "at": datetime(2026, 11, 1, tzinfo=UTC)},
                )
    finally:
        engine.dispose()


def run_db(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m server db …`` in a process of its own, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "server", "db", "--database-url", url, *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def upgrade_here(url: str, revision: str = "head") -> db.Upgrade:
    """``db.upgrade`` in this process: what start-up and the command both call."""
    engine = engine_for(url)
    try:
        return db.upgrade(engine, revision)
    finally:
        engine.dispose()


def versions(url: str) -> list[str]:
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            return list(connection.scalars(sa.text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()


def old_rows(url: str) -> list[tuple]:
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            log_rows = connection.execute(
                sa.text("SELECT request_id, status, latency_ms FROM query_log ORDER BY id")
            ).all()
            key_rows = connection.execute(sa.text("SELECT id, key_sha256 FROM api_keys")).all()
        return [tuple(r) for r in log_rows] + [tuple(r) for r in key_rows]
    finally:
        engine.dispose()


EXPECTED_OLD_ROWS = [(f"old-{n}", 200, 1.5) for n in range(ROWS)] + [
    ("0123456789ab", keys.key_hash(OLD_KEY))
]


def schema_differences(url: str, metadata: sa.MetaData = db.metadata) -> list:
    """What Alembic's autogenerate would write into a new revision: nothing when current."""
    engine = engine_for(url)
    try:
        with engine.connect() as connection:
            return compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        engine.dispose()


def reflected_schema(url: str) -> dict:
    """Every table's columns, primary key and indexes, as the database reports them."""
    engine = engine_for(url)
    try:
        inspector = sa.inspect(engine)
        return {
            table: {
                "columns": [
                    (c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)
                ],
                "primary key": inspector.get_pk_constraint(table)["constrained_columns"],
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                ),
            }
            for table in sorted(inspector.get_table_names())
            if table != "alembic_version"
        }
    finally:
        engine.dispose()


def frozen_schema(commit: str, db_url: str, tmp_path: Path) -> dict:
    """The reflected schema of a database that ``commit``'s create_all made, on db_url's kind."""
    if not db_url.startswith("postgresql"):
        frozen_url = f"sqlite:///{tmp_path / f'frozen-{commit}.sqlite3'}"
        make_previous_release_database(frozen_url, commit=commit)
        return reflected_schema(frozen_url)
    schema = f"frozen_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(db_url)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        frozen_url = (
            sa.make_url(db_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        make_previous_release_database(frozen_url, commit=commit)
        return reflected_schema(frozen_url)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_the_command_stamps_a_database_of_the_release_before_migrations_and_keeps_its_rows(url):
    make_previous_release_database(url)
    done = run_db(url, "upgrade")
    assert done.returncode == 0, done.stderr
    assert "stamped 0001" in done.stderr
    assert "Traceback" not in done.stderr
    assert versions(url) == [db.head_revision()]
    assert old_rows(url) == EXPECTED_OLD_ROWS
    current = run_db(url, "current")
    assert current.returncode == 0, current.stderr
    assert f"{db.head_revision()} (head)" in current.stdout


def test_start_up_upgrades_a_database_of_the_release_before_migrations_and_its_keys_still_work(
    url, model_dir
):
    from server import create_app

    make_previous_release_database(url)
    app = create_app(model_dir=model_dir, train_if_missing=False, database_url=url)
    try:
        assert versions(url) == [db.head_revision()]
        assert old_rows(url) == EXPECTED_OLD_ROWS
        client = app.test_client()
        assert client.get("/v1/models").status_code == 401  # the old key turned keys on
        assert client.get("/v1/models", headers={"X-API-Key": OLD_KEY}).status_code == 200
    finally:
        app.extensions["creditscorer.db"].dispose()


@pytest.mark.parametrize("origin", ["empty", "previous release"])
def test_after_the_upgrade_the_tables_are_what_the_code_declares(url, origin):
    """A model change without a revision fails here: autogenerate would find a difference."""
    if origin == "previous release":
        make_previous_release_database(url)
    upgrade_here(url)
    assert schema_differences(url) == []


def test_the_comparison_sees_a_column_the_code_declares_and_no_revision_adds(url):
    upgrade_here(url)
    changed = sa.MetaData()
    for table in db.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["query_log"].append_column(sa.Column("column_without_a_revision", sa.String(64)))
    differences = schema_differences(url, changed)
    assert [(d[0], d[3].name) for d in differences] == [("add_column", "column_without_a_revision")]


@pytest.mark.parametrize(
    ("revision", "commit"), [("0001", PREVIOUS_RELEASE), ("0002", JUST_BEFORE_MIGRATIONS)]
)
def test_a_revision_makes_exactly_what_create_all_made_in_the_code_it_stands_for(
    url, tmp_path, db_url, revision, commit
):
    assert upgrade_here(url, revision).after == revision
    assert reflected_schema(url) == frozen_schema(commit, db_url, tmp_path)


def test_the_command_downgrades_to_the_schema_the_release_before_migrations_made(
    url, db_url, tmp_path
):
    """For going back to the older release: 0002's columns and table go, the rows stay."""
    make_previous_release_database(url)
    upgrade_here(url)
    done = run_db(url, "downgrade", "0001")
    assert done.returncode == 0, done.stderr
    assert f"downgraded from {db.head_revision()} to 0001" in done.stderr
    assert versions(url) == ["0001"]
    assert reflected_schema(url) == frozen_schema(PREVIOUS_RELEASE, db_url, tmp_path)
    assert old_rows(url) == EXPECTED_OLD_ROWS
    upgrade_here(url)
    assert schema_differences(url) == []


def test_a_database_made_just_before_migrations_gets_only_what_it_lacks(url):
    """The detail table and its columns came before migrations: 0002 finds them made."""
    make_previous_release_database(url, commit=JUST_BEFORE_MIGRATIONS)
    done = upgrade_here(url)
    assert (done.stamped, done.after) == (True, db.head_revision())
    assert old_rows(url) == EXPECTED_OLD_ROWS
    assert schema_differences(url) == []


def test_upgrading_twice_changes_nothing_the_second_time(url, caplog):
    make_previous_release_database(url)
    upgrade_here(url)
    schema = reflected_schema(url)
    caplog.set_level(logging.INFO)
    caplog.clear()
    again = upgrade_here(url)
    assert (again.before, again.after, again.stamped) == (db.head_revision(),) * 2 + (False,)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.endswith(f"at {db.head_revision()}, nothing to do") for m in messages)
    assert not [m for m in messages if m.startswith("Running upgrade")]
    assert reflected_schema(url) == schema
    assert versions(url) == [db.head_revision()]
    assert old_rows(url) == EXPECTED_OLD_ROWS


def test_an_empty_database_is_upgraded_from_nothing_to_the_head(url):
    done = run_db(url, "upgrade")
    assert done.returncode == 0, done.stderr
    assert f"upgraded from an empty database to {db.head_revision()}" in done.stderr
    assert "Running upgrade  -> 0001" in done.stderr
    assert versions(url) == [db.head_revision()]
    assert {"query_log", "api_keys"} <= set(reflected_schema(url))


def test_a_key_added_before_the_server_ever_started_keeps_its_row_and_gets_the_other_tables(
    url, caplog
):
    """The release before migrations: ``keys add`` on an empty database made only api_keys."""
    make_previous_release_database(url, tables=("api_keys",))
    caplog.set_level(logging.INFO)
    done = upgrade_here(url)
    assert (done.before, done.stamped) == (None, False)
    assert "found only api_keys: 0001 creates the other tables" in caplog.messages
    assert versions(url) == [db.head_revision()]
    assert schema_differences(url) == []
    engine = engine_for(url)
    try:
        assert keys.check_key(engine, OLD_KEY).key is not None
    finally:
        engine.dispose()


def test_workers_starting_together_on_a_database_of_the_release_before_stamp_it_once(url):
    make_previous_release_database(url)
    engines = [engine_for(url) for _ in range(6)]
    failures = run_together(db.upgrade, engines)
    for engine in engines:
        engine.dispose()
    assert failures == []
    assert versions(url) == [db.head_revision()]
    assert old_rows(url) == EXPECTED_OLD_ROWS


def test_a_database_upgraded_by_a_newer_release_is_refused_with_its_revision(url, model_dir):
    from server import create_app

    upgrade_here(url)
    engine = engine_for(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = '0999'"))
    finally:
        engine.dispose()
    done = run_db(url, "upgrade")
    assert done.returncode == 1
    assert "the database is at revision 0999, which this release does not know" in done.stderr
    assert "Traceback" not in done.stderr
    with pytest.raises(db.SchemaError, match="0999"):
        create_app(model_dir=model_dir, train_if_missing=False, database_url=url)


@pytest.mark.parametrize(
    ("bad_url", "status", "message"),
    [
        ("not a url", 2, "error: the database URL is not usable: Could not parse"),
        ("nosuchdialect://x", 2, "error: the database URL is not usable: Can't load plugin"),
        (
            "postgresql+psycopg://someone:s3cret-pw@127.0.0.1:1/creditscorer",
            1,
            "error: cannot use the database postgresql+psycopg://someone:***@127.0.0.1:1/"
            "creditscorer: connection failed",
        ),
    ],
)
def test_a_bad_database_url_is_a_clear_error_and_no_stack_trace(bad_url, status, message):
    done = run_db(bad_url, "upgrade")
    assert done.returncode == status
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert "s3cret-pw" not in done.stderr


def test_history_lists_the_revisions_from_the_first():
    done = subprocess.run(
        [sys.executable, "-m", "server", "db", "history"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1].startswith("base -> 0001")
    assert "0001 -> 0002" in done.stdout
    assert f"-> {db.head_revision()} (head)" in done.stdout


def test_the_operations_page_shows_what_the_commands_print(tmp_path):
    """docs/operations.md's Migrations example, run on a database of the release before."""
    page = (PROJECT_ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = page.split("## Migrations", 1)[1].split("\n## ", 1)[0]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    (tmp_path / "instance").mkdir()
    make_previous_release_database(f"sqlite:///{tmp_path / 'instance' / 'creditscorer.sqlite3'}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CREDITSCORER_")}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    commands = [line for line in block.splitlines() if line.startswith("$ ")]
    assert len(commands) >= 5
    printed = []
    for command in commands:
        argv = shlex.split(command.removeprefix("$ "))
        assert argv[:3] == ["python", "-m", "server"]
        done = subprocess.run(
            [sys.executable, *argv[1:]],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        printed += [command, *(done.stderr + done.stdout).splitlines()]
    assert printed == block.splitlines()


FAILING_REVISION = """
import sqlalchemy as sa
from alembic import op

revision = "0900"
down_revision = {head!r}
branch_labels = None
depends_on = None


def upgrade():
    op.create_table("half_way", sa.Column("id", sa.Integer, primary_key=True))
    with op.batch_alter_table("query_log") as batch_op:
        batch_op.add_column(sa.Column("half_way", sa.Integer))
    raise RuntimeError("a revision that fails half-way")


def downgrade():
    pass
"""


def test_a_revision_that_fails_half_way_leaves_the_database_as_it_was(url, tmp_path, monkeypatch):
    make_previous_release_database(url)
    upgrade_here(url)
    schema = reflected_schema(url)
    scripts = tmp_path / "migrations"
    shutil.copytree(db.MIGRATIONS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    failing = FAILING_REVISION.format(head=db.head_revision())
    (scripts / "versions" / "0900_half_way.py").write_text(failing, encoding="utf-8")
    head = db.head_revision()
    monkeypatch.setattr(db, "MIGRATIONS", scripts)
    with pytest.raises(RuntimeError, match="half-way"):
        upgrade_here(url)
    assert versions(url) == [head]
    assert reflected_schema(url) == schema
    assert old_rows(url) == EXPECTED_OLD_ROWS


def test_every_migration_file_ships_in_the_package():
    """Start-up needs the scripts where the package is installed, not just in a checkout."""
    config = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = config["tool"]["setuptools"]["package-data"]["server"]
    server = PROJECT_ROOT / "server"
    files = [
        path.relative_to(server).as_posix()
        for path in (server / "migrations").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    assert "migrations/env.py" in files
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in shipped)]
    assert missing == [], f"add them to [tool.setuptools.package-data] server: {missing}"
