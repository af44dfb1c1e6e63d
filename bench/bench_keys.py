"""What the per-request key check costs: one indexed SELECT on the server's database.

Run: .venv/bin/python bench/bench_keys.py [--database-url URL] [--rounds N]
Prints the median and p99 of ``server.keys.check_key`` for a valid key, a wrong key and
no key, against a fresh SQLite file (or the database you name).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from server import db, keys


def measure(engine, presented: str | None, rounds: int) -> tuple[float, float]:
    keys.check_key(engine, presented)  # warm the connection pool and the statement cache
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        keys.check_key(engine, presented)
        samples.append(time.perf_counter() - started)
    samples.sort()
    return statistics.median(samples) * 1000, samples[int(0.99 * (len(samples) - 1))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or db.default_url(Path(tmp))
        engine = db.make_engine(url)
        try:
            keys.create_tables(engine)
            _, key = keys.create_key(engine, "bench")
            wrong = key[:-4] + "AAAA"
            print(f"key check on {engine.dialect.name}, {args.rounds} rounds each")
            print(f"{'presented':>10} {'median ms':>10} {'p99 ms':>8}")
            for label, presented in (("valid", key), ("wrong", wrong), ("none", None)):
                median, p99 = measure(engine, presented, args.rounds)
                print(f"{label:>10} {median:10.3f} {p99:8.3f}")
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
