"""Stores of the ledger: records, outcomes and budgets in SQLite or Postgres.

A store is chosen by URL: ``"memory"`` (or ``None``) for an in-process SQLite
database, ``"sqlite:///path"`` for a file, ``"postgresql://..."`` for a server
shared by a fleet. Its tables are SQLModel tables with a versioned schema:
opening an older ledger upgrades it, a newer one is refused with the reason.

Only counts, costs, names and tags are stored; a record has no prompt or
completion text, and neither has any table here.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import logging
import operator
import os
import queue
import signal
import sqlite3
import sys
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    DateTime,
    Dialect,
    Engine,
    Index,
    Integer,
    String,
    create_engine,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import registry
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator, TypeEngine
from sqlmodel import Field, SQLModel
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
    wait_random,
)

from ._budget import Claim, Refusal
from ._errors import ConfigurationError, StoreUnavailableError
from ._records import UsageRecord

__all__ = [
    "SCHEMA_VERSION",
    "BudgetBalance",
    "Outcome",
    "RecordStore",
    "SQLBudgetBackend",
    "SQLStore",
    "StoreWriter",
    "close_at_exit",
    "open_store",
    "open_writer",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")

SCHEMA_VERSION = 4
"""The ledger schema this version of the package writes.

1: records, outcomes. 2: records gain ``cache_savings`` and
``predicted_cache_tokens``. 3: budget spend, reservations and closed
reservations. 4: records gain ``routed_from`` and ``routing_reason``.
"""

_MEMORY_URLS = frozenset({"memory", ":memory:", "sqlite://", "sqlite:///:memory:"})
_SQLITE_DRIVERS = frozenset({"sqlite", "sqlite+pysqlite"})
_POSTGRES_DRIVERS = frozenset({"postgresql", "postgres", "postgresql+psycopg"})
_SQLITE_BUSY_TIMEOUT_MS = 10_000
_POSTGRES_CONNECT_TIMEOUT_S = 5
_SCHEMA_LOCK_ID = 0x746F6B656E  # pg advisory lock taken while creating tables
_BEGIN_OPTION = "tokenomics_sqlite_begin"


# -- column types -------------------------------------------------------------


class ExactDecimal(TypeDecorator[Decimal]):
    """Money kept exactly: ``NUMERIC`` in Postgres, the decimal's text in SQLite.

    SQLite has no decimal type (SQLAlchemy would go through float), so the
    value is stored as ``str(Decimal)`` and read back with ``Decimal(text)``.
    """

    impl = String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(pg_dialect.NUMERIC(asdecimal=True))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, Decimal | int):
            raise TypeError(f"money must be a Decimal, got {value!r}")
        value = Decimal(value)
        return value if dialect.name == "postgresql" else str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """A moment in UTC: ``timestamptz`` in Postgres, naive UTC text in SQLite.

    Naive datetimes are taken as UTC; values come back timezone-aware in UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value if dialect.name == "postgresql" else value.replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)


_SequenceId = BigInteger().with_variant(Integer(), "sqlite")  # rowid in SQLite


# -- tables -------------------------------------------------------------------


class _Table(SQLModel, registry=registry()):
    """Base of the ledger's tables, kept out of SQLModel's shared metadata."""


class RecordRow(_Table, table=True):
    """One model call: every field of `UsageRecord`, plus when it happened.

    ``at`` is ``started_at``, else ``ended_at``: what ``read(since=...)``
    filters on. ``seq`` keeps the order records were written in.
    """

    __tablename__ = "tokenomics_records"

    seq: int | None = Field(default=None, primary_key=True, sa_type=_SequenceId)
    run_id: str = Field(unique=True, nullable=False)
    root_run_id: str | None = None
    thread_id: str | None = None
    node: str | None = None
    node_path: list[str] = Field(sa_type=JSON, nullable=False)
    step: int | None = None
    tool: str | None = None
    model: str | None = None
    provider: str | None = None
    input_tokens: int = Field(sa_type=BigInteger, nullable=False)
    cache_read_tokens: int = Field(sa_type=BigInteger, nullable=False)
    cache_write_tokens: int = Field(sa_type=BigInteger, nullable=False)
    cache_write_1h_tokens: int = Field(sa_type=BigInteger, nullable=False)
    output_tokens: int = Field(sa_type=BigInteger, nullable=False)
    reasoning_tokens: int = Field(sa_type=BigInteger, nullable=False)
    input_cost: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    cache_read_cost: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    cache_write_cost: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    output_cost: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    cost: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    price_source: str | None = None
    estimated: bool = Field(nullable=False)
    service_tier: str | None = None
    cache_savings: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    predicted_cache_tokens: int | None = Field(default=None, sa_type=BigInteger)
    routed_from: str | None = None
    routing_reason: str | None = None
    tool_definition_tokens: dict[str, int] = Field(sa_type=JSON, nullable=False)
    carried_tool_tokens: dict[str, int] = Field(sa_type=JSON, nullable=False)
    tags: dict[str, str] = Field(sa_type=JSON, nullable=False)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    error: str | None = None


class OutcomeRow(_Table, table=True):
    """How a run or a thread ended, for cost per outcome; the latest mark wins."""

    __tablename__ = "tokenomics_outcomes"

    run_or_thread_id: str = Field(primary_key=True)
    success: bool = Field(nullable=False)
    value: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    label: str | None = None
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class SchemaInfoRow(_Table, table=True):
    """The ledger's schema version: one row."""

    __tablename__ = "tokenomics_schema_info"

    id: int = Field(default=1, primary_key=True)
    version: int = Field(nullable=False)
    upgraded_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class BudgetSpendRow(_Table, table=True):
    """What settled under one budget key; its row is locked to reserve."""

    __tablename__ = "tokenomics_budget_spend"

    key: str = Field(primary_key=True)
    spent: Decimal = Field(sa_type=ExactDecimal, nullable=False)
    limit_amount: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    updated_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class BudgetReservationRow(_Table, table=True):
    """An amount held under one key for a call in flight, until it expires."""

    __tablename__ = "tokenomics_budget_reservations"
    __table_args__ = (
        Index("ix_tokenomics_budget_reservations_key_expires", "key", "expires_at"),
    )

    reservation_id: str = Field(primary_key=True)
    key: str = Field(primary_key=True)
    amount: Decimal = Field(sa_type=ExactDecimal, nullable=False)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class BudgetClosedRow(_Table, table=True):
    """A reservation settled or released: what makes both idempotent."""

    __tablename__ = "tokenomics_budget_closed"

    reservation_id: str = Field(primary_key=True)
    how: str = Field(nullable=False)
    closed_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


