"""The ledger's store: exact round trips, idempotent writes, URLs, schema versions."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import sqlalchemy

from langgraph_tokenomics import ConfigurationError, StoreUnavailableError, UsageRecord
from langgraph_tokenomics._budget import Claim
from langgraph_tokenomics._store import (
    SCHEMA_VERSION,
    BudgetBalance,
    Outcome,
    RecordRow,
    SQLBudgetBackend,
    SQLStore,
    open_store,
)

pytest_plugins = ["tests.postgres"]

T0 = datetime(2026, 12, 1, 9, 30, 0, 123456, tzinfo=UTC)
ONE = Decimal("1.00")


def full_record(run_id: str = "run-1", **changes: object) -> UsageRecord:
    """A record with every field set to something that must survive storage."""
    record = UsageRecord(
        run_id=run_id,
        root_run_id="root-1",
        thread_id="thread-1",
        node="search",
        node_path=("planner", "search"),
        step=3,
        tool="web_search",
        model="claude-sonnet-4-5",
        provider="anthropic",
        input_tokens=120_000,
        cache_read_tokens=50_000,
        cache_write_tokens=20_000,
        cache_write_1h_tokens=5_000,
        output_tokens=1_000,
        reasoning_tokens=400,
        input_cost=Decimal("0.150000"),
        cache_read_cost=Decimal("0.015"),
        cache_write_cost=Decimal("0.08625"),
        output_cost=Decimal("0.015"),
        cost=Decimal("0.266250"),
        price_source="genai-prices 0.2.3",
        estimated=True,
        service_tier="priority",
        cache_savings=Decimal("-0.012750"),
        predicted_cache_tokens=70_000,
        tool_definition_tokens={"web_search": 210, "calculator": 95},
        carried_tool_tokens={"web_search": 4_200},
        tags={"agent": "researcher", "team": "search", "user": "ü-42"},
        started_at=T0,
        ended_at=T0 + timedelta(seconds=2, microseconds=5),
        error="RateLimitError",
    )
    return dataclasses.replace(record, **changes)


def execute_sql(path: Path, *statements: str) -> list[tuple[object, ...]]:
    """Run statements on a SQLite file by hand; the rows of the last one."""
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        rows = [connection.execute(statement).fetchall() for statement in statements]
    return rows[-1]


@pytest.fixture(params=["sqlite", "postgres"])
def file_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty SQLite file or Postgres database."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_database"))
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    """An opened store of each kind."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'ledger.db'}"
    else:
        url = "memory"
    with open_store(url) as opened:
        yield opened


# -- round trips ----------------------------------------------------------------


def test_every_field_survives_a_round_trip(store: SQLStore) -> None:
    record = full_record()

    store.write([record])

    assert store.read() == [record]


def test_decimals_come_back_exactly_with_their_digits(store: SQLStore) -> None:
    record = full_record(cost=Decimal("0.000150"), input_cost=Decimal("1E-9"))

    store.write([record])
    [back] = store.read()

    assert str(back.cost) == "0.000150"
    assert back.input_cost == Decimal("1E-9")
    assert isinstance(back.cost, Decimal)


def test_unpriced_and_bare_records_keep_none_not_zero(store: SQLStore) -> None:
    bare = UsageRecord(run_id="bare")
    unpriced = full_record(
        "unpriced", input_cost=None, cost=None, output_cost=None, estimated=False
    )

    store.write([bare, unpriced])

    assert store.read() == [bare, unpriced]
    assert store.read()[1].cost is None


def test_read_only_mappings_are_stored_as_their_items(store: SQLStore) -> None:
    record = full_record(tags=MappingProxyType({"team": "search"}))

    store.write([record])

    assert store.read()[0].tags == {"team": "search"}


def test_timestamps_come_back_in_utc(store: SQLStore) -> None:
    paris = timezone(timedelta(hours=1))
    record = full_record(started_at=datetime(2026, 12, 1, 10, 0, tzinfo=paris))

    store.write([record])
    [back] = store.read()

    assert back.started_at == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    assert back.started_at.tzinfo is UTC


def test_records_come_back_in_the_order_written(store: SQLStore) -> None:
    records = [full_record(f"run-{i}") for i in (3, 1, 2)]

    store.write(records[:2])
    store.write(records[2:])

    assert [r.run_id for r in store.read()] == ["run-3", "run-1", "run-2"]


def test_read_filters_on_when_the_call_happened(store: SQLStore) -> None:
    early = full_record("early", started_at=T0)
    late = full_record("late", started_at=T0 + timedelta(days=2))
    ended_only = full_record("ended", started_at=None, ended_at=T0 + timedelta(days=1))
    undated = full_record("undated", started_at=None, ended_at=None)
    store.write([early, late, ended_only, undated])

    middle = store.read(since=T0 + timedelta(hours=1), until=T0 + timedelta(days=2))

    assert [r.run_id for r in middle] == ["ended"]
    assert [r.run_id for r in store.read(since=T0)] == ["early", "late", "ended"]
    assert len(store.read()) == 4


