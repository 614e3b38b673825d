"""Stores of the ledger: records, outcomes and budgets in SQLite or Postgres.

A store is chosen by URL: ``"memory"`` (or ``None``) for an in-process SQLite
database, ``"sqlite:///path"`` for a file, ``"postgresql://..."`` for a server
shared by a fleet. Its tables are SQLModel tables with a versioned schema:
opening an older ledger upgrades it, a newer one is refused with the reason.

Only counts, costs, names and tags are stored; a record has no prompt or
completion text, and neither has any table here.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    DateTime,
    Dialect,
    Engine,
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

from ._errors import ConfigurationError, StoreUnavailableError
from ._records import UsageRecord

__all__ = [
    "SCHEMA_VERSION",
    "Outcome",
    "SQLStore",
    "open_store",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
"""The ledger schema this version of the package writes."""

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
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_SequenceId = BigInteger().with_variant(Integer(), "sqlite")  # rowid in SQLite


# -- tables -------------------------------------------------------------------


class _Table(SQLModel, registry=registry()):
    """Base of the ledger's tables, kept out of SQLModel's shared metadata."""


class RecordRow(_Table, table=True):
    """One model call: every field of `UsageRecord`, plus when it happened.

    ``at`` is ``started_at``, else ``ended_at``: what ``read(since=...)``
    filters on. ``seq`` keeps the order records were written in.
    """

    __tablename__ = "tokenomics_records"  # type: ignore[assignment]

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
    tool_definition_tokens: dict[str, int] = Field(sa_type=JSON, nullable=False)
    carried_tool_tokens: dict[str, int] = Field(sa_type=JSON, nullable=False)
    tags: dict[str, str] = Field(sa_type=JSON, nullable=False)
    started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    error: str | None = None


class OutcomeRow(_Table, table=True):
    """How a run or a thread ended, for cost per outcome; the latest mark wins."""

    __tablename__ = "tokenomics_outcomes"  # type: ignore[assignment]

    run_or_thread_id: str = Field(primary_key=True)
    success: bool = Field(nullable=False)
    value: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    label: str | None = None
    at: datetime = Field(sa_type=UTCDateTime, nullable=False)


class SchemaInfoRow(_Table, table=True):
    """The ledger's schema version: one row."""

    __tablename__ = "tokenomics_schema_info"  # type: ignore[assignment]

    id: int = Field(default=1, primary_key=True)
    version: int = Field(nullable=False)
    upgraded_at: datetime = Field(sa_type=UTCDateTime, nullable=False)


_RECORDS = RecordRow.__table__  # type: ignore[attr-defined]
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
        self._turns: AbstractContextManager[Any] = (
            threading.RLock() if memory else nullcontext()
        )
        self._ready = False
        self._ready_lock = threading.Lock()

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
        rows = [_record_row(record) for record in records]
        if not rows:
            return
        statement = self._insert(_RECORDS).on_conflict_do_nothing(
            index_elements=["run_id"]
        )
        with self.transaction(write=True) as connection:
            connection.execute(statement, rows)

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
        """Close the store's connections."""
        self._engine.dispose()

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLStore({self.url!r})"

    @contextmanager
    def transaction(self, *, write: bool, prepare: bool = True) -> Iterator[Connection]:
        """One transaction; in SQLite a writing one takes the write lock first.

        ``BEGIN IMMEDIATE`` makes SQLite wait (``busy_timeout``) for the lock
        up front, so a transaction that reads then writes never fails to
        upgrade its lock halfway, and reads see the last committed state.
        """
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

_LEDGER_TABLES = (_RECORDS, _OUTCOMES, _SCHEMA_INFO)
_UPGRADES: dict[int, Callable[[Connection], None]] = {}
"""Step from version N to N + 1, by N."""


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


# -- rows ---------------------------------------------------------------------


def _record_row(record: UsageRecord) -> dict[str, Any]:
    row = {name: getattr(record, name) for name in _RECORD_FIELDS}
    row["node_path"] = list(record.node_path)
    for name in _MAPPING_FIELDS:
        row[name] = dict(row[name])
    row["at"] = record.started_at or record.ended_at
    return row


def _usage_record(row: Any) -> UsageRecord:
    values = {name: row[name] for name in _RECORD_FIELDS}
    values["node_path"] = tuple(values["node_path"])
    return UsageRecord(**values)


def _is_transient(error: BaseException) -> bool:
    """Whether a store error may pass by itself: a lock, a dropped connection."""
    if isinstance(error, StoreUnavailableError | sa_exc.DisconnectionError):
        return True
    if isinstance(error, sa_exc.TimeoutError):  # no pooled connection free
        return True
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
