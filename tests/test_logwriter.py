"""Group commit of the query log: concurrent rows share a transaction, each caller still
returns only once its own row is committed, and a failed group fails all its callers and
nobody else. On a real SQLite file and on the test PostgreSQL (``db_url``)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from server import db
from server.logwriter import GroupCommitter
from server.querylog import QueryLog, query_log, query_log_detail, utcnow

WAIT_S = 30.0  # an upper bound for a thread to reach a point; never a timing assertion


def log_row(request_id: str, status: int | None = 200) -> dict:
    """A minimal query log row; ``status=None`` breaks its NOT NULL constraint."""
    return {
        "created_at": utcnow(),
        "request_id": request_id,
        "route": "GET /v1/predict",
        "model": "logistic",
        "model_version": "test",
        "status": status,
        "row_count": 1,
        "rows_failed": 0,
        "approved": 1,
        "declined": 0,
        "latency_ms": 0.5,
        "key_id": None,
        "inputs": None,
        "outputs": None,
        "summary": None,
    }


@pytest.fixture
def engines(db_url: str) -> Iterator[tuple[sa.Engine, sa.Engine]]:
    """The log's engine, and a second one that plays another process reading the table."""
    writer, reader = db.make_engine(db_url), db.make_engine(db_url)
    db.create_tables(writer)
    yield writer, reader
    writer.dispose()
    reader.dispose()


def count(engine: sa.Engine, table: sa.Table, request_ids: list[str]) -> Counter:
    with engine.connect() as connection:
        found = connection.execute(
            sa.select(table.c.request_id).where(table.c.request_id.in_(request_ids))
        ).scalars()
        return Counter(found)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.001)


class HeldFlush:
    """The log's real flush, held at the door on its first ``holds`` calls until
    ``release()``: the callers that arrive meanwhile queue up and form the next groups,
    deterministically. Counts the flushes in flight at once."""

    def __init__(self, writer: GroupCommitter, holds: int = 1) -> None:
        self.real = writer.flush
        self.holds = holds
        self.entered = threading.Semaphore(0)
        self.released = threading.Event()
        self.groups: list[list[str]] = []
        self.threads: list[int] = []
        self.lock = threading.Lock()
        self.in_flight = self.most_in_flight = 0
        writer.flush = self

    def __call__(self, items: list) -> None:
        with self.lock:
            self.groups.append([row["request_id"] for row, _ in items])
            self.threads.append(threading.get_ident())
            held = len(self.groups) <= self.holds
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if held:
                self.entered.release()
                assert self.released.wait(WAIT_S)
            self.real(items)
        finally:
            with self.lock:
                self.in_flight -= 1

    def wait_entered(self, n: int = 1) -> bool:
        return all(self.entered.acquire(timeout=WAIT_S) for _ in range(n))

    def release(self) -> None:
        self.released.set()


def start_writers(querylog: QueryLog, rows: list[dict], details: list | None = None):
    """One thread per row calling ``write``; returns the threads and each one's outcome."""
    outcomes: dict[str, BaseException | None] = {}

    def write(row: dict, detail: dict | None) -> None:
        try:
            querylog.write(row, detail)
        except BaseException as error:  # the outcome under test
            outcomes[row["request_id"]] = error
        else:
            outcomes[row["request_id"]] = None

    threads = [
        threading.Thread(target=write, args=(row, (details or [None] * len(rows))[i]))
        for i, row in enumerate(rows)
    ]
    for thread in threads:
        thread.start()
    return threads, outcomes


def join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.join(WAIT_S)
        assert not thread.is_alive()


def test_concurrent_writers_commit_every_row_exactly_once_each_visible_when_write_returns(
    engines,
):
    writer, reader = engines
    querylog = QueryLog(writer, log_inputs=True, retention_days=0)
    prefix = f"c{uuid.uuid4().hex[:8]}-"
    threads_n, per_thread = 12, 25
    barrier = threading.Barrier(threads_n)
    invisible: list[str] = []
    failures: list[BaseException] = []

    def work(t: int) -> None:
        try:
            barrier.wait(WAIT_S)
            for i in range(per_thread):
                request_id = f"{prefix}{t}-{i}"
                querylog.write(log_row(request_id))
                # Returned: the row must be committed, so another connection sees it now.
                if count(reader, query_log, [request_id])[request_id] != 1:
                    invisible.append(request_id)
        except BaseException as error:  # any failure is the finding
            failures.append(error)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    join(threads)
    assert failures == []
    assert invisible == []
    wanted = [f"{prefix}{t}-{i}" for t in range(threads_n) for i in range(per_thread)]
    found = count(reader, query_log, wanted)
    assert sorted(found) == sorted(wanted)
    assert set(found.values()) == {1}  # exactly once each
    stats = querylog.writer.stats
    assert stats.items == len(wanted)
    assert stats.groups <= stats.items
    assert stats.failed_groups == 0