# -- idempotence ----------------------------------------------------------------


def test_a_record_written_twice_is_kept_once(store: SQLStore) -> None:
    record = full_record()

    store.write([record])
    store.write([record, full_record("run-2")])
    store.write([full_record("run-3"), full_record("run-3")])

    assert [r.run_id for r in store.read()] == ["run-1", "run-2", "run-3"]


def test_writing_nothing_is_a_no_op(store: SQLStore) -> None:
    store.write([])

    assert store.read() == []


# -- outcomes -------------------------------------------------------------------


def test_the_latest_outcome_mark_wins(store: SQLStore) -> None:
    store.mark_outcome("thread-1", success=False, label="escalated", at=T0)
    store.mark_outcome(
        "thread-1", success=True, value=Decimal("12.50"), label="resolved", at=T0
    )
    store.mark_outcome("run-9", success=True, at=T0 + timedelta(hours=1))

    assert store.outcomes() == [
        Outcome("thread-1", True, Decimal("12.50"), "resolved", T0),
        Outcome("run-9", True, None, None, T0 + timedelta(hours=1)),
    ]


# -- what is stored -------------------------------------------------------------


def test_every_record_field_has_a_column_and_nothing_else_is_stored() -> None:
    fields = {field.name for field in dataclasses.fields(UsageRecord)}
    columns = set(RecordRow.__table__.columns.keys())

    assert columns == fields | {"seq", "at"}
    assert not {"prompt", "completion", "messages", "text"} & columns


