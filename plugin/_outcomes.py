"""Outcomes: mark how a run or thread ended, and see the cost per outcome.

``mark_outcome(handler, run_or_thread_id, success=True, value=None,
label=None)`` marks one root run id or ``thread_id``; a later mark of the
same id replaces the earlier one. Marks go to a store when given one (any
object with ``mark_outcome`` and ``outcomes``, such as ``SQLStore``), else
they are kept in memory beside the handler's ledger. `OutcomeReport` groups
records by agent, workflow or any other key, and shows cost per run, per
successful outcome and per unit of value.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, cast

from rich.table import Table

from ._errors import ConfigurationError
from ._ledger import Ledger
from ._records import UsageRecord
from ._report import _html_table, _key_label, _render_text, cells_table, group_key

if TYPE_CHECKING:
    from ._store import Outcome

__all__ = [
    "MemoryOutcomeStore",
    "OutcomeReport",
    "OutcomeReportRow",
    "OutcomeStore",
    "mark_outcome",
    "outcome_report",
    "outcome_store",
    "watch_outcomes",
]

OutcomeListener = Callable[["Outcome"], Any]


class OutcomeStore(Protocol):
    """Where outcomes are kept; `SQLStore` and `MemoryOutcomeStore` are ones."""

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

    def outcomes(self) -> list[Outcome]:
        """Every marked outcome, oldest first."""


class MemoryOutcomeStore:
    """Outcomes kept in this process's memory; thread-safe."""

    def __init__(self) -> None:
        self._marks: dict[str, Outcome] = {}
        self._lock = threading.Lock()

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
        outcome = _outcome(run_or_thread_id, success, value, label, at)
        with self._lock:
            self._marks.pop(run_or_thread_id, None)
            self._marks[run_or_thread_id] = outcome

    def outcomes(self) -> list[Outcome]:
        """Every marked outcome, oldest first."""
        with self._lock:
            return sorted(self._marks.values(), key=lambda outcome: outcome.at)


@dataclass(slots=True)
class _Hub:
    store: OutcomeStore
    listeners: list[OutcomeListener] = field(default_factory=list)


_HUBS: weakref.WeakKeyDictionary[Any, _Hub] = weakref.WeakKeyDictionary()
_HUBS_LOCK = threading.Lock()


def outcome_store(target: Any) -> OutcomeStore:
    """The outcome store of a handler, a ledger or a store.

    A handler's and a ledger's outcomes live in memory beside the ledger; a
    store (anything with ``mark_outcome`` and ``outcomes``) is its own.

    Raises:
        ConfigurationError: ``target`` is none of these.
    """
    return _hub(target).store


def watch_outcomes(target: Any, listener: OutcomeListener) -> None:
    """Call ``listener`` with each outcome marked on ``target`` from now on."""
    _hub(target).listeners.append(listener)


def mark_outcome(
    target: Any,
    run_or_thread_id: str,
    success: bool = True,
    value: Decimal | int | str | None = None,
    label: str | None = None,
    *,
    at: datetime | None = None,
) -> Outcome:
    """Mark how a run (its root run id) or a thread ended.

    Args:
        target: A `TokenomicsCallbackHandler`, its ledger, an outcome store
            such as ``SQLStore``, or a store URL (opened, marked, closed: what
            the CLI does).
        run_or_thread_id: The root run id or the ``thread_id``.
        success: Whether it reached its goal.
        value: What the result was worth (e.g. USD of an order), if known.
        label: A free label, e.g. ``"resolved"``.
        at: When it ended; now by default.

    Returns:
        The outcome as marked.

    Raises:
        ConfigurationError: ``target`` keeps no outcomes, or ``value`` is not
            a number.
    """
    outcome = _outcome(str(run_or_thread_id), success, _value(value), label, at)
    if isinstance(target, str):
        with _opened_store(target) as store:
            return mark_outcome(store, outcome.run_or_thread_id, **_fields(outcome))
    hub = _hub(target)
    hub.store.mark_outcome(outcome.run_or_thread_id, **_fields(outcome))
    for listener in list(hub.listeners):
        listener(outcome)
    return outcome