def test_rows_that_arrive_during_a_commit_share_the_next_one_and_wait_for_it(engines):
    writer, reader = engines
    querylog = QueryLog(writer, log_inputs=True, retention_days=0)
    held = HeldFlush(querylog.writer)
    prefix = f"g{uuid.uuid4().hex[:8]}-"
    first, first_outcome = start_writers(querylog, [log_row(f"{prefix}first")])
    assert held.wait_entered()
    rows = [log_row(f"{prefix}{i}") for i in range(7)]
    followers, outcomes = start_writers(querylog, rows)
    wait_until(lambda: querylog.writer.waiting == 7, "seven writers queued")
    # Queued behind the commit in flight: none has returned, and no row is written yet.
    assert outcomes == {}
    assert all(thread.is_alive() for thread in followers)
    assert count(reader, query_log, [r["request_id"] for r in rows]) == Counter()
    held.release()
    join(first + followers)
    assert first_outcome == {f"{prefix}first": None}
    assert outcomes == {r["request_id"]: None for r in rows}
    assert [len(group) for group in held.groups] == [1, 7]  # one commit for the seven
    assert sorted(held.groups[1]) == sorted(r["request_id"] for r in rows)
    assert querylog.writer.stats.largest == 7
    found = count(reader, query_log, [f"{prefix}first", *held.groups[1]])
    assert set(found.values()) == {1}
    assert len(found) == 8
    if writer.dialect.name == "postgresql":  # the seven rows are one transaction's
        with reader.connect() as connection:
            transactions = connection.execute(
                sa.select(sa.func.count(sa.distinct(sa.literal_column("xmin::text")))).where(
                    query_log.c.request_id.in_(held.groups[1])
                )
            ).scalar()
        assert transactions == 1


def test_a_failed_commit_raises_in_every_caller_of_its_group_and_the_next_group_succeeds(
    engines,
):
    writer, reader = engines
    querylog = QueryLog(writer, log_inputs=True, retention_days=0)
    held = HeldFlush(querylog.writer)
    prefix = f"f{uuid.uuid4().hex[:8]}-"
    first, first_outcome = start_writers(querylog, [log_row(f"{prefix}first")])
    assert held.wait_entered()
    # Four good rows and one the database refuses (NOT NULL status) form the next group.
    rows = [log_row(f"{prefix}{i}") for i in range(4)] + [log_row(f"{prefix}bad", None)]
    group, outcomes = start_writers(querylog, rows)
    wait_until(lambda: querylog.writer.waiting == 5, "five writers queued")
    held.release()
    join(first + group)
    assert first_outcome == {f"{prefix}first": None}
    assert sorted(outcomes) == sorted(r["request_id"] for r in rows)
    errors = list(outcomes.values())
    assert all(isinstance(error, IntegrityError) for error in errors)
    assert len({id(error) for error in errors}) == len(errors)  # each caller its own
    # All or nothing: none of the group's rows was written, the good ones included.
    assert count(reader, query_log, [r["request_id"] for r in rows]) == Counter()
    assert querylog.writer.stats.failed_groups == 1
    assert querylog.writer.stats.failed_items == 5
    # Nothing is left stuck or poisoned: the next writers, alone and grouped, succeed.
    querylog.write(log_row(f"{prefix}after"))
    again, again_outcomes = start_writers(
        querylog, [log_row(f"{prefix}again-{i}") for i in range(6)]
    )
    join(again)
    assert set(again_outcomes.values()) == {None}
    wanted = [f"{prefix}after", *(f"{prefix}again-{i}" for i in range(6))]
    assert count(reader, query_log, wanted) == Counter(dict.fromkeys(wanted, 1))
    assert querylog.writer.waiting == 0


