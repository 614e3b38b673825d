"""A live bar of spend against a budget while a graph runs."""

from __future__ import annotations

import html
import logging
import threading
from decimal import Decimal
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

from ._budget import Budget
from ._records import CallRequest, UsageRecord

__all__ = ["SpendProgress"]

logger = logging.getLogger(__name__)

_ALL_CALLS = "*"


class SpendProgress:
    """Shows what a graph has spent against a budget, updated on every call.

    Example:
        ```python
        with SpendProgress(handler):
            graph.invoke(inputs, config={"callbacks": [handler]})
        ```

    In a terminal it is a rich progress bar; in Jupyter an HTML bar updated
    in place (no widgets needed). Anywhere else (CI logs, pipes) it draws
    nothing but still counts, so `spent` is right either way.

    The bar counts the calls recorded while it is open. For a budget whose
    scope has several instances (each run, each thread, a tag value), it
    shows the instance that has spent the most, the one nearest its limit;
    a windowed budget's spend from before the bar opened is not included.
    Unpriced calls add nothing to a dollar budget and are counted apart.

    Args:
        handler: The `TokenomicsCallbackHandler` whose ledger to follow.
        budget: The budget to show; by default the handler's first budget,
            or, without one, the total spend with no limit.
        console: The rich console the terminal bar writes to.
        enabled: Force the bar on or off; by default it is on when the
            console is a terminal or Jupyter.
    """

    def __init__(
        self,
        handler: Any,
        budget: Budget | None = None,
        *,
        console: Console | None = None,
        enabled: bool | None = None,
    ) -> None:
        self.budget = budget if budget is not None else _first_budget(handler)
        self.console = console or Console()
        if enabled is None:
            enabled = self.console.is_terminal or self.console.is_jupyter
        self.enabled = enabled
        self.unpriced_calls = 0
        self._ledger = handler.ledger
        self._spent: dict[str, Decimal] = {}
        self._lock = threading.Lock()
        self._open = False
        self._view: _View | None = None

    @property
    def limit(self) -> Decimal | None:
        """The budget's hard limit in its unit; ``None`` without a budget."""
        return self.budget.limit if self.budget is not None else None

    @property
    def unit(self) -> str:
        """``"usd"`` or ``"tokens"``."""
        return self.budget.unit if self.budget is not None else "usd"

    @property
    def spent(self) -> Decimal:
        """Spend of the scope instance that spent the most, in the budget's unit."""
        with self._lock:
            return max(self._spent.values(), default=Decimal(0))

    def __enter__(self) -> SpendProgress:
        if self.enabled:
            self._view = self._make_view()
            self._view.start(self._description(), self.limit, self._amount_text())
        self._open = True
        self._ledger.subscribe(self._on_record)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._ledger.records  # noqa: B018 (lands records the ledger still holds)
        self._open = False
        self._ledger.unsubscribe(self._on_record)
        if self._view is not None:
            self._view.stop()

    def _on_record(self, record: UsageRecord) -> None:
        if not self._open:
            return
        try:
            self._count(record)
            if self._view is not None:
                self._view.update(self.spent, self._amount_text())
        except Exception:  # a progress bar must never break the run
            logger.exception("could not update the spend bar for %s", record.run_id)

    def _count(self, record: UsageRecord) -> None:
        scope = self._scope_of(record)
        if scope is None:
            return
        if self.unit == "tokens":
            amount = Decimal(record.total_tokens)
        elif record.cost is None:
            with self._lock:
                self.unpriced_calls += 1
            return
        else:
            amount = record.cost
        with self._lock:
            self._spent[scope] = self._spent.get(scope, Decimal(0)) + amount

    def _scope_of(self, record: UsageRecord) -> str | None:
        if self.budget is None:
            return _ALL_CALLS
        return self.budget.scope_value(_request_of(record))

    def _description(self) -> str:
        if self.budget is None:
            return "LLM spend"
        return f"budget {self.budget.name or self.budget.scope}"

    def _amount_text(self) -> str:
        spent, limit = self.spent, self.limit
        if self.unit == "tokens":
            text = f"{int(spent):,} / {int(limit or 0):,} tokens"
        elif limit is None:
            text = f"${spent:.6f}"
        else:
            text = f"${spent:.6f} / ${limit:.2f}"
        if self.unpriced_calls:
            text += f" +{self.unpriced_calls} unpriced"
        return text

    def _make_view(self) -> _View:
        if self.console.is_jupyter:
            return _NotebookBar()
        return _TerminalBar(self.console)


def _first_budget(handler: Any) -> Budget | None:
    book = getattr(handler, "budgets", None)
    budgets = getattr(book, "budgets", None) or []
    return budgets[0] if budgets else None


def _request_of(record: UsageRecord) -> CallRequest:
    """The call as budgets saw it before it was sent, for scope matching."""
    return CallRequest(
        run_id=record.run_id,
        root_run_id=record.root_run_id,
        thread_id=record.thread_id,
        node=record.node,
        node_path=record.node_path,
        tool=record.tool,
        model=record.model,
        provider=record.provider,
        tags=record.tags,
    )


class _View(Protocol):
    def start(self, description: str, limit: Decimal | None, text: str) -> None: ...

    def update(self, spent: Decimal, text: str) -> None: ...

    def stop(self) -> None: ...


class _TerminalBar:
    """A rich progress bar, redrawn on each update."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[amount]}"),
            TaskProgressColumn(),
            console=console,
            auto_refresh=False,
        )
        self._task: Any = None

    def start(self, description: str, limit: Decimal | None, text: str) -> None:
        total = float(limit) if limit is not None else None
        self._task = self._progress.add_task(description, total=total, amount=text)
        self._progress.start()

    def update(self, spent: Decimal, text: str) -> None:
        self._progress.update(
            self._task, completed=float(spent), amount=text, refresh=True
        )

    def stop(self) -> None:
        self._progress.stop()


class _NotebookBar:
    """An HTML ``<progress>`` element in the cell output, replaced on update."""

    def __init__(self) -> None:
        self._handle: Any = None
        self._description = ""
        self._limit: Decimal | None = None

    def start(self, description: str, limit: Decimal | None, text: str) -> None:
        from IPython.core.display_functions import display

        self._description, self._limit = description, limit
        output = _html_output(self._html(Decimal(0), text))
        self._handle = display(output, display_id=True)  # type: ignore[no-untyped-call]

    def update(self, spent: Decimal, text: str) -> None:
        self._handle.update(_html_output(self._html(spent, text)))

    def stop(self) -> None:
        """Nothing to release: the last state stays in the output."""

    def _html(self, spent: Decimal, text: str) -> str:
        if self._limit is None:
            bar = "<progress></progress>"
        else:
            value = format(min(spent, self._limit), "f")
            bar = f'<progress value="{value}" max="{self._limit:f}"></progress>'
        return (
            '<div class="tokenomics-progress">'
            f"<b>{html.escape(self._description)}</b> {bar} {html.escape(text)}</div>"
        )


def _html_output(markup: str) -> Any:
    from IPython.core.display import HTML

    return HTML(markup)  # type: ignore[no-untyped-call]