# -- URLs -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql://user:secret@db/ledger",
            "store URL 'mysql://user:***@db/ledger' is not valid ('mysql' is not a "
            "supported database); use 'memory', 'sqlite:///PATH' or "
            "'postgresql://USER:PASSWORD@HOST:PORT/DATABASE'",
        ),
        (
            "ledger.db",
            "store URL 'ledger.db' is not valid (it is not a URL); use 'memory', "
            "'sqlite:///PATH' or 'postgresql://USER:PASSWORD@HOST:PORT/DATABASE'",
        ),
        (
            "sqlite://host/ledger.db",
            "store URL 'sqlite://host/ledger.db' is not valid (a SQLite URL has no "
            "host); use 'memory', 'sqlite:///PATH' or "
            "'postgresql://USER:PASSWORD@HOST:PORT/DATABASE'",
        ),
    ],
)
def test_a_bad_url_is_named_in_a_configuration_error(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        open_store(url)

    assert str(raised.value) == message


def test_a_sqlite_file_in_a_missing_folder_is_a_configuration_error(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path}/nowhere/ledger.db"

    with pytest.raises(ConfigurationError) as raised:
        open_store(url)

    assert str(raised.value) == (
        f"store {url}: the folder '{tmp_path}/nowhere' does not exist"
    )


def test_a_missing_file_is_refused_when_not_creating(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"

    with pytest.raises(ConfigurationError, match="no ledger file at"):
        open_store(url, create=False)

    assert not (tmp_path / "ledger.db").exists()


@pytest.mark.parametrize("url", ["postgresql://u:pw@h:5/db", "postgres://u:pw@h:5/db"])
def test_postgres_urls_use_psycopg_3_and_hide_the_password(url: str) -> None:
    store = SQLStore(url)

    assert store._engine.url.drivername == "postgresql+psycopg"
    assert store.url == "postgresql://u:***@h:5/db"


@pytest.mark.parametrize("url", [None, "memory", "sqlite://", "sqlite:///:memory:"])
def test_memory_urls_open_a_private_database(url: str | None) -> None:
    with open_store(url) as store:
        assert store.url == "memory"
        assert store.read() == []


def test_an_unreachable_server_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailableError, match="cannot be opened"):
        open_store("postgresql://nobody@127.0.0.1:9/ledger")


def test_sqlite_files_use_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    with store, store.transaction(write=False) as connection:
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        timeout = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()

    assert (mode, timeout) == ("wal", 10_000)


# -- schema versions ------------------------------------------------------------


def test_a_new_file_gets_the_current_schema(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'ledger.db'}") as store:
        assert store.schema_version() == SCHEMA_VERSION


def test_a_newer_ledger_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    open_store(f"sqlite:///{path}").close()
    execute_sql(path, "UPDATE tokenomics_schema_info SET version = 99")

    with pytest.raises(ConfigurationError) as raised:
        open_store(f"sqlite:///{path}")

    assert str(raised.value) == (
        f"store sqlite:///{path} has ledger schema version 99, newer than "
        f"version {SCHEMA_VERSION} that this langgraph-tokenomics reads; "
        "upgrade langgraph-tokenomics to open it"
    )


def test_an_unknown_version_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    open_store(f"sqlite:///{path}").close()
    execute_sql(path, "DELETE FROM tokenomics_schema_info")

    with pytest.raises(ConfigurationError) as raised:
        open_store(f"sqlite:///{path}")

    assert str(raised.value) == (
        f"store sqlite:///{path} has an unknown ledger schema version (no version) "
        "in tokenomics_schema_info; this langgraph-tokenomics reads versions 1 to "
        f"{SCHEMA_VERSION}"
    )


def test_ledger_tables_without_a_version_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    execute_sql(path, "CREATE TABLE tokenomics_records (anything TEXT)")

    with pytest.raises(ConfigurationError, match="schema version is unknown"):
        open_store(f"sqlite:///{path}")


def test_other_tables_in_the_database_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    execute_sql(
        path, "CREATE TABLE orders (id INTEGER)", "INSERT INTO orders VALUES (7)"
    )

    with open_store(f"sqlite:///{path}") as store:
        store.write([full_record()])

    assert execute_sql(path, "SELECT id FROM orders") == [(7,)]


def downgrade_to_version_1(url: str) -> None:
    """Turn a new ledger into one as version 1 wrote it, with one record."""
    with open_store(url) as store, store.transaction(write=True) as connection:
        for table in ("closed", "reservations", "spend"):
            connection.exec_driver_sql(f"DROP TABLE tokenomics_budget_{table}")
        for column in (
            "cache_savings",
            "predicted_cache_tokens",
            "routed_from",
            "routing_reason",
        ):
            connection.exec_driver_sql(
                f"ALTER TABLE tokenomics_records DROP COLUMN {column}"
            )
        connection.exec_driver_sql(
            "INSERT INTO tokenomics_records (run_id, node_path, input_tokens, "
            "cache_read_tokens, cache_write_tokens, cache_write_1h_tokens, "
            "output_tokens, reasoning_tokens, cost, estimated, "
            "tool_definition_tokens, carried_tool_tokens, tags) VALUES "
            "('old', '[\"a\"]', 10, 0, 0, 0, 5, 0, '0.25', false, '{}', '{}', "
            '\'{"team": "x"}\')'
        )
        connection.exec_driver_sql("UPDATE tokenomics_schema_info SET version = 1")


def test_a_version_1_ledger_is_upgraded_and_keeps_its_records(
    file_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    downgrade_to_version_1(file_url)
    caplog.set_level("INFO", logger="langgraph_tokenomics._store")

    with open_store(file_url) as store:
        store.write([full_record()])
        version = store.schema_version()
        records = store.read()
        budgets = SQLBudgetBackend(store)
        reservation = budgets.try_reserve([Claim("k", ONE, ONE)], ttl_seconds=60)
        budgets.settle(str(reservation), {"k": ONE})
        balances = budgets.balances()

    assert version == SCHEMA_VERSION
    assert balances == [BudgetBalance("k", ONE, Decimal(0), ONE)]
    assert records == [
        UsageRecord(
            run_id="old",
            node_path=("a",),
            input_tokens=10,
            output_tokens=5,
            cost=Decimal("0.25"),
            tags={"team": "x"},
        ),
        full_record(),
    ]
    assert "upgrading ledger" in caplog.text


def schema_of(url: str) -> dict[str, tuple[Any, ...]]:
    """Tables, columns, keys and indexes of a database, as its dialect sees them."""
    with open_store(url) as store, store.transaction(write=False) as connection:
        inspector = sqlalchemy.inspect(connection)
        dialect = connection.dialect
        return {
            table: (
                [
                    (c["name"], c["type"].compile(dialect), c["nullable"])
                    for c in inspector.get_columns(table)
                ],
                inspector.get_pk_constraint(table)["constrained_columns"],
                sorted(
                    (i["name"], i["column_names"], i["unique"])
                    for i in inspector.get_indexes(table)
                ),
                sorted(
                    tuple(u["column_names"])
                    for u in inspector.get_unique_constraints(table)
                ),
            )
            for table in sorted(inspector.get_table_names())
        }


def test_an_upgraded_ledger_has_the_schema_of_a_new_one(
    file_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    fresh_url = (
        f"sqlite:///{tmp_path / 'fresh.db'}"
        if file_url.startswith("sqlite")
        else request.getfixturevalue("postgres_database")
    )
    downgrade_to_version_1(file_url)

    upgraded, fresh = schema_of(file_url), schema_of(fresh_url)

    assert upgraded.keys() == fresh.keys()
    for table in fresh:
        columns, *keys = upgraded[table]
        fresh_columns, *fresh_keys = fresh[table]
        assert sorted(columns) == sorted(fresh_columns), table
        assert keys == fresh_keys, table


def test_a_closed_store_refuses_to_work() -> None:
    store = open_store("memory")
    store.close()

    with pytest.raises(StoreUnavailableError) as raised:
        store.read()

    assert str(raised.value) == "store memory is closed"