def test_with_two_writers_two_groups_are_written_at_once_and_never_more(engines):
    writer, reader = engines
    querylog = QueryLog(writer, log_inputs=True, retention_days=0, group_writers=2)
    held = HeldFlush(querylog.writer, holds=2)
    prefix = f"w{uuid.uuid4().hex[:8]}-"
    firsts, first_outcomes = start_writers(querylog, [log_row(f"{prefix}a"), log_row(f"{prefix}b")])
    assert held.wait_entered(2)  # the second caller did not wait for the first: it leads too
    rows = [log_row(f"{prefix}{i}") for i in range(6)]
    group, outcomes = start_writers(querylog, rows)
    wait_until(lambda: querylog.writer.waiting == 6, "six writers queued behind two groups")
    assert outcomes == {}
    held.release()
    join(firsts + group)
    assert set(first_outcomes.values()) == set(outcomes.values()) == {None}
    assert held.most_in_flight == 2
    assert sorted(map(len, held.groups[:2])) == [1, 1]
    assert sum(map(len, held.groups[2:])) == 6
    assert len(held.groups) <= 4  # the six went in at most two more groups
    ids = [f"{prefix}a", f"{prefix}b", *(r["request_id"] for r in rows)]
    assert count(reader, query_log, ids) == Counter(dict.fromkeys(ids, 1))
    assert querylog.writer.waiting == 0


def test_a_lone_write_is_flushed_at_once_by_its_own_caller(engines):
    writer, reader = engines
    querylog = QueryLog(writer, log_inputs=True, retention_days=0)
    held = HeldFlush(querylog.writer)
    held.release()  # never held: only the recording matters here
    request_id = f"l{uuid.uuid4().hex[:8]}"
    querylog.write(log_row(request_id))  # would hang if a lone row waited for company
    assert held.threads == [threading.get_ident()]
    assert held.groups == [[request_id]]
    assert count(reader, query_log, [request_id])[request_id] == 1


def test_with_grouping_off_each_row_is_its_own_commit(engines):
    writer, reader = engines
    querylog = QueryLog(writer, log_inputs=True, retention_days=0, group_commit=False)
    prefix = f"o{uuid.uuid4().hex[:8]}-"
    rows = [log_row(f"{prefix}{i}") for i in range(8)]
    threads, outcomes = start_writers(querylog, rows)
    join(threads)
    assert set(outcomes.values()) == {None}
    stats = querylog.writer.stats
    assert (stats.groups, stats.items, stats.largest) == (8, 8, 1)
    assert len(count(reader, query_log, [r["request_id"] for r in rows])) == 8


def detail_of(row: dict, size: int = 1000) -> dict:
    """A ``query_log_detail`` row for ``row``: its key in both, as the log makes them."""
    key = row["detail_key"] = uuid.uuid4().hex
    return {
        "detail_key": key,
        "created_at": row["created_at"],
        "encoding": "zstd+json",
        "data": b"x" * size,
    }


def test_a_detail_row_is_written_in_the_same_transaction_before_its_log_row(engines):
    writer, reader = engines
    querylog = QueryLog(writer, log_inputs=True, retention_days=0)
    held = HeldFlush(querylog.writer)
    prefix = f"d{uuid.uuid4().hex[:8]}-"
    first, _ = start_writers(querylog, [log_row(f"{prefix}first")])
    assert held.wait_entered()
    # A group mixing rows with and without details.
    rows = [log_row(f"{prefix}{i}") for i in range(4)]
    details = [detail_of(row) if i % 2 else None for i, row in enumerate(rows)]
    group, outcomes = start_writers(querylog, rows, details)
    wait_until(lambda: querylog.writer.waiting == 4, "four writers queued")
    held.release()
    join(first + group)
    assert set(outcomes.values()) == {None}
    assert [len(g) for g in held.groups] == [1, 4]
    ids = [r["request_id"] for r in rows]
    assert count(reader, query_log, ids) == Counter(dict.fromkeys(ids, 1))
    keys = [d["detail_key"] for d in details if d is not None]
    detail = query_log_detail.c
    with reader.connect() as connection:
        stored = connection.execute(
            sa.select(detail.detail_key, detail.data).where(detail.detail_key.in_(keys))
        ).all()
        named = connection.execute(
            sa.select(query_log.c.detail_key).where(query_log.c.request_id.in_(ids))
        ).scalars()
        assert sorted(k for k in named if k) == sorted(keys)  # each log row names its own
    assert sorted(stored) == sorted((key, b"x" * 1000) for key in keys)

    # A detail the database refuses (its key is taken) costs the log row too: all or none.
    clash = log_row(f"{prefix}clash")
    taken = {**detail_of(clash), "detail_key": keys[0]}
    clash["detail_key"] = keys[0]
    with pytest.raises(IntegrityError):
        querylog.write(clash, taken)
    assert count(reader, query_log, [f"{prefix}clash"]) == Counter()


