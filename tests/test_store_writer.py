"""The background writer: batches, retries, a full queue, exit and SIGTERM."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import exc as sa_exc

from langgraph_tokenomics import ConfigurationError, StoreUnavailableError, UsageRecord
from langgraph_tokenomics._store import (
    SQLStore,
    StoreWriter,
    close_at_exit,
    open_store,
    open_writer,
)

pytest_plugins = ["tests.postgres"]


def record(number: int) -> UsageRecord:
    return UsageRecord(
        run_id=f"r-{number}",
        node="agent",
        model="gpt-4o-mini",
        input_tokens=1_000 + number,
        output_tokens=50,
        cost=Decimal("0.000180"),
        tags={"team": "search"},
        started_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


def run_ids(store: SQLStore) -> list[str]:
    return [r.run_id for r in store.read()]


def locked_error() -> sa_exc.OperationalError:
    """What SQLAlchemy raises when another process holds the SQLite write lock."""
    return sa_exc.OperationalError(
        "INSERT", {}, sqlite3.OperationalError("database is locked")
    )


class FlakyStore:
    """Fails its first ``failures`` writes as a locked file does, then works."""

    def __init__(self, inner: SQLStore, failures: int) -> None:
        self.inner = inner
        self.url = inner.url
        self.failures = failures
        self.attempts = 0

    def write(self, records: Sequence[UsageRecord]) -> None:
        self.attempts += 1
        if self.attempts <= self.failures:
            raise locked_error()
        self.inner.write(records)


class SlowStore:
    """Takes ``delay`` seconds a write; remembers which threads wrote."""

    def __init__(self, inner: SQLStore, delay: float = 0.05) -> None:
        self.inner = inner
        self.url = inner.url
        self.delay = delay
        self.threads: set[int] = set()

    def write(self, records: Sequence[UsageRecord]) -> None:
        self.threads.add(threading.get_ident())
        time.sleep(self.delay)
        self.inner.write(records)


class BlockedStore:
    """Holds every write until ``release`` is set."""

    def __init__(self, inner: SQLStore) -> None:
        self.inner = inner
        self.url = inner.url
        self.release = threading.Event()

    def write(self, records: Sequence[UsageRecord]) -> None:
        self.release.wait(10)
        self.inner.write(records)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


# -- writing ----------------------------------------------------------------------


def test_close_writes_20000_records(sqlite_url: str) -> None:
    writer = open_writer(sqlite_url)

    for number in range(20_000):
        writer.submit(record(number))
    writer.close()

    with open_store(sqlite_url) as store:
        assert len(store.read()) == 20_000
    assert (writer.written, writer.failed, writer.lost) == (20_000, 0, 0)


def test_flush_waits_for_what_was_submitted() -> None:
    store = open_store("memory")
    writer = StoreWriter(store, batch_delay=5.0)

    for number in range(3):
        writer.submit(record(number))

    assert writer.flush(timeout=10)
    assert run_ids(store) == ["r-0", "r-1", "r-2"]
    writer.close()


def test_a_store_that_fails_then_recovers_loses_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FlakyStore(open_store("memory"), failures=5)
    writer = StoreWriter(store, batch_size=50, max_backoff=0.02)
    caplog.set_level(logging.INFO, logger="langgraph_tokenomics._store")

    for number in range(1_000):
        writer.submit(record(number))
    writer.close()

    assert run_ids(store.inner) == [f"r-{n}" for n in range(1_000)]
    assert store.attempts > 5
    messages = [r.getMessage() for r in caplog.records]
    assert any("is unavailable (database is locked)" in m for m in messages)
    assert any(" is back after " in m for m in messages)


def test_records_wait_through_dropped_postgres_connections(
    postgres_database: str,
) -> None:
    from tests.postgres import run_admin_sql

    writer = open_writer(postgres_database, max_backoff=0.05)
    writer.submit(record(0))
    assert writer.flush(timeout=10)

    run_admin_sql(
        postgres_database,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    for number in range(1, 100):
        writer.submit(record(number))
    writer.close()

    with open_store(postgres_database) as store:
        assert sorted(run_ids(store)) == sorted(f"r-{n}" for n in range(100))


def test_a_store_refusing_one_record_still_gets_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class RefusesOne:
        def __init__(self) -> None:
            self.inner = open_store("memory")

        def write(self, records: Sequence[UsageRecord]) -> None:
            if any(r.run_id == "r-2" for r in records):
                raise ValueError("r-2 is not welcome")
            self.inner.write(records)

    store = RefusesOne()
    writer = StoreWriter(store)

    for number in range(5):
        writer.submit(record(number))
    writer.close()

    assert run_ids(store.inner) == ["r-0", "r-1", "r-3", "r-4"]
    assert (writer.written, writer.failed) == (4, 1)
    assert "could not write 1 records (run ids r-2): r-2 is not welcome" in (
        caplog.text
    )


def test_an_unreachable_store_is_reported_when_the_writer_gives_up(
    caplog: pytest.LogCaptureFixture,
) -> None:
    writer = open_writer(
        "postgresql://nobody@127.0.0.1:9/ledger", close_timeout=0.3, max_backoff=0.05
    )

    for number in range(3):
        writer.submit(record(number))
    writer.close()

    assert writer.lost == 3
    assert "cannot be reached yet" in caplog.text
    assert "was still unavailable when the writer closed; 3 records" in caplog.text


def test_a_handler_with_a_store_url_writes_what_it_records(sqlite_url: str) -> None:
    from langchain_core.messages import AIMessage

    from langgraph_tokenomics import TokenomicsCallbackHandler
    from tests.fakes import ScriptedChatModel, usage

    reply = AIMessage("ok", usage_metadata=usage(1_000, 50))
    model = ScriptedChatModel(model_name="gpt-4o-mini", replies=[reply])
    handler = TokenomicsCallbackHandler(store=sqlite_url, tags={"team": "search"})

    for _ in range(3):
        model.invoke("hello", config={"callbacks": [handler]})
    handler.close()

    with open_store(sqlite_url) as store:
        stored = store.read()
    assert len(stored) == 3
    assert sorted(stored, key=lambda r: r.run_id) == sorted(
        handler.records, key=lambda r: r.run_id
    )


# -- the hot path -----------------------------------------------------------------


def test_a_slow_store_does_not_slow_submit() -> None:
    store = SlowStore(open_store("memory"), delay=0.05)
    writer = StoreWriter(store, batch_size=100)
    records = [record(number) for number in range(2_000)]

    started = time.perf_counter()
    for each in records:
        writer.submit(each)
    submitting = time.perf_counter() - started
    writer.close()

    # Writing them took 20 batches x 50 ms = 1 s or more; queuing them did not.
    assert submitting < 0.25
    assert len(run_ids(store.inner)) == 2_000
    assert threading.get_ident() not in store.threads


def test_a_full_queue_tells_the_caller(caplog: pytest.LogCaptureFixture) -> None:
    store = BlockedStore(open_store("memory"))
    writer = StoreWriter(store, queue_size=5, batch_size=1, put_timeout=0.05)
    accepted: list[str] = []

    with pytest.raises(StoreUnavailableError) as raised:
        for number in range(100):
            writer.submit(record(number))
            accepted.append(f"r-{number}")
    store.release.set()
    writer.close()

    assert str(raised.value) == (
        f"store memory is not taking records and the writer's queue is full "
        f"(5 records); record r-{len(accepted)} was not written"
    )
    assert caplog.messages[0] == (
        "store memory: the writer's queue is full (5 records), the store is "
        "slower than the calls or down; waiting up to 0.05 s for room"
    )
    assert run_ids(store.inner) == accepted


def test_callers_waiting_on_a_full_queue_wait_side_by_side() -> None:
    store = BlockedStore(open_store("memory"))
    writer = StoreWriter(store, queue_size=1, batch_size=1, put_timeout=0.3)
    waited: list[float] = []

    def submit_one(number: int) -> None:
        started = time.perf_counter()
        with contextlib.suppress(StoreUnavailableError):
            for extra in range(3):
                writer.submit(record(number * 10 + extra))
        waited.append(time.perf_counter() - started)

    callers = [threading.Thread(target=submit_one, args=(n,)) for n in range(4)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    flushed = writer.flush(timeout=0.1)
    store.release.set()
    writer.close()

    assert not flushed
    assert len(waited) == 4
    assert max(waited) < 1.0  # one put_timeout each, not one after another


def test_submit_after_close_is_refused() -> None:
    writer = open_writer("memory")
    writer.close()

    with pytest.raises(StoreUnavailableError, match="writer of store memory is closed"):
        writer.submit(record(0))


def test_a_store_must_be_a_url_or_writable() -> None:
    with pytest.raises(ConfigurationError) as raised:
        open_writer(42)

    assert str(raised.value) == (
        "store must be a URL or an object with write(records), got 42"
    )


# -- exit and SIGTERM -------------------------------------------------------------


class Feeder:
    """Holds records back until closed, as a ledger building them lazily does."""

    def __init__(self, writer: StoreWriter, held: list[UsageRecord]) -> None:
        self.writer = writer
        self.held = held

    def close(self) -> None:
        while self.held:
            self.writer.submit(self.held.pop())


def submit_until_killed(url: str, submitted: multiprocessing.Value) -> None:  # type: ignore[valid-type]
    """In a child process: submit records as fast as the queue takes them."""
    writer = open_writer(url, queue_size=2_000)
    feeder = Feeder(writer, [record(-n) for n in range(1, 51)])
    close_at_exit(feeder)
    number = 0
    while True:
        writer.submit(record(number))
        number += 1
        submitted.value = number  # type: ignore[attr-defined]


def test_sigterm_writes_every_submitted_record(sqlite_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    submitted = context.Value("q", 0)
    child = context.Process(target=submit_until_killed, args=(sqlite_url, submitted))
    child.start()
    while submitted.value < 5_000 and child.is_alive():
        time.sleep(0.01)

    os.kill(child.pid, signal.SIGTERM)  # type: ignore[arg-type]
    child.join(30)

    assert child.exitcode == -signal.SIGTERM
    with open_store(sqlite_url) as store:
        numbers = sorted(int(run_id[2:]) for run_id in run_ids(store))
    fed, submitted_here = numbers[:50], numbers[50:]
    assert fed == list(range(-50, 0))
    assert submitted_here == list(range(len(submitted_here)))
    assert len(submitted_here) >= submitted.value


EXIT_SCRIPT = """
import signal, sys
from decimal import Decimal
from langgraph_tokenomics import UsageRecord
from langgraph_tokenomics._store import open_writer

def mine(signum, frame):
    pass

signal.signal(signal.SIGTERM, mine)
writer = open_writer(sys.argv[1], batch_delay=30.0)
for number in range(500):
    writer.submit(UsageRecord(run_id=f"r-{number}", cost=Decimal("0.01")))
assert signal.getsignal(signal.SIGTERM) is mine, "the user's handler was replaced"
"""


def test_interpreter_exit_writes_pending_records(sqlite_url: str) -> None:
    script = textwrap.dedent(EXIT_SCRIPT)

    done = subprocess.run(
        [sys.executable, "-c", script, sqlite_url],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    with open_store(sqlite_url) as store:
        assert len(store.read()) == 500
