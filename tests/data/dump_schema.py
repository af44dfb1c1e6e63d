"""Print the DDL that ``server.db.metadata.create_all`` runs, for one dialect.

Made the frozen schemas of the release before migrations (commit bd58281), run once
against that commit's code, never against the current one:

    mkdir /tmp/old && git archive bd58281 server creditscorer | tar -x -C /tmp/old
    for d in sqlite postgresql; do
        PYTHONPATH=/tmp/old python tests/data/dump_schema.py $d bd58281 \
            > tests/data/schema_bd58281_$d.sql
    done
"""

from __future__ import annotations

import sys

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex, CreateTable

from server import db, keys, querylog  # noqa: F401 (importing registers their tables)

DIALECTS = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


def main(name: str, commit: str) -> None:
    dialect = DIALECTS[name]
    print(f"-- The tables that metadata.create_all made on {name} at commit {commit}.")
    print("-- Frozen: what databases made by that release hold. Made by tests/data/dump_schema.py;")
    print("-- never edit it by hand.")
    print()
    for table in db.metadata.sorted_tables:
        print(str(CreateTable(table).compile(dialect=dialect)).strip() + ";\n")
        for index in sorted(table.indexes, key=lambda i: i.name or ""):
            print(str(CreateIndex(index).compile(dialect=dialect)).strip() + ";\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