_RECORDS = RecordRow.__table__  # type: ignore[attr-defined]
_SPEND = BudgetSpendRow.__table__  # type: ignore[attr-defined]
_RESERVATIONS = BudgetReservationRow.__table__  # type: ignore[attr-defined]
_CLOSED_RESERVATIONS = BudgetClosedRow.__table__  # type: ignore[attr-defined]
_OUTCOMES = OutcomeRow.__table__  # type: ignore[attr-defined]
_SCHEMA_INFO = SchemaInfoRow.__table__  # type: ignore[attr-defined]
_RECORD_FIELDS = tuple(field.name for field in dataclasses.fields(UsageRecord))
_MAPPING_FIELDS = ("tool_definition_tokens", "carried_tool_tokens", "tags")


@dataclasses.dataclass(frozen=True, slots=True)
class Outcome:
    """How a run or thread ended.

    Attributes:
        run_or_thread_id: The root run id or the ``thread_id`` marked.
        success: Whether it reached its goal.
        value: What the result was worth to the user, if they say (USD).
        label: A free label, e.g. ``"resolved"`` or ``"escalated"``.
        at: When it was marked (UTC).
    """

    run_or_thread_id: str
    success: bool
    value: Decimal | None
    label: str | None
    at: datetime


# -- the store ----------------------------------------------------------------


class SQLStore:
    """The ledger's tables in SQLite or Postgres; safe to share between threads.

    Tables are created or upgraded on first use (`open_store` does it at
    once). Every method is one transaction.

    Args:
        url: ``None`` or ``"memory"``, ``"sqlite:///PATH"`` or
            ``"postgresql://USER:PASSWORD@HOST:PORT/DB"``.
        create: Whether a SQLite file that does not exist is created; when
            ``False``, opening it raises `ConfigurationError`.

    Raises:
        ConfigurationError: The URL is not one of those.
    """

    def __init__(self, url: str | None = None, *, create: bool = True) -> None:
        self._target = _parse_url(url)
        self.url = _display_url(self._target)
        self._create = create
        self._engine = _create_engine(self._target)
        self.dialect = self._engine.dialect.name
        # One connection serves an in-memory database: take turns on it.
        memory = self._target == "memory"
        self._turns: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if memory else contextlib.nullcontext()
        )
        self._ready = False
        self._ready_lock = threading.Lock()
        self._closed = False

    def prepare(self) -> None:
        """Create the tables, or upgrade older ones; at most once.

        Raises:
            ConfigurationError: The database holds a ledger of a newer or
                unknown schema version, or a SQLite file is missing and
                ``create`` is off.
            sqlalchemy.exc.OperationalError: The database cannot be reached.
        """
        if self._ready:
            return
        with self._ready_lock:
            if not self._ready:
                self._check_file()
                with self.transaction(write=True, prepare=False) as connection:
                    _migrate(connection, self.url)
                self._ready = True

    def write(self, records: Iterable[UsageRecord]) -> None:
        """Write records in one transaction; a run id already stored is skipped."""
        if self.dialect == "sqlite":
            self._write_sqlite(records)
            return
        rows = [_record_row(record) for record in records]
        if not rows:
            return
        statement = self._insert(_RECORDS).on_conflict_do_nothing(
            index_elements=["run_id"]
        )
        with self.transaction(write=True) as connection:
            connection.execute(statement, rows)

    def _write_sqlite(self, records: Iterable[UsageRecord]) -> None:
        """The same insert straight to sqlite3: twice the rate of a Core insert."""
        rows = [_SQLITE_ROWS.encode(record) for record in records]
        if not rows:
            return
        with self.transaction(write=True) as connection:
            connection.exec_driver_sql(_SQLITE_ROWS.insert, rows)

    def read(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> list[UsageRecord]:
        """Records of calls made in ``[since, until)``, in the order written.

        A call's time is when it started, else when it ended; with a bound
        given, records with neither are left out.
        """
        query = select(_RECORDS).order_by(_RECORDS.c.seq)
        if since is not None:
            query = query.where(_RECORDS.c.at >= since)
        if until is not None:
            query = query.where(_RECORDS.c.at < until)
        with self.transaction(write=False) as connection:
            rows = connection.execute(query).mappings().all()
        return [_usage_record(row) for row in rows]

    def mark_outcome(
        self,
        run_or_thread_id: str,
        *,
        success: bool,
        value: Decimal | None = None,
        label: str | None = None,
        at: datetime | None = None,
    ) -> None:
        """Mark how a run or thread ended; a later mark replaces an earlier one."""
        row = {
            "run_or_thread_id": run_or_thread_id,
            "success": success,
            "value": value,
            "label": label,
            "at": at or datetime.now(tz=UTC),
        }
        statement = self._insert(_OUTCOMES).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=["run_or_thread_id"],
            set_={name: statement.excluded[name] for name in row},
        )
        with self.transaction(write=True) as connection:
            connection.execute(statement)

    def outcomes(self) -> list[Outcome]:
        """Every marked outcome, oldest first."""
        query = select(_OUTCOMES).order_by(_OUTCOMES.c.at)
        with self.transaction(write=False) as connection:
            rows = connection.execute(query).mappings().all()
        return [Outcome(**row) for row in rows]

    def schema_version(self) -> int:
        """The schema version of the opened database."""
        with self.transaction(write=False) as connection:
            return _read_version(connection, self.url)

    def close(self) -> None:
        """Close the store's connections; it cannot be used after."""
        self._closed = True
        self._engine.dispose()

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLStore({self.url!r})"

    @contextlib.contextmanager
    def transaction(self, *, write: bool, prepare: bool = True) -> Iterator[Connection]:
        """One transaction; in SQLite a writing one takes the write lock first.

        ``BEGIN IMMEDIATE`` makes SQLite wait (``busy_timeout``) for the lock
        up front, so a transaction that reads then writes never fails to
        upgrade its lock halfway, and reads see the last committed state.
        """
        if self._closed:
            raise StoreUnavailableError(f"store {self.url} is closed")
        if prepare:
            self.prepare()
        begin = "BEGIN IMMEDIATE" if write else "BEGIN"
        with self._turns, self._engine.connect() as connection:
            connection.execution_options(**{_BEGIN_OPTION: begin})
            with connection.begin():
                yield connection

    def _insert(self, table: Any) -> Any:
        dialect = sqlite_dialect if self.dialect == "sqlite" else pg_dialect
        return dialect.insert(table)

    def _check_file(self) -> None:
        if not isinstance(self._target, URL) or self.dialect != "sqlite":
            return
        path = Path(self._target.database or "")
        if not path.parent.is_dir():
            raise ConfigurationError(
                f"store {self.url}: the folder {str(path.parent)!r} does not exist"
            )
        if not self._create and not path.is_file():
            raise ConfigurationError(f"store {self.url}: no ledger file at {path}")