def test_after_the_table_is_gone_and_back_the_writer_recovers_by_itself(engines):
    writer, reader = engines
    querylog = QueryLog(writer, log_inputs=True, retention_days=0)
    held = HeldFlush(querylog.writer)
    prefix = f"r{uuid.uuid4().hex[:8]}-"
    # The outage: while a commit is held, the table's rename makes every later insert fail.
    first, first_outcome = start_writers(querylog, [log_row(f"{prefix}first")])
    assert held.wait_entered()
    rows = [log_row(f"{prefix}{i}") for i in range(3)]
    group, outcomes = start_writers(querylog, rows)
    wait_until(lambda: querylog.writer.waiting == 3, "three writers queued")
    with writer.begin() as connection:
        connection.exec_driver_sql(f"ALTER TABLE query_log RENAME TO query_log_{prefix[1:-1]}")
    try:
        held.release()
        join(first + group)
        assert all(isinstance(e, SQLAlchemyError) for e in first_outcome.values())
        assert all(isinstance(e, SQLAlchemyError) for e in outcomes.values())
        assert len(outcomes) == 3
    finally:
        with writer.begin() as connection:
            connection.exec_driver_sql(f"ALTER TABLE query_log_{prefix[1:-1]} RENAME TO query_log")
    # The database is back: the next group commits, on the same pool and the same writer.
    after = [log_row(f"{prefix}after-{i}") for i in range(5)]
    threads, after_outcomes = start_writers(querylog, after)
    join(threads)
    assert set(after_outcomes.values()) == {None}
    ids = [r["request_id"] for r in after]
    assert count(reader, query_log, ids) == Counter(dict.fromkeys(ids, 1))


def test_a_row_written_through_the_driver_reads_back_like_one_written_by_sqlalchemy(engines):
    writer, reader = engines
    querylog = QueryLog(writer, log_inputs=True, retention_days=0)
    prefix = f"s{uuid.uuid4().hex[:8]}-"
    row = {
        **log_row(f"{prefix}driver"),
        "latency_ms": 3,  # an int where the column is a float
        "key_id": "k-1",
        "inputs": '{"age": 35}',
        "outputs": '{"decision": "approve"}',
        "summary": '{"score": [[3, 1]]}',
    }
    row["created_at"] = row["created_at"].replace(microsecond=123456)
    querylog.write(row)
    with writer.begin() as connection:
        connection.execute(query_log.insert(), {**row, "request_id": f"{prefix}core"})
    text = sa.cast(query_log.c.created_at, sa.String)
    with reader.connect() as connection:
        found = {
            r.request_id: r
            for r in connection.execute(
                sa.select(query_log, text.label("stored")).where(
                    query_log.c.request_id.like(f"{prefix}%")
                )
            )
        }
    driver, core = found[f"{prefix}driver"]._mapping, found[f"{prefix}core"]._mapping
    assert {k: v for k, v in driver.items() if k not in ("id", "request_id")} == {
        k: v for k, v in core.items() if k not in ("id", "request_id")
    }
    assert driver["created_at"] == row["created_at"]  # stored as the same text, to the µs
    assert isinstance(driver["latency_ms"], float)


def test_a_key_that_is_not_a_column_is_refused_in_its_callers_thread_alone(engines):
    writer, reader = engines
    querylog = QueryLog(writer, log_inputs=True, retention_days=0)
    request_id = f"k{uuid.uuid4().hex[:8]}"
    with pytest.raises(ValueError, match="query_log: colour: not a column"):
        querylog.write({**log_row(request_id), "colour": "blue"})
    assert querylog.writer.stats.groups == querylog.writer.stats.failed_groups == 0
    assert count(reader, query_log, [request_id]) == Counter()
