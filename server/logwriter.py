"""Group commit for the query log: the rows of concurrent requests share one transaction.

A scoring reply leaves only once its log row is committed (see ``server.querylog``). One
transaction per row makes the commit the biggest cost of a score; when several threads of
one process (granian, waitress, gunicorn gthread) are writing at the same moment, their
rows can share a transaction instead, and each commit then carries several rows.

``GroupCommitter.submit(item)`` returns only once the group holding ``item`` has been
committed, and raises the commit's error in every caller of a failed group: nothing is
buffered beyond the calls that are waiting, so a process killed at any moment loses only
rows whose replies were never sent. There is no writer thread. The first caller to find
nobody writing becomes the *leader*: it takes every item queued so far (its own, and those
of the callers that arrived while the previous group was being written), writes them with
one ``flush`` call, wakes their callers and hands the lead to the oldest caller still
waiting, if any. A caller that arrives while a group is being written waits on its own
event until its group is done (or until it is made leader). So:

* a request alone never waits for company: it finds nobody writing and flushes at once;
* under load, the size of a group adapts by itself: the longer a commit takes, the more
  callers queue behind it and the more rows the next one carries;
* one writer at a time per process, which is what SQLite wants anyway (its writers queue
  on the database lock and sleep in its busy handler otherwise); ``leaders=n`` lets n
  groups be written at once, each by its own caller on its own connection, for a
  database that takes concurrent writers (PostgreSQL; measured in bench/bench_querylog.py);
* a failed flush (the database is down, a constraint refused a row) fails its own group
  only: the lead passes on and the next group tries afresh, so an outage leaves nothing
  stuck behind it.

``grouping=False`` makes ``submit`` flush its own item on its own, the behaviour before
group commit, so the two can be measured side by side (``CREDITSCORER_LOG_GROUP_COMMIT=0``).
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

Item = TypeVar("Item")

log = logging.getLogger("creditscorer.querylog")

MAX_GROUP = 256  # items per flush; more wait for the next one (bounds a transaction's size)


class _Waiter(Generic[Item]):
    """One ``submit`` call: its item, and how it learns what became of it."""

    __slots__ = ("error", "item", "leads", "woken")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.woken: threading.Event | None = None  # made only for a caller that must wait
        self.leads = False  # made a leader: it writes a group (its own item and others')
        self.error: BaseException | None = None


@dataclass
class GroupStats:
    """What the committer has done since it was made (or since ``reset_stats``)."""

    groups: int = 0  # flush calls that succeeded
    items: int = 0  # items they committed
    largest: int = 0  # items in the largest of them
    failed_groups: int = 0
    failed_items: int = 0

    @property
    def items_per_group(self) -> float:
        return self.items / self.groups if self.groups else 0.0


class GroupCommitter(Generic[Item]):
    """Writes items through ``flush(items)``, several concurrent callers' items per call.

    ``flush`` must write all its items in one transaction and return only once that is
    committed (or raise). ``on_flush(n)``, if given, is called after each successful flush
    with its item count (for a metric).
    """

    def __init__(
        self,
        flush: Callable[[list[Item]], None],
        grouping: bool = True,
        max_group: int = MAX_GROUP,
        on_flush: Callable[[int], None] | None = None,
        leaders: int = 1,
    ) -> None:
        if max_group < 1:
            raise ValueError(f"max_group must be at least 1, not {max_group}")
        if leaders < 1:
            raise ValueError(f"leaders must be at least 1, not {leaders}")
        self.flush = flush
        self.grouping = grouping
        self.max_group = max_group
        self.on_flush = on_flush
        self.leaders = leaders  # groups written at the same time, each on its own connection
        self.stats = GroupStats()
        self._mutex = threading.Lock()  # guards the queue, the leads and the stats
        # Callers not yet in a group: followers, and callers made leader that have not
        # taken their group yet (``leads``), whom no other leader may take.
        self._queue: list[_Waiter[Item]] = []
        self._leading = 0  # leads given out: groups being written or about to be

    def submit(self, item: Item) -> None:
        """Write ``item``; return once it is committed, or raise what its flush raised."""
        if not self.grouping:
            self._flush([item])
            return
        waiter = _Waiter(item)
        with self._mutex:
            self._queue.append(waiter)
            if self._leading < self.leaders:
                self._leading += 1
                waiter.leads = True
            else:  # as many groups as allowed are being written: wait for one to finish
                waiter.woken = threading.Event()
        if waiter.woken is not None:
            waiter.woken.wait()
            if not waiter.leads:  # woken because its group was written
                if waiter.error is not None:
                    raise _own_copy(waiter.error)
                return
        self._lead(waiter)

    @property
    def waiting(self) -> int:
        """Callers queued behind the group being written (or about to lead the next one)."""
        with self._mutex:
            return len(self._queue)

    def reset_stats(self) -> GroupStats:
        """Return the counts so far and start again from zero."""
        with self._mutex:
            stats, self.stats = self.stats, GroupStats()
        return stats

    def _lead(self, own: _Waiter[Item]) -> None:
        # ``own`` is still queued: only its own lead takes a waiter that ``leads``.
        with self._mutex:
            group, left = [own], []
            for waiter in self._queue:
                if waiter is own:
                    continue
                if waiter.leads or len(group) >= self.max_group:
                    left.append(waiter)
                else:
                    group.append(waiter)
            self._queue = left
        error: BaseException | None = None
        try:
            self._flush([waiter.item for waiter in group])
        except BaseException as raised:  # every caller of the group gets it, then it goes on
            error = raised
        finally:
            with self._mutex:
                # The lead passes to the oldest follower, or is given back.
                successor = next((w for w in self._queue if not w.leads), None)
                if successor is None:
                    self._leading -= 1
                else:
                    successor.leads = True
            for waiter in group:
                if waiter is not own:
                    waiter.error = error
                    waiter.woken.set()  # type: ignore[union-attr]  (every follower has one)
            if successor is not None:
                successor.woken.set()  # type: ignore[union-attr]
        if error is not None:
            raise error

    def _flush(self, items: list[Item]) -> None:
        try:
            self.flush(items)
        except BaseException:
            with self._mutex:
                self.stats.failed_groups += 1
                self.stats.failed_items += len(items)
            raise
        with self._mutex:
            stats = self.stats
            stats.groups += 1
            stats.items += len(items)
            stats.largest = max(stats.largest, len(items))
        if self.on_flush is not None:
            try:
                self.on_flush(len(items))
            except Exception:  # a metric must never turn a committed group into an error
                log.exception("query log: the group commit observer failed")


def _own_copy(error: BaseException) -> BaseException:
    """The group's error for one more caller: a copy, so that threads raising it at once do
    not all write into one exception's traceback; it keeps the flush's traceback."""
    try:
        duplicate = copy.copy(error)
    except Exception:  # an exception type that cannot be rebuilt from its arguments
        return error
    if type(duplicate) is not type(error):
        return error
    duplicate.__cause__, duplicate.__context__ = error.__cause__, error.__context__
    return duplicate.with_traceback(error.__traceback__)


# PostgreSQL's protocol allows 65,535 parameters in one statement; stay well below.
MAX_PARAMETERS = 30_000


class RowInserter:
    """Inserts rows (dicts of column values) into one table straight through the driver.

    The log's insert is the hot path of every score: SQLAlchemy's ``execute(insert, row)``
    compiles nothing (its cache holds the statement) but still spends about half of a
    lone SQLite write, and more on PostgreSQL, on per-execution bookkeeping (and there on
    ``RETURNING id``, which the log never reads). This makes the SQL once per set of columns
    (and, for a multi-row ``VALUES``, per row count), applies the same bind processors
    SQLAlchemy would (SQLite's ``DATETIME`` text, for instance), and runs it with
    ``exec_driver_sql``: the pool, pre-ping and error translation stay SQLAlchemy's.

    As with ``execute(insert, rows)``, a column missing from a row's keys is left out of
    the statement (its server default applies); rows with different keys get a statement
    each. A key that is not a column is refused by ``check`` in the caller's thread, before
    the row can join (and fail) a group.
    """

    def __init__(self, table: sa.Table, dialect: Dialect) -> None:
        self.table = table
        self.dialect = dialect
        self.columns = frozenset(table.columns.keys())
        if dialect.paramstyle not in ("qmark", "format", "pyformat"):
            raise ValueError(f"{dialect.name}: paramstyle {dialect.paramstyle} is not supported")
        self._marker = "?" if dialect.paramstyle == "qmark" else "%s"
        # Made on first use, a handful in a process's life (the builders make few shapes).
        self._processor_cache: dict[tuple[str, ...], tuple[Callable[[Any], Any] | None, ...]] = {}
        self._sql_cache: dict[tuple[tuple[str, ...], int], str] = {}

    def check(self, row: Mapping[str, Any]) -> None:
        """Raise ``ValueError`` naming the keys of ``row`` that are not columns of the table."""
        unknown = row.keys() - self.columns
        if unknown:
            names = ", ".join(sorted(unknown))
            raise ValueError(f"{self.table.name}: {names}: not a column of the table")

    def statements(
        self, rows: Iterable[Mapping[str, Any]], multi_values: bool
    ) -> list[tuple[str, Any]]:
        """``(sql, parameters)`` pairs that insert ``rows``, for ``exec_driver_sql``.

        ``multi_values``: one ``INSERT … VALUES (…), (…)`` per set of columns (a single
        statement is a transaction of its own in autocommit); otherwise one statement run
        for many parameter tuples (``executemany``), which SQLite runs fastest.
        """
        by_keys: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for row in rows:
            keys = tuple(row)
            processors = self._processors(keys)
            values = tuple(
                value if process is None else process(value)
                for value, process in zip(row.values(), processors, strict=True)
            )
            by_keys.setdefault(keys, []).append(values)
        found: list[tuple[str, Any]] = []
        for keys, tuples in by_keys.items():
            if not multi_values:
                found.append((self._sql(keys, 1), tuples if len(tuples) > 1 else tuples[0]))
                continue
            per_statement = max(1, MAX_PARAMETERS // max(1, len(keys)))
            for start in range(0, len(tuples), per_statement):
                chunk = tuples[start : start + per_statement]
                flat = tuple(value for values in chunk for value in values)
                found.append((self._sql(keys, len(chunk)), flat))
        return found

    def execute(
        self, connection: Connection, rows: Iterable[Mapping[str, Any]], multi_values: bool
    ) -> None:
        """Run ``statements(rows)`` on ``connection`` (in whatever transaction it is in)."""
        for sql, parameters in self.statements(rows, multi_values):
            connection.exec_driver_sql(sql, parameters)

    def _processors(self, keys: tuple[str, ...]) -> tuple[Callable[[Any], Any] | None, ...]:
        found = self._processor_cache.get(keys)
        if found is None:
            columns = self.table.columns
            found = tuple(
                columns[key].type.dialect_impl(self.dialect).bind_processor(self.dialect)
                for key in keys
            )
            self._processor_cache[keys] = found
        return found

    def _sql(self, keys: tuple[str, ...], rows: int) -> str:
        found = self._sql_cache.get((keys, rows))
        if found is None:
            preparer = self.dialect.identifier_preparer
            columns = self.table.columns
            names = ", ".join(preparer.format_column(columns[key]) for key in keys)
            one = "(" + ", ".join([self._marker] * len(keys)) + ")"
            # Only the table's own names (looked up above, quoted by the dialect) and
            # placeholders go into the text; every value is a bound parameter.
            found = (
                f"INSERT INTO {preparer.format_table(self.table)} ({names}) "  # noqa: S608
                f"VALUES {', '.join([one] * rows)}"
            )
            self._sql_cache[(keys, rows)] = found
        return found
