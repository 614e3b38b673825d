"""The in-memory ledger: every record of a handler, with totals and breakdowns.

The graph's path only appends here. An entry may be a finished record or a
pending one (a function that builds the record); pending entries are built
in order when the records are read, or on the ledger's own thread when a
store or a listener wants each record as it lands.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from ._errors import StoreUnavailableError
from ._records import UsageRecord
from ._report import Breakdown, check_grouping

__all__ = ["Ledger", "PendingRecord", "RecordSink"]

logger = logging.getLogger(__name__)

PendingRecord = Callable[[], UsageRecord]
_INLINE_LIMIT = 1_024
_TICK_SECONDS = 0.1


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
        self._pending: deque[PendingRecord] = deque()
        self._total_cost = Decimal(0)
        self._build_lock = threading.Lock()
        self._sink = sink
        self._listeners: list[Callable[[UsageRecord], None]] = []
        self._wake = threading.Event()
        self._unsent: deque[UsageRecord] = deque()
        self._closed = False
        self._worker: threading.Thread | None = None
        if sink is not None:
            self._start_worker()

    def add(self, record: UsageRecord | PendingRecord) -> None:
        """Append a record, or a function that builds it when needed."""
        if isinstance(record, UsageRecord):
            self._pending.append(lambda: record)
        else:
            self._pending.append(record)
        if self._worker is None and len(self._pending) > _INLINE_LIMIT:
            self._build_pending()

    def subscribe(self, listener: Callable[[UsageRecord], None]) -> None:
        """Call ``listener`` with each record from now on, soon after it lands."""
        self._listeners.append(listener)
        if self._worker is None:
            self._start_worker()

    def unsubscribe(self, listener: Callable[[UsageRecord], None]) -> None:
        """Stop calling ``listener``; unknown listeners are ignored."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    @property
    def sink(self) -> RecordSink | None:
        """Where records go after the ledger (a store writer), if anywhere."""
        return self._sink

    @property
    def records(self) -> list[UsageRecord]:
        """A snapshot of all records, in the order the calls ended."""
        self._build_pending()
        return list(self._records)

    @property
    def total_cost(self) -> Decimal:
        """The sum of the cost of every priced record."""
        self._build_pending()
        return self._total_cost

    def breakdown(self, by: str = "node") -> Breakdown:
        """Spend grouped by ``by``; see `Breakdown`.

        Raises:
            ConfigurationError: ``by`` is a tag no recorded call carries.
        """
        records = self.records
        check_grouping(records, by)
        return Breakdown(records, by=by)

    def close(self) -> None:
        """Build every pending record, hand them on, and flush the sink."""
        if self._closed:
            return
        self._closed = True
        self._build_pending()
        if self._worker is not None:
            self._wake.set()
            self._worker.join(timeout=10)
        if self._sink is not None:
            self._send_unsent_before_close()
            self._sink.close()

    def _send_unsent_before_close(self, attempts: int = 30) -> None:
        for _ in range(attempts):
            with self._build_lock:
                self._resend()
            if not self._unsent:
                return
        logger.error(
            "%d records could not be handed to the store before closing; they "
            "remain in this ledger's records",
            len(self._unsent),
        )

    def _build_pending(self) -> None:
        with self._build_lock:
            self._resend()
            while self._pending:
                build = self._pending.popleft()
                try:
                    record = build()
                except Exception:
                    logger.exception("could not build a usage record; skipped")
                    continue
                self._land(record)

    def _land(self, record: UsageRecord) -> None:
        self._records.append(record)
        if record.cost is not None:
            self._total_cost += record.cost
        if self._sink is not None:
            self._send(record)
        for listener in self._listeners:
            try:
                listener(record)
            except Exception:
                logger.exception("ledger listener %r failed", listener)

    def _start_worker(self) -> None:
        self._worker = threading.Thread(
            target=_work,
            args=(weakref.ref(self),),
            name="tokenomics-ledger",
            daemon=True,
        )
        self._worker.start()
        if self._sink is not None:
            from ._store import close_at_exit

            close_at_exit(self)

    def _send(self, record: UsageRecord) -> None:
        """Hand a record to the sink; if its queue is full, keep it and retry."""
        assert self._sink is not None
        if self._unsent:
            self._unsent.append(record)
            return
        try:
            self._sink.submit(record)
        except StoreUnavailableError as error:
            logger.error(
                "store queue full, holding records in memory until it drains: %s",
                error,
            )
            self._unsent.append(record)

    def _resend(self) -> None:
        while self._unsent and self._sink is not None:
            try:
                self._sink.submit(self._unsent[0])
            except StoreUnavailableError:
                return
            self._unsent.popleft()


def _work(ledger_ref: weakref.ref[Ledger]) -> None:
    while True:
        ledger = ledger_ref()
        if ledger is None:
            return
        wake, closed = ledger._wake, ledger._closed
        del ledger
        if closed:
            return
        wake.wait(timeout=_TICK_SECONDS)
        wake.clear()
        ledger = ledger_ref()
        if ledger is None:
            return
        ledger._build_pending()
        del ledger
