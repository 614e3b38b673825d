"""The in-memory ledger: every record of a handler, with totals and breakdowns.

The hot path only appends here; a store, when one is configured, receives
the records on its own background writer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from ._records import UsageRecord
from ._report import Breakdown

__all__ = ["Ledger", "RecordSink"]


class RecordSink(Protocol):
    """Where a ledger hands its records: a store's writer queue."""

    def submit(self, record: UsageRecord) -> None:
        """Take one record for writing; must not block on I/O."""

    def close(self) -> None:
        """Write what is pending and release resources."""


class Ledger:
    """Records of model calls, appended from any thread.

    Args:
        sink: Optional destination of each record (a store writer).
    """

    def __init__(self, sink: RecordSink | None = None) -> None:
        self._records: list[UsageRecord] = []
        self._total_cost = Decimal(0)
        self._lock = threading.Lock()
        self._sink = sink
        self._listeners: list[Callable[[UsageRecord], None]] = []

    def add(self, record: UsageRecord) -> None:
        """Append one record and hand it to the sink and listeners."""
        with self._lock:
            self._records.append(record)
            if record.cost is not None:
                self._total_cost += record.cost
        if self._sink is not None:
            self._sink.submit(record)
        for listener in self._listeners:
            listener(record)

    def subscribe(self, listener: Callable[[UsageRecord], None]) -> None:
        """Call ``listener`` with each record added from now on."""
        self._listeners.append(listener)

    @property
    def records(self) -> list[UsageRecord]:
        """A snapshot of all records, in the order they ended."""
        with self._lock:
            return list(self._records)

    @property
    def total_cost(self) -> Decimal:
        """The sum of the cost of every priced record."""
        return self._total_cost

    def breakdown(self, by: str = "node") -> Breakdown:
        """Spend grouped by ``by``; see `Breakdown`."""
        return Breakdown(self.records, by=by)

    def close(self) -> None:
        """Flush the sink, if any."""
        if self._sink is not None:
            self._sink.close()