def open_store(url: str | None = None, *, create: bool = True) -> SQLStore:
    """Open the store at ``url`` and create or upgrade its tables.

    Args:
        url: ``None`` or ``"memory"``, ``"sqlite:///PATH"`` or
            ``"postgresql://..."``.
        create: Whether a missing SQLite file is created.

    Raises:
        ConfigurationError: A bad URL, or a ledger this version cannot open.
        StoreUnavailableError: The database cannot be reached.
    """
    store = SQLStore(url, create=create)
    try:
        store.prepare()
    except sa_exc.DBAPIError as error:
        store.close()
        raise StoreUnavailableError(
            f"store {store.url} cannot be opened: {_reason(error)}"
        ) from error
    except BaseException:
        store.close()
        raise
    return store


# -- URLs and engines ---------------------------------------------------------


def _parse_url(url: str | None) -> URL | str:
    """The SQLAlchemy URL of a store URL, or ``"memory"``."""
    if url is None or url in _MEMORY_URLS:
        return "memory"
    if not isinstance(url, str):
        raise ConfigurationError(f"store must be a URL string, got {url!r}")
    try:
        parsed = make_url(url)
    except sa_exc.ArgumentError:
        raise ConfigurationError(_bad_url(url, "it is not a URL")) from None
    if parsed.drivername in _SQLITE_DRIVERS:
        return _sqlite_url(url, parsed)
    if parsed.drivername in _POSTGRES_DRIVERS:
        return parsed.set(drivername="postgresql+psycopg")
    shown = parsed.render_as_string(hide_password=True)
    reason = f"{parsed.drivername!r} is not a supported database"
    raise ConfigurationError(_bad_url(shown, reason))


def _sqlite_url(url: str, parsed: URL) -> URL | str:
    if parsed.host or parsed.username or parsed.port:
        raise ConfigurationError(_bad_url(url, "a SQLite URL has no host"))
    if not parsed.database or parsed.database == ":memory:":
        return "memory"
    if Path(parsed.database).is_dir():
        raise ConfigurationError(
            _bad_url(url, f"{parsed.database!r} is a folder, not a database file")
        )
    return parsed.set(drivername="sqlite+pysqlite")


def _bad_url(url: str, reason: str) -> str:
    return (
        f"store URL {url!r} is not valid ({reason}); use 'memory', "
        "'sqlite:///PATH' or 'postgresql://USER:PASSWORD@HOST:PORT/DATABASE'"
    )


def _display_url(target: URL | str) -> str:
    if isinstance(target, str):
        return target
    shown = target.set(drivername=target.drivername.split("+")[0])
    return shown.render_as_string(hide_password=True)