def outcome_report(
    target: Any,
    *,
    by: str = "agent",
    outcomes: Iterable[Outcome] | None = None,
) -> OutcomeReport:
    """Cost per run, per success and per unit of value of a target's records.

    Args:
        target: A handler or ledger (its records and in-memory outcomes), a
            store with ``read()`` and ``outcomes()``, or a store URL.
        by: A grouping such as ``"agent"``, ``"workflow"`` or ``"node"``.
        outcomes: Outcomes to use instead of the target's (e.g. a store's
            for a handler's records: ``store.outcomes()``).

    Returns:
        The report.

    Raises:
        ConfigurationError: ``target`` has no records.
    """
    if isinstance(target, str):
        with _opened_store(target) as store:
            return outcome_report(store, by=by, outcomes=outcomes)
    records, marked = _records_and_outcomes(target)
    return OutcomeReport(records, marked if outcomes is None else outcomes, by=by)


def _records_and_outcomes(target: Any) -> tuple[list[UsageRecord], list[Outcome]]:
    ledger = _ledger_of(target)
    if ledger is not None:
        return ledger.records, _hub(ledger).store.outcomes()
    store = _store_of(target)
    if store is None or not callable(getattr(target, "read", None)):
        raise ConfigurationError(
            "outcome_report needs a handler, a ledger or a store with read() "
            f"and outcomes(), got {target!r}"
        )
    return target.read(), store.outcomes()


@contextlib.contextmanager
def _opened_store(url: str) -> Iterator[Any]:
    from ._store import open_store

    store = open_store(url, create=False)
    try:
        yield store
    finally:
        store.close()


def _fields(outcome: Outcome) -> dict[str, Any]:
    return {
        "success": outcome.success,
        "value": outcome.value,
        "label": outcome.label,
        "at": outcome.at,
    }


@dataclass(frozen=True, slots=True)
class OutcomeReportRow:
    """Spend and outcomes of one group.

    Attributes:
        key: The group's value (``None`` for calls without one).
        runs: Graph invocations with calls in the group (root run ids).
        cost: Dollars of the group's priced calls, whatever their outcome.
        outcomes: Marked runs or threads among the group's calls.
        successes: Of those, the successful ones.
        value: The sum of the marked values; ``None`` when none has one.
        success_rate: ``successes / outcomes``; ``None`` without outcomes.
        cost_per_run: ``cost / runs``.
        cost_per_success: ``cost / successes`` (failures' spend included);
            ``None`` without a success.
        cost_per_value: ``cost / value``; ``None`` without a positive value.
    """

    key: Hashable
    runs: int
    cost: Decimal
    outcomes: int
    successes: int
    value: Decimal | None
    success_rate: float | None
    cost_per_run: Decimal | None
    cost_per_success: Decimal | None
    cost_per_value: Decimal | None


class OutcomeReport(Sequence[OutcomeReportRow]):
    """Cost per outcome by one grouping, most expensive first.

    A record belongs to the outcome of its root run if that run is marked,
    else to its thread's. Iterate it for rows, ``to_rows()`` for dicts,
    print it for a terminal table; Jupyter shows an HTML table.

    Args:
        records: The usage records.
        outcomes: The marked outcomes.
        by: The grouping (see `group_key`).
    """

    def __init__(
        self,
        records: Iterable[UsageRecord],
        outcomes: Iterable[Outcome],
        *,
        by: str = "agent",
    ) -> None:
        self.by = by
        key_of = group_key(by)
        self._records = list(records)
        self._outcomes = {outcome.run_or_thread_id: outcome for outcome in outcomes}
        groups: dict[Hashable, list[UsageRecord]] = {}
        for record in self._records:
            groups.setdefault(key_of(record), []).append(record)
        rows = [self._row(key, group) for key, group in groups.items()]
        self._rows = sorted(rows, key=lambda row: (-row.cost, str(row.key)))
        self.total = self._row("total", self._records)

    def _row(self, key: Hashable, records: list[UsageRecord]) -> OutcomeReportRow:
        cost = sum((r.cost for r in records if r.cost is not None), Decimal(0))
        runs = len({r.root_run_id or r.run_id for r in records})
        matched = {
            outcome.run_or_thread_id: outcome
            for outcome in map(self._outcome_of, records)
            if outcome is not None
        }
        successes = sum(outcome.success for outcome in matched.values())
        values = [o.value for o in matched.values() if o.value is not None]
        value = sum(values, Decimal(0)) if values else None
        return OutcomeReportRow(
            key=key,
            runs=runs,
            cost=cost,
            outcomes=len(matched),
            successes=successes,
            value=value,
            success_rate=successes / len(matched) if matched else None,
            cost_per_run=cost / runs if runs else None,
            cost_per_success=cost / successes if successes else None,
            cost_per_value=cost / value if value else None,
        )

    def _outcome_of(self, record: UsageRecord) -> Outcome | None:
        for unit in (record.root_run_id, record.thread_id):
            if unit is not None and unit in self._outcomes:
                return self._outcomes[unit]
        return None

    def __getitem__(self, index: Any) -> Any:
        return self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[OutcomeReportRow]:
        return iter(self._rows)

    def row(self, key: Hashable) -> OutcomeReportRow:
        """The row of one group; ``KeyError`` if no call had that value."""
        for row in self._rows:
            if row.key == key:
                return row
        raise KeyError(key)

    def to_rows(self) -> list[dict[str, Any]]:
        """Plain dicts, one per group, for ``pandas.DataFrame(...)``."""
        return [{"by": self.by, **asdict(row)} for row in self._rows]

    def _cells(self) -> tuple[list[str], list[list[str]], list[str]]:
        headers = [
            self.by,
            "runs",
            "USD",
            "outcomes",
            "success",
            "rate",
            "value",
            "USD/run",
            "USD/success",
            "USD/value",
        ]
        body = [_cells(row) for row in self._rows]
        return headers, body, _cells(self.total)

    def __rich__(self) -> Table:
        headers, body, footer = self._cells()
        return cells_table(
            f"Cost per outcome by {self.by}",
            headers,
            body,
            caption="USD/success: all spend over successful outcomes",
            footer=footer,
        )

    def __str__(self) -> str:
        return _render_text(self)

    def _repr_html_(self) -> str:
        headers, body, footer = self._cells()
        return _html_table(
            f"Cost per outcome by {self.by}", headers, body, footer=footer
        )