def _create_engine(target: URL | str) -> Engine:
    if target == "memory":
        engine = create_engine(
            "sqlite+pysqlite://",
            poolclass=StaticPool,
            connect_args={"check_same_thread": False},
        )
        _take_over_sqlite_transactions(engine, wal=False)
        return engine
    assert isinstance(target, URL)
    if target.drivername.startswith("sqlite"):
        engine = create_engine(
            target,
            connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        _take_over_sqlite_transactions(engine, wal=True)
        return engine
    return _create_postgres_engine(target)


def _create_postgres_engine(target: URL) -> Engine:
    try:
        return create_engine(
            target,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=5,
            connect_args={"connect_timeout": _POSTGRES_CONNECT_TIMEOUT_S},
        )
    except ImportError:
        raise ConfigurationError(
            "a postgresql:// store needs psycopg 3: "
            "pip install 'langgraph-tokenomics[postgres]'"
        ) from None


def _take_over_sqlite_transactions(engine: Engine, *, wal: bool) -> None:
    """Let SQLAlchemy, not the sqlite3 module, emit BEGIN (and BEGIN IMMEDIATE)."""

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
        if wal:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        options = connection.get_execution_options()
        connection.exec_driver_sql(options.get(_BEGIN_OPTION, "BEGIN"))


def _reason(error: BaseException) -> str:
    """The driver's message of a database error, on one line."""
    cause = getattr(error, "orig", None) or error
    return " ".join(str(cause).split()) or type(cause).__name__


# -- schema versions ----------------------------------------------------------


def _add_cache_columns(connection: Connection) -> None:
    """1 to 2: what caching saved on a call, and what it could have served."""
    money = "NUMERIC" if connection.dialect.name == "postgresql" else "VARCHAR"
    for column, sql_type in (
        ("cache_savings", money),
        ("predicted_cache_tokens", "BIGINT"),
    ):
        connection.exec_driver_sql(
            f"ALTER TABLE tokenomics_records ADD COLUMN {column} {sql_type}"
        )


def _add_routing_columns(connection: Connection) -> None:
    """3 to 4: which model a router switched a call away from, and why."""
    for column in ("routed_from", "routing_reason"):
        connection.exec_driver_sql(
            f"ALTER TABLE tokenomics_records ADD COLUMN {column} VARCHAR"
        )


def _add_budget_tables(connection: Connection) -> None:
    """2 to 3: budget spend, reservations, and reservations closed."""
    postgres = connection.dialect.name == "postgresql"
    money = "NUMERIC" if postgres else "VARCHAR"
    moment = "TIMESTAMP WITH TIME ZONE" if postgres else "DATETIME"
    for statement in (
        "CREATE TABLE tokenomics_budget_spend (key VARCHAR NOT NULL, "
        f"spent {money} NOT NULL, limit_amount {money}, "
        f"updated_at {moment} NOT NULL, PRIMARY KEY (key))",
        "CREATE TABLE tokenomics_budget_reservations (reservation_id VARCHAR "
        f"NOT NULL, key VARCHAR NOT NULL, amount {money} NOT NULL, expires_at "
        f"{moment} NOT NULL, PRIMARY KEY (reservation_id, key))",
        "CREATE INDEX ix_tokenomics_budget_reservations_key_expires "
        "ON tokenomics_budget_reservations (key, expires_at)",
        "CREATE TABLE tokenomics_budget_closed (reservation_id VARCHAR NOT NULL, "
        f"how VARCHAR NOT NULL, closed_at {moment} NOT NULL, "
        "PRIMARY KEY (reservation_id))",
        "CREATE INDEX ix_tokenomics_budget_closed_closed_at "
        "ON tokenomics_budget_closed (closed_at)",
    ):
        connection.exec_driver_sql(statement)


_UPGRADES: dict[int, Callable[[Connection], None]] = {
    1: _add_cache_columns,
    2: _add_budget_tables,
    3: _add_routing_columns,
}
"""The step from version N to N + 1, by N; each frozen as that version was."""


def _migrate(connection: Connection, url: str) -> None:
    """Create the ledger's tables, or upgrade them to `SCHEMA_VERSION`."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK_ID}
        )
    version = _read_version(connection, url)
    if version == SCHEMA_VERSION:
        return
    if version == 0:
        _Table.metadata.create_all(connection)
    else:
        for step in range(version, SCHEMA_VERSION):
            logger.info("upgrading ledger %s from schema %d", url, step)
            _UPGRADES[step](connection)
    _write_version(connection)


def _read_version(connection: Connection, url: str) -> int:
    """The schema version of the database; 0 when it holds no ledger yet."""
    tables = set(inspect(connection).get_table_names())
    if _SCHEMA_INFO.name not in tables:
        found = sorted(tables & {table.name for table in _Table.metadata.sorted_tables})
        if found:
            raise ConfigurationError(
                f"store {url} has ledger tables ({', '.join(found)}) but no "
                f"{_SCHEMA_INFO.name} table, so its schema version is unknown; "
                "it was not written by langgraph-tokenomics and is left as it is"
            )
        return 0
    versions = connection.execute(select(_SCHEMA_INFO.c.version)).scalars().all()
    if len(versions) != 1 or not 1 <= versions[0] <= SCHEMA_VERSION:
        raise ConfigurationError(_version_error(url, versions))
    return int(versions[0])


def _version_error(url: str, versions: Sequence[int]) -> str:
    if len(versions) == 1 and versions[0] > SCHEMA_VERSION:
        return (
            f"store {url} has ledger schema version {versions[0]}, newer than "
            f"version {SCHEMA_VERSION} that this langgraph-tokenomics reads; "
            "upgrade langgraph-tokenomics to open it"
        )
    shown = ", ".join(str(version) for version in versions) or "no version"
    return (
        f"store {url} has an unknown ledger schema version ({shown}) in "
        f"{_SCHEMA_INFO.name}; this langgraph-tokenomics reads versions 1 to "
        f"{SCHEMA_VERSION}"
    )


def _write_version(connection: Connection) -> None:
    connection.execute(_SCHEMA_INFO.delete())
    connection.execute(
        _SCHEMA_INFO.insert().values(
            id=1, version=SCHEMA_VERSION, upgraded_at=datetime.now(tz=UTC)
        )
    )


# -- budgets ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class BudgetBalance:
    """Where one budget key stands in a store.

    Attributes:
        key: The budget key (budget, scope value and window).
        spent: What settled under it.
        reserved: What unexpired reservations hold under it.
        limit: The limit last claimed against it; ``None`` when it was only
            ever settled, never reserved.
    """

    key: str
    spent: Decimal
    reserved: Decimal
    limit: Decimal | None

    @property
    def left(self) -> Decimal | None:
        """The limit minus spent and reserved (negative past the limit)."""
        if self.limit is None:
            return None
        return self.limit - self.spent - self.reserved


class SQLBudgetBackend:
    """Budget spend and reservations in a store, shared by every process on it.

    Implements `BudgetBackend`. Each check-and-reserve is one transaction
    that holds the claimed keys exclusively: SQLite's write lock
    (``BEGIN IMMEDIATE``), or in Postgres each key's spend row, locked
    ``FOR UPDATE`` in sorted key order so that two reservations never wait
    on each other. Processes sharing the store therefore never pass a limit
    together. A reservation of a process that died expires after its TTL
    and is then ignored and deleted. Amounts are exact ``Decimal``s.

    Transient errors (a lock held too long, a dropped connection, a
    deadlock Postgres broke) are retried for up to ``retry_seconds``; then
    `StoreUnavailableError` is raised.

    Args:
        store: A `SQLStore` (left open) or a store URL (opened here, closed by
            `close`).
        now: The UTC clock; reservations expire by it.
        retry_seconds: How long transient errors are retried.
    """

    def __init__(
        self,
        store: SQLStore | str | None,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(tz=UTC),
        retry_seconds: float = 15.0,
    ) -> None:
        self._owns_store = not isinstance(store, SQLStore)
        self.store = store if isinstance(store, SQLStore) else open_store(store)
        self._now = now
        self._closes = 0
        self._retry = Retrying(
            retry=retry_if_exception(_is_transient),
            wait=wait_exponential(multiplier=0.005, max=0.5) + wait_random(0, 0.01),
            stop=stop_after_delay(retry_seconds),
            reraise=True,
        )

    def try_reserve(
        self, claims: Sequence[Claim], *, ttl_seconds: float
    ) -> str | Refusal:
        """Reserve every claim, or none and return the first that did not fit.

        A claim fits when the key's spent + unexpired reservations + this
        reservation's earlier claims on the key + its amount <= its limit.

        Raises:
            ConfigurationError: A negative amount, or a TTL that is not > 0.
            StoreUnavailableError: The store stayed unreachable.
        """
        _check_claims(claims, ttl_seconds)
        return self._run(self._try_reserve, claims, ttl_seconds)

    def settle(self, reservation_id: str, actuals: Mapping[str, Decimal]) -> None:
        """Drop the reservation and add each actual amount to its key's spend.

        Idempotent: a second settle, or a settle after `release`, adds
        nothing. A settle that comes after the reservation expired still
        adds its actuals: the money was spent.
        """
        self._run(self._settle, reservation_id, actuals)

    def release(self, reservation_id: str) -> None:
        """Drop the reservation without spending; idempotent."""
        self._run(self._release, reservation_id)

    def spent(self, key: str) -> Decimal:
        """What settled under ``key``."""
        query = select(_SPEND.c.spent).where(_SPEND.c.key == key)
        return self._run(self._scalar, query) or Decimal(0)

    def reserved(self, key: str) -> Decimal:
        """What unexpired reservations hold under ``key``."""
        return self._run(self._reserved, key)

    def keys(self) -> list[str]:
        """Every key claimed in the store: with spend (maybe zero) or reservations."""
        return [balance.key for balance in self.balances()]

    def balances(self) -> list[BudgetBalance]:
        """Every key's spend, reservations and limit, sorted by key, in one read."""
        return self._run(self._balances)

    def close(self) -> None:
        """Close the store if this backend opened it."""
        if self._owns_store:
            self.store.close()

    def __repr__(self) -> str:
        return f"SQLBudgetBackend({self.store.url!r})"

    def _run(self, operation: Callable[..., _T], *args: Any) -> _T:
        try:
            result: _T = self._retry(operation, *args)
            return result
        except Exception as error:
            if not _is_transient(error):
                raise
            raise StoreUnavailableError(
                f"budget store {self.store.url} is unavailable: {_reason(error)}"
            ) from error

    def _try_reserve(
        self, claims: Sequence[Claim], ttl_seconds: float
    ) -> str | Refusal:
        now = self._now()
        keys = sorted({claim.key for claim in claims})
        reservation_id = uuid.uuid4().hex
        with self.store.transaction(write=True) as connection:
            spent = self._lock_keys(connection, keys, now, _limits_by_key(claims))
            connection.execute(
                _RESERVATIONS.delete().where(
                    _RESERVATIONS.c.key.in_(keys), _RESERVATIONS.c.expires_at <= now
                )
            )
            reserved = _held_by_key(connection, keys, now)
            refusal = _first_refusal(claims, spent, reserved)
            if refusal is not None:
                return refusal
            expires_at = now + timedelta(seconds=ttl_seconds)
            rows = [
                {"reservation_id": reservation_id, "key": key, "amount": amount,
                 "expires_at": expires_at}
                for key, amount in _amounts_by_key(claims).items()
            ]  # fmt: skip
            if rows:
                connection.execute(_RESERVATIONS.insert(), rows)
        return reservation_id

    def _settle(self, reservation_id: str, actuals: Mapping[str, Decimal]) -> None:
        now = self._now()
        keys = sorted(key for key, amount in actuals.items() if amount)
        with self.store.transaction(write=True) as connection:
            if not self._close_once(connection, reservation_id, "settled", now):
                return
            spent = self._lock_keys(connection, keys, now, {})
            connection.execute(
                _RESERVATIONS.delete().where(
                    _RESERVATIONS.c.reservation_id == reservation_id
                )
            )
            for key in keys:
                connection.execute(
                    _SPEND.update()
                    .where(_SPEND.c.key == key)
                    .values(spent=spent[key] + Decimal(actuals[key]), updated_at=now)
                )
        self._prune_closed(now)

    def _release(self, reservation_id: str) -> None:
        now = self._now()
        with self.store.transaction(write=True) as connection:
            if self._close_once(connection, reservation_id, "released", now):
                connection.execute(
                    _RESERVATIONS.delete().where(
                        _RESERVATIONS.c.reservation_id == reservation_id
                    )
                )
        self._prune_closed(now)

    def _lock_keys(
        self,
        connection: Connection,
        keys: Sequence[str],
        now: datetime,
        limits: Mapping[str, Decimal],
    ) -> dict[str, Decimal]:
        """Lock the keys' spend rows, in sorted order; their spend.

        Each key's row also keeps the limit last claimed against it (a limit
        raised to let a halted run go on replaces the old one), for reports.
        """
        if not keys:
            return {}
        new_rows = [
            {"key": key, "spent": Decimal(0), "limit_amount": limits.get(key),
             "updated_at": now}
            for key in keys
        ]  # fmt: skip
        connection.execute(
            self.store._insert(_SPEND)
            .values(new_rows)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        query = (
            select(_SPEND.c.key, _SPEND.c.spent, _SPEND.c.limit_amount)
            .where(_SPEND.c.key.in_(keys))
            .order_by(_SPEND.c.key)
            .with_for_update()  # a no-op in SQLite, which holds the write lock
        )
        rows = connection.execute(query).all()
        for key, _, limit in rows:
            if key in limits and limits[key] != limit:
                connection.execute(
                    _SPEND.update()
                    .where(_SPEND.c.key == key)
                    .values(limit_amount=limits[key])
                )
        return {key: spent for key, spent, _ in rows}

    def _close_once(
        self, connection: Connection, reservation_id: str, how: str, now: datetime
    ) -> bool:
        """Mark the reservation closed; ``False`` if it already was."""
        statement = self.store._insert(_CLOSED_RESERVATIONS).values(
            reservation_id=reservation_id, how=how, closed_at=now
        )
        statement = statement.on_conflict_do_nothing(index_elements=["reservation_id"])
        inserted = connection.execute(
            statement.returning(_CLOSED_RESERVATIONS.c.reservation_id)
        )
        self._closes += 1
        return inserted.first() is not None

    def _prune_closed(self, now: datetime) -> None:
        """Forget closed reservations after a week, now and then."""
        if self._closes < _PRUNE_EVERY:
            return
        self._closes = 0
        cutoff = now - _CLOSED_RETENTION
        with self.store.transaction(write=True) as connection:
            connection.execute(
                _CLOSED_RESERVATIONS.delete().where(
                    _CLOSED_RESERVATIONS.c.closed_at < cutoff
                )
            )

    def _scalar(self, query: Any) -> Any:
        with self.store.transaction(write=False) as connection:
            return connection.execute(query).scalar()

    def _reserved(self, key: str) -> Decimal:
        with self.store.transaction(write=False) as connection:
            held = _held_by_key(connection, [key], self._now())
        return held.get(key, Decimal(0))

    def _balances(self) -> list[BudgetBalance]:
        now = self._now()
        columns = (_SPEND.c.key, _SPEND.c.spent, _SPEND.c.limit_amount)
        with self.store.transaction(write=False) as connection:
            rows = {key: (spent, limit) for key, spent, limit in connection.execute(
                select(*columns)
            )}  # fmt: skip
            reserved = _held_by_key(connection, None, now)
        return [
            BudgetBalance(
                key=key,
                spent=rows.get(key, (Decimal(0), None))[0],
                reserved=reserved.get(key, Decimal(0)),
                limit=rows.get(key, (Decimal(0), None))[1],
            )
            for key in sorted(rows.keys() | reserved.keys())
        ]


_PRUNE_EVERY = 1_000
_CLOSED_RETENTION = timedelta(days=7)


def _check_claims(claims: Sequence[Claim], ttl_seconds: float) -> None:
    if not ttl_seconds > 0:
        raise ConfigurationError(f"ttl_seconds must be > 0, got {ttl_seconds}")
    for claim in claims:
        if claim.amount < 0:
            raise ConfigurationError(
                f"a budget claim must be >= 0, got {claim.amount} for {claim.key!r}"
            )


def _held_by_key(
    connection: Connection, keys: Sequence[str] | None, now: datetime
) -> dict[str, Decimal]:
    """Unexpired reserved amounts, summed by key (of ``keys``, or all)."""
    query = select(_RESERVATIONS.c.key, _RESERVATIONS.c.amount).where(
        _RESERVATIONS.c.expires_at > now
    )
    if keys is not None:
        query = query.where(_RESERVATIONS.c.key.in_(keys))
    held: dict[str, Decimal] = {}
    for key, amount in connection.execute(query):
        held[key] = held.get(key, Decimal(0)) + amount
    return held


def _first_refusal(
    claims: Sequence[Claim],
    spent: Mapping[str, Decimal],
    reserved: Mapping[str, Decimal],
) -> Refusal | None:
    """The first claim that does not fit, counting earlier claims on its key."""
    claimed: dict[str, Decimal] = {}
    for claim in claims:
        already = spent.get(claim.key, Decimal(0))
        held = reserved.get(claim.key, Decimal(0)) + claimed.get(claim.key, 0)
        if already + held + claim.amount > claim.limit:
            return Refusal(claim.key, claim.limit, already, held, claim.amount)
        claimed[claim.key] = claimed.get(claim.key, Decimal(0)) + claim.amount
    return None


def _limits_by_key(claims: Sequence[Claim]) -> dict[str, Decimal]:
    limits: dict[str, Decimal] = {}
    for claim in claims:
        limits.setdefault(claim.key, claim.limit)
    return limits


def _amounts_by_key(claims: Sequence[Claim]) -> dict[str, Decimal]:
    amounts: dict[str, Decimal] = {}
    for claim in claims:
        amounts[claim.key] = amounts.get(claim.key, Decimal(0)) + claim.amount
    return amounts


# -- the background writer ----------------------------------------------------


class RecordStore(Protocol):
    """What a writer needs of a store: one transactional batch write."""

    def write(self, records: Sequence[UsageRecord]) -> None:
        """Write every record, or none; a run id already stored is skipped."""


class StoreWriter:
    """A `RecordSink` that writes records to a store on a background thread.

    ``submit`` only puts a record on a bounded queue, so the caller never
    waits for the database. Every ``batch_delay`` seconds the writer thread
    writes what is queued, up to ``batch_size`` records a transaction.
    Transient errors (a locked SQLite file, a dropped Postgres connection)
    are retried with exponential backoff for as long as the store is down:
    records wait in the queue and are written when it returns. ``close()``
    writes everything pending, and so do the interpreter's exit and SIGTERM.

    Args:
        store: The store written to.
        owns_store: Whether ``close()`` also closes the store.
        queue_size: How many records may wait; past it ``submit`` blocks.
        batch_size: The most records written in one transaction.
        batch_delay: The pause between two writes of the queue, in seconds:
            the longest a record waits while the store is up.
        put_timeout: How long ``submit`` waits for room in a full queue
            before raising `StoreUnavailableError`.
        close_timeout: How long ``close()`` keeps retrying a store that is
            down; records still unwritten then are reported as lost.
        max_backoff: The longest pause between two retries, in seconds.
    """

    def __init__(
        self,
        store: RecordStore,
        *,
        owns_store: bool = False,
        queue_size: int = 50_000,
        batch_size: int = 500,
        batch_delay: float = 0.1,
        put_timeout: float = 1.0,
        close_timeout: float = 30.0,
        max_backoff: float = 5.0,
    ) -> None:
        if queue_size < 1 or batch_size < 1:
            raise ConfigurationError("queue_size and batch_size must be at least 1")
        self.store = store
        self.name = str(getattr(store, "url", None) or store)
        self._owns_store = owns_store
        self._queue: queue.Queue[UsageRecord | threading.Event] = queue.Queue(
            queue_size
        )
        self._batch_size = batch_size
        self._batch_delay = batch_delay
        self._put_timeout = put_timeout
        self._close_timeout = close_timeout
        self._accepting = threading.RLock()
        self._closing = threading.Event()
        self._wake = threading.Event()
        self._closed = False
        self._deadline: float | None = None
        self._down_since: float | None = None
        self.written = 0
        self.failed = 0
        self.lost = 0
        self._retry = Retrying(
            retry=retry_if_exception(_is_transient),
            wait=wait_exponential(multiplier=0.05, max=max_backoff)
            + wait_random(0, 0.05),
            stop=self._past_deadline,
            sleep=self._pause,
            before_sleep=self._note_outage,
            reraise=True,
        )
        self._thread = threading.Thread(
            target=self._run, name="tokenomics-store-writer", daemon=True
        )
        self._thread.start()
        _track(self)

    @property
    def pending(self) -> int:
        """Records submitted and not yet written."""
        return self._queue.qsize()

    def submit(self, record: UsageRecord) -> None:
        """Queue one record for writing; never does I/O.

        Raises:
            StoreUnavailableError: The queue stayed full for ``put_timeout``
                seconds (a warning is logged as soon as it is full), or the
                writer is closed.
        """
        state = self._offer(record)
        if state == _QUEUE_FULL:
            state = self._wait_for_room(record)
        if state == _WRITER_CLOSED:
            raise StoreUnavailableError(
                f"the writer of store {self.name} is closed; "
                f"record {record.run_id} was not taken"
            )

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every record submitted so far is written (or failed).

        Returns:
            Whether that happened within ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        marker = threading.Event()
        state = self._offer(marker)
        while state == _QUEUE_FULL and not _past(deadline):
            time.sleep(_ROOM_POLL_S)
            state = self._offer(marker)
        if state != _QUEUED:
            self._thread.join(timeout if state == _WRITER_CLOSED else 0)
            return state == _WRITER_CLOSED and not self._thread.is_alive()
        self._wake.set()
        while not marker.wait(_ROOM_POLL_S * 10):
            if _past(deadline) or not self._thread.is_alive():
                return marker.is_set()
        return True

    def close(self) -> None:
        """Write every pending record, stop the thread, close an owned store."""
        with self._accepting:
            if not self._closing.is_set():
                self._deadline = time.monotonic() + self._close_timeout
                self._closing.set()
        self._wake.set()
        self._thread.join(self._close_timeout + _JOIN_GRACE_S)
        if self._thread.is_alive():
            logger.error(
                "store %s: the writer did not finish within %.0f s; "
                "%d records are not written",
                self.name,
                self._close_timeout,
                self.pending,
            )
        _forget(self)
        if self._owns_store and not self._closed:
            self._closed = True
            getattr(self.store, "close", lambda: None)()

    def __enter__(self) -> StoreWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _offer(self, item: UsageRecord | threading.Event) -> str:
        """Queue ``item`` if there is room, without waiting.

        Under the lock that ``close`` takes, so that nothing lands in the
        queue after the writer's last drain.
        """
        with self._accepting:
            if self._closing.is_set():
                return _WRITER_CLOSED
            try:
                self._queue.put_nowait(item)
            except queue.Full:
                return _QUEUE_FULL
            return _QUEUED

    def _wait_for_room(self, record: UsageRecord) -> str:
        """Retry a full queue until ``put_timeout``; other callers are not held."""
        logger.warning(
            "store %s: the writer's queue is full (%d records), the store is "
            "slower than the calls or down; waiting up to %g s for room",
            self.name,
            self._queue.maxsize,
            self._put_timeout,
        )
        deadline = time.monotonic() + self._put_timeout
        while (state := self._offer(record)) == _QUEUE_FULL:
            if _past(deadline):
                raise StoreUnavailableError(
                    f"store {self.name} is not taking records and the writer's "
                    f"queue is full ({self._queue.maxsize} records); record "
                    f"{record.run_id} was not written"
                )
            time.sleep(_ROOM_POLL_S)
        return state

    # -- the writer thread -------------------------------------------------------

    def _run(self) -> None:
        while True:
            closing = self._closing.is_set()
            self._drain()
            if closing:  # nothing is accepted after closing: all was drained
                return
            self._wake.wait(self._batch_delay)
            self._wake.clear()

    def _drain(self) -> None:
        """Write everything queued, ``batch_size`` records a transaction.

        The thread sleeps between drains rather than waking for each record:
        a producer's ``put`` never hands the GIL to the writer.
        """
        while True:
            records, flushes = self._next_batch()
            if records:
                self._write(records)
            for marker in flushes:
                marker.set()
            if not records and not flushes:
                return

    def _next_batch(self) -> tuple[list[UsageRecord], list[threading.Event]]:
        """Up to ``batch_size`` queued records, ending early at a flush marker."""
        records: list[UsageRecord] = []
        flushes: list[threading.Event] = []
        while len(records) < self._batch_size:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, threading.Event):
                flushes.append(item)
                break
            records.append(item)
        return records, flushes

    def _write(self, records: list[UsageRecord]) -> None:
        try:
            self._retry(self.store.write, records)
        except Exception as error:
            if _is_transient(error):
                self._give_up(records, error)
            else:
                self._write_one_by_one(records, error)
            return
        self.written += len(records)
        self._note_recovery()

    def _write_one_by_one(self, records: list[UsageRecord], error: Exception) -> None:
        """Find the records a store refuses, so the others still get written."""
        logger.warning(
            "store %s refused a batch of %d records (%s); writing them one by one",
            self.name,
            len(records),
            _reason(error),
        )
        refused: list[str] = []
        for record in records:
            try:
                self._retry(self.store.write, [record])
            except Exception as record_error:
                refused.append(record.run_id)
                error = record_error
            else:
                self.written += 1
        if refused:
            self.failed += len(refused)
            logger.error(
                "store %s could not write %d records (run ids %s): %s",
                self.name,
                len(refused),
                ", ".join(refused[:5]) + (", ..." if len(refused) > 5 else ""),
                _reason(error),
            )

    def _give_up(self, records: list[UsageRecord], error: Exception) -> None:
        self.lost += len(records)
        logger.error(
            "store %s was still unavailable when the writer closed; %d records "
            "were not written (%s)",
            self.name,
            len(records),
            _reason(error),
        )

    def _past_deadline(self, retry_state: RetryCallState) -> bool:
        return self._deadline is not None and time.monotonic() >= self._deadline

    def _pause(self, seconds: float) -> None:
        """Back off; ``close()`` cuts a pause short once, for a last try."""
        if self._deadline is None:
            self._closing.wait(seconds)
        else:
            time.sleep(max(0.0, min(seconds, self._deadline - time.monotonic())))

    def _note_outage(self, retry_state: RetryCallState) -> None:
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        error = retry_state.outcome.exception() if retry_state.outcome else None
        logger.warning(
            "store %s is unavailable (%s); %d records wait and are retried",
            self.name,
            _reason(error) if error else "unknown error",
            self.pending,
        )

    def _note_recovery(self) -> None:
        if self._down_since is not None:
            logger.info(
                "store %s is back after %.1f s",
                self.name,
                time.monotonic() - self._down_since,
            )
            self._down_since = None


_JOIN_GRACE_S = 10.0
_ROOM_POLL_S = 0.005
_QUEUED, _QUEUE_FULL, _WRITER_CLOSED = "queued", "full", "closed"
_OPEN_WRITERS: weakref.WeakSet[StoreWriter] = weakref.WeakSet()
_FEEDERS: weakref.WeakSet[Any] = weakref.WeakSet()
_HOOKS_LOCK = threading.Lock()
_hooks: dict[str, Any] = {"atexit": False, "sigterm": None}


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def open_writer(store: str | RecordStore | None, **options: Any) -> StoreWriter:
    """A background writer to ``store``: what a handler's ledger submits to.

    Args:
        store: A store URL (``"memory"``, ``"sqlite:///PATH"``,
            ``"postgresql://..."``), opened here and closed with the writer;
            or a store object with ``write(records)``, left open.
        **options: `StoreWriter` options (``queue_size``, ``batch_size``...).

    Raises:
        ConfigurationError: A bad URL, or a ledger this version cannot open.
            A server that cannot be reached yet is not an error: records wait
            for it.
    """
    if store is None or isinstance(store, str):
        opened = SQLStore(store)
        _prepare_or_wait(opened)
        return StoreWriter(opened, owns_store=True, **options)
    if callable(getattr(store, "write", None)):
        return StoreWriter(store, **options)
    raise ConfigurationError(
        f"store must be a URL or an object with write(records), got {store!r}"
    )


def _prepare_or_wait(store: SQLStore) -> None:
    try:
        store.prepare()
    except sa_exc.DBAPIError as error:
        if not _is_transient(error):
            raise
        logger.warning(
            "store %s cannot be reached yet (%s); records will wait for it",
            store.url,
            _reason(error),
        )


def close_at_exit(closable: Any) -> None:
    """Close ``closable`` at interpreter exit and on SIGTERM, before the writers.

    For what feeds a writer, such as a ledger still holding records to hand
    on: it is closed first, so that what it hands on gets written. Held
    weakly; closing it twice must be harmless.
    """
    with _HOOKS_LOCK:
        _FEEDERS.add(closable)
        _install_exit_hooks()


def _track(writer: StoreWriter) -> None:
    """Flush ``writer`` at interpreter exit and on SIGTERM."""
    with _HOOKS_LOCK:
        _OPEN_WRITERS.add(writer)
        _install_exit_hooks()


def _forget(writer: StoreWriter) -> None:
    with _HOOKS_LOCK:
        _OPEN_WRITERS.discard(writer)


def _install_exit_hooks() -> None:
    if not _hooks["atexit"]:
        atexit.register(_close_all)
        _hooks["atexit"] = True
    _install_sigterm_flush()


def _install_sigterm_flush() -> None:
    """Handle SIGTERM, only where nobody else does: the main thread, the default."""
    if _hooks["sigterm"] is not None:
        return
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return
    _hooks["sigterm"] = signal.signal(signal.SIGTERM, _flush_on_sigterm)


def _flush_on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Write pending records, then do what the previous handler would have."""
    _close_all()
    previous = _hooks["sigterm"]
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def _close_all() -> None:
    """Close what feeds the writers, then the writers."""
    with _HOOKS_LOCK:
        feeders, writers = list(_FEEDERS), list(_OPEN_WRITERS)
    for closable in [*feeders, *writers]:
        try:
            closable.close()
        except Exception:
            logger.exception("could not close %r at exit", closable)


# -- rows ---------------------------------------------------------------------


def _record_row(record: UsageRecord) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in _RECORD_FIELDS}
    row["node_path"] = list(record.node_path)
    for name in _MAPPING_FIELDS:
        row[name] = dict(row[name])
    row["at"] = record.started_at or record.ended_at
    return row


class _SQLiteRecordRows:
    """Records as SQLite rows, encoded as the column types would, but at once.

    SQLAlchemy's per-value processing costs more than SQLite's insert; this
    reads every field in one call and encodes only the values that need it.
    """

    def __init__(self) -> None:
        self._fields = operator.attrgetter(*_RECORD_FIELDS)
        self._encoders = [
            (index, encoder)
            for index, name in enumerate(_RECORD_FIELDS)
            if (encoder := _sqlite_encoder(_RECORDS.c[name].type)) is not None
        ]
        columns = [*_RECORD_FIELDS, "at"]
        self.insert = (
            f"INSERT INTO {_RECORDS.name} ({', '.join(columns)}) "
            f"VALUES ({', '.join('?' for _ in columns)}) "
            "ON CONFLICT (run_id) DO NOTHING"
        )

    def encode(self, record: UsageRecord) -> tuple[Any, ...]:
        values = list(self._fields(record))
        for index, encoder in self._encoders:
            value = values[index]
            if value is not None:
                values[index] = encoder(value)
        at = record.started_at or record.ended_at
        values.append(None if at is None else _sqlite_time(at))
        return tuple(values)


def _sqlite_encoder(column_type: Any) -> Callable[[Any], Any] | None:
    if isinstance(column_type, JSON):
        return _json_text
    if isinstance(column_type, ExactDecimal):
        return _decimal_text
    if isinstance(column_type, UTCDateTime):
        return _sqlite_time
    return None


def _decimal_text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"money must be a Decimal, got {value!r}")
    return str(value)


def _sqlite_time(value: datetime) -> str:
    """The text SQLAlchemy's SQLite DATETIME stores, for a moment in UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _json_encoder() -> Callable[[Any], str]:
    """orjson where installed (langsmith brings it): ten times json's speed."""
    try:
        import orjson
    except ImportError:  # pragma: no cover - langchain-core installs it
        return json.JSONEncoder(default=dict).encode  # a Mapping that is not a dict

    def encode(value: Any) -> str:
        return orjson.dumps(value, default=dict).decode()

    return encode


_json_text = _json_encoder()
_SQLITE_ROWS = _SQLiteRecordRows()


def _usage_record(row: Any) -> UsageRecord:
    values = {name: row[name] for name in _RECORD_FIELDS}
    values["node_path"] = tuple(values["node_path"])
    return UsageRecord(**values)


def _is_transient(error: BaseException) -> bool:
    """Whether a store error may pass by itself: a lock, a dropped connection."""
    if isinstance(error, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True  # a connection dropped, or none free in the pool
    if isinstance(error, sa_exc.DBAPIError):
        if error.connection_invalidated:
            return True
        error = error.orig if error.orig is not None else error
    if isinstance(error, sqlite3.OperationalError):
        message = str(error).lower()
        return any(part in message for part in _SQLITE_TRANSIENT)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None:
        return isinstance(error, psycopg.OperationalError | psycopg.InterfaceError)
    return False


_SQLITE_TRANSIENT = ("locked", "busy", "disk i/o", "unable to open", "disk is full")