def _cells(row: OutcomeReportRow) -> list[str]:
    return [
        _key_label(row.key),
        f"{row.runs:,}",
        f"{row.cost:.6f}",
        f"{row.outcomes:,}",
        f"{row.successes:,}",
        "-" if row.success_rate is None else f"{row.success_rate:.0%}",
        "-" if row.value is None else f"{row.value:,.2f}",
        _money(row.cost_per_run),
        _money(row.cost_per_success),
        _money(row.cost_per_value),
    ]


def _money(amount: Decimal | None) -> str:
    return "-" if amount is None else f"{amount:.6f}"


def _hub(target: Any) -> _Hub:
    ledger = _ledger_of(target)
    store = _store_of(target) if ledger is None else _ledger_store(ledger)
    owner: Any = ledger if ledger is not None else store
    if owner is None:
        raise ConfigurationError(
            "outcomes need a TokenomicsCallbackHandler, its ledger or a store "
            f"with mark_outcome() and outcomes(), got {target!r}"
        )
    with _HUBS_LOCK:
        hub = _HUBS.get(owner)
        if hub is None:
            hub = _HUBS[owner] = _Hub(
                store if store is not None else MemoryOutcomeStore()
            )
        return hub


def _ledger_of(target: Any) -> Ledger | None:
    if isinstance(target, Ledger):
        return target
    ledger = getattr(target, "ledger", None)
    return ledger if isinstance(ledger, Ledger) else None


def _ledger_store(ledger: Ledger) -> OutcomeStore | None:
    """The SQL store behind a ledger's writer, so marks persist beside records."""
    return _store_of(getattr(ledger.sink, "store", None))


def _store_of(target: Any) -> OutcomeStore | None:
    methods = ("mark_outcome", "outcomes")
    if all(callable(getattr(target, name, None)) for name in methods):
        return cast("OutcomeStore", target)
    return None


def _outcome(
    run_or_thread_id: str,
    success: bool,
    value: Decimal | None,
    label: str | None,
    at: datetime | None,
) -> Outcome:
    from ._store import Outcome

    return Outcome(
        run_or_thread_id=run_or_thread_id,
        success=bool(success),
        value=value,
        label=label,
        at=at or datetime.now(tz=UTC),
    )


def _value(value: Decimal | int | str | None) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool | float):
        raise ConfigurationError(
            f"outcome value must be a Decimal, int or str, got {value!r}"
        )
    try:
        return Decimal(str(value))
    except ArithmeticError as error:
        raise ConfigurationError(f"outcome value is not a number: {value!r}") from error
