"""The LangChain callback handler: measure, price and attribute every model call."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from langgraph_tokenomics._attribution import DEFAULT_TAG_KEYS
from langgraph_tokenomics._counting import TokenCounter, default_counter
from langgraph_tokenomics._errors import (
    BudgetExceededError,
    ConfigurationError,
    TokenomicsRuntimeError,
)
from langgraph_tokenomics._guards import ToolCallEvent
from langgraph_tokenomics._ledger import Ledger
from langgraph_tokenomics._meter import CapturedCall, EndedCall, Meter
from langgraph_tokenomics._prices import PriceBook
from langgraph_tokenomics._records import CallRequest, UsageRecord
from langgraph_tokenomics._report import Breakdown, CacheReport, ToolCosts

if TYPE_CHECKING:
    from langgraph_tokenomics._outcomes import OutcomeReport
    from langgraph_tokenomics._store import Outcome

__all__ = ["TokenomicsCallbackHandler"]

logger = logging.getLogger(__name__)

_RECENT_ENDS = 10_000
_ABANDONED = (GeneratorExit, asyncio.CancelledError, KeyboardInterrupt)


class TokenomicsCallbackHandler(BaseCallbackHandler):
    """Records the tokens and dollars of every model call in a LangGraph run.

    Add it to a run's config (``config={"callbacks": [handler]}``) or to a
    model. One instance may serve parallel branches, ``Send`` fan-outs,
    subgraphs and concurrent runs, sync and async: attribution comes from
    each call's run id and metadata only.

    Args:
        prices: The price book; genai-prices' data by default.
        tags: Attribution tags applied to every call (e.g. ``{"team":
            "search"}``); run metadata with the same keys overrides them.
        budgets: Budgets checked before each call (see `Budget`).
        guards: Guards called before and after each model call and before
            each tool call (see `CallGuard`); they may halt the run.
        store: Where records persist: ``None`` (memory only), a URL such as
            ``"sqlite:///spend.db"`` or ``"postgresql://..."``, or a store.
            With a URL, budgets are kept there too, so every process that
            uses the same store and budget names shares the same limits.
        counter: The token counter for estimates and tool overheads.
        tag_keys: Run metadata keys read as attribution tags.
    """

    raise_error = True  # a budget refusal must reach the caller
    run_inline = True  # keep start/end order in async runs

    def __init__(
        self,
        prices: PriceBook | None = None,
        tags: Mapping[str, str] | None = None,
        *,
        budgets: Iterable[Any] | None = None,
        guards: Iterable[Any] | None = None,
        store: Any = None,
        counter: TokenCounter | None = None,
        tag_keys: Iterable[str] = DEFAULT_TAG_KEYS,
    ) -> None:
        super().__init__()
        self.prices = prices or PriceBook()
        self.tags = _tags(tags)
        self.tag_keys = tuple(tag_keys)
        self.counter = counter or default_counter()
        self.meter = Meter(
            prices=self.prices,
            counter=self.counter,
            default_tags=self.tags,
            tag_keys=self.tag_keys,
        )
        self.ledger = Ledger(_open_sink(store))
        self.budgets = _budget_book(budgets, self.prices, store)
        self.store = getattr(self.ledger.sink, "store", None)
        """The SQL store records are written to, when one was given."""
        self.guards = _guards(guards)
        self._before_guards = [g for g in self.guards if hasattr(g, "before_call")]
        self._after_guards = [g for g in self.guards if hasattr(g, "after_call")]
        self._tool_guards = [g for g in self.guards if hasattr(g, "on_tool_call")]
        self._calls: dict[UUID, CapturedCall] = {}
        self._parents: dict[UUID, UUID | None] = {}
        self._tool_runs: dict[UUID, str] = {}
        self._ended: OrderedDict[UUID, None] = OrderedDict()
        self._lock = threading.Lock()

    # -- results ------------------------------------------------------------

    @property
    def records(self) -> list[UsageRecord]:
        """Every recorded call, in the order the calls ended."""
        return self.ledger.records

    @property
    def total_cost(self) -> Decimal:
        """Dollars of every priced call."""
        return self.ledger.total_cost

    def breakdown(self, by: str = "node") -> Breakdown:
        """Spend grouped by node, node_path, tool, model, thread, run or a tag."""
        return self.ledger.breakdown(by)

    def cache_report(self, by: str = "node") -> CacheReport:
        """Predicted cacheable prefix against reported cache reads, and savings."""
        return CacheReport(self.records, by=by)

    def tool_costs(self) -> ToolCosts:
        """Per tool: model calls made inside it, and the prompt tokens its
        definition and earlier results took in other calls."""
        return ToolCosts(self.records)

    def root_run_id(self, run_id: UUID | None) -> str | None:
        """The outermost run (the graph invocation) that ``run_id`` belongs to."""
        return self._root(run_id)

    def mark_outcome(
        self,
        run_or_thread_id: str,
        success: bool = True,
        value: Decimal | int | str | None = None,
        label: str | None = None,
    ) -> Outcome:
        """Record how a run or thread ended, for cost per successful outcome."""
        from langgraph_tokenomics._outcomes import mark_outcome

        return mark_outcome(self, run_or_thread_id, success, value, label)

    def outcome_report(self, by: str = "agent") -> OutcomeReport:
        """Cost per run, per successful outcome and per unit of value, by ``by``."""
        from langgraph_tokenomics._outcomes import outcome_report

        return outcome_report(self, by=by)

    def plot(self, by: str = "node", ax: Any = None) -> Any:
        """Stacked bars of cost per group by token kind (needs the plot extra)."""
        from langgraph_tokenomics._plot import plot_cost_by_node

        return plot_cost_by_node(self.records, by=by, ax=ax)

    def save_plot(self, path: Any, *, by: str = "node") -> Any:
        """Draw the report's charts to a PNG or SVG file (needs the plot extra)."""
        from langgraph_tokenomics._plot import save_report_plot

        return save_report_plot(self.records, path, by=by)

    def progress(self, budget: Any = None, *, console: Any = None) -> Any:
        """A live bar of spend against ``budget`` (the first budget by default)."""
        from langgraph_tokenomics._progress import SpendProgress

        return SpendProgress(self, budget, console=console)

    def close(self) -> None:
        """Write pending records to the store and release it."""
        self.ledger.close()

    def __enter__(self) -> TokenomicsCallbackHandler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- run tree -------------------------------------------------------------

    def on_chain_start(
        self,
        serialized: dict[str, Any] | None,
        inputs: Any,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._parents[run_id] = parent_run_id

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._parents.pop(run_id, None)

    def on_chain_error(
        self, error: BaseException, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._parents.pop(run_id, None)

    def on_tool_start(
        self,
        serialized: dict[str, Any] | None,
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        self._parents[run_id] = parent_run_id
        name = str(kwargs.get("name") or (serialized or {}).get("name") or "tool")
        self._tool_runs[run_id] = name
        if self._tool_guards:
            self._guard_tool(name, input_str, run_id, kwargs.get("metadata") or {})

    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        self._forget_tool(run_id)

    def on_tool_error(
        self, error: BaseException, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self._forget_tool(run_id)

    def _forget_tool(self, run_id: UUID) -> None:
        self._parents.pop(run_id, None)
        self._tool_runs.pop(run_id, None)

    # -- model calls ----------------------------------------------------------

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        prompt = messages[0] if messages else []
        self._start(run_id, parent_run_id, tags, metadata, kwargs, prompt)

    def on_llm_start(
        self,
        serialized: dict[str, Any] | None,
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._start(run_id, parent_run_id, tags, metadata, kwargs, prompts[:1])

    def on_llm_new_token(
        self,
        token: Any,
        *,
        chunk: Any = None,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        usage = getattr(getattr(chunk, "message", None), "usage_metadata", None)
        if usage:
            call = self._calls.get(run_id)
            if call is not None:
                call.stream_usages.append(usage)

    def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        if not self._first_end(run_id):
            return
        call = self._calls.pop(run_id, None)
        ended = EndedCall(str(run_id), response, datetime.now(tz=UTC), call)
        if self.budgets is None and not self._after_guards:
            self.ledger.add(lambda: self.meter.record(ended))
            return
        try:
            record = self.meter.record(ended)
        except Exception:
            logger.exception("could not record model call %s", run_id)
            self._release(call)
            return
        self.ledger.add(record)
        self._settle(call, record)
        self._run_guards(self._after_guards, "after_call", record)

    def on_llm_error(
        self,
        error: BaseException,
        *,
        run_id: UUID,
        response: LLMResult | None = None,
        **kwargs: Any,
    ) -> None:
        call = self._calls.pop(run_id, None)
        if call is None or not isinstance(error, _ABANDONED):
            self._release(call)  # the provider refused or failed: nothing billed
            return
        # The caller stopped a call the provider had accepted (a stream left
        # early, a cancelled task): it is billed, so it is recorded, estimated.
        if not self._first_end(run_id):
            return
        ended = EndedCall(
            str(run_id),
            response or LLMResult(generations=[]),
            datetime.now(tz=UTC),
            call,
            error=type(error).__name__,
        )
        try:
            record = self.meter.record(ended)
        except Exception:
            logger.exception("could not record abandoned model call %s", run_id)
            self._release(call)
            return
        self.ledger.add(record)
        self._settle(call, record)

    # -- steps ----------------------------------------------------------------

    def _start(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        kwargs: Mapping[str, Any],
        prompt: Sequence[BaseMessage] | Sequence[str],
    ) -> None:
        call = CapturedCall(
            run_id=str(run_id),
            root_run_id=self._root(parent_run_id),
            tool=self._enclosing_tool(parent_run_id),
            metadata=metadata or {},
            run_tags=tags,
            params=kwargs.get("invocation_params") or {},
            prompt=list(prompt),  # a copy: the caller may reuse its list
            started_at=datetime.now(tz=UTC),
        )
        self._calls[run_id] = call
        if self._before_guards:
            self._run_guards(self._before_guards, "before_call", self._request(call))
        if self.budgets is not None:
            self._reserve(call)

    def _request(self, call: CapturedCall) -> CallRequest | None:
        try:
            return self.meter.request(call)
        except Exception:
            logger.exception("could not measure model call %s", call.run_id)
            return None

    def _run_guards(self, guards: Sequence[Any], method: str, event: Any) -> None:
        if event is None:
            return
        for guard in guards:
            try:
                getattr(guard, method)(event)
            except TokenomicsRuntimeError:
                raise
            except Exception:
                logger.exception("guard %r failed in %s; ignored", guard, method)

    def _guard_tool(
        self, name: str, arguments: str, run_id: UUID, metadata: Mapping[str, Any]
    ) -> None:
        thread = metadata.get("thread_id")
        event = ToolCallEvent(
            tool=name,
            arguments=arguments,
            run_id=str(run_id),
            thread_id=str(thread) if thread is not None else None,
            node=metadata.get("langgraph_node"),
            tags={k: str(metadata[k]) for k in self.tag_keys if k in metadata},
        )
        self._run_guards(self._tool_guards, "on_tool_call", event)

    def _root(self, parent_run_id: UUID | None) -> str | None:
        run_id = parent_run_id
        while run_id is not None and self._parents.get(run_id) is not None:
            run_id = self._parents[run_id]
        return str(run_id) if run_id is not None else None

    def _enclosing_tool(self, parent_run_id: UUID | None) -> str | None:
        run_id = parent_run_id
        while run_id is not None:
            name = self._tool_runs.get(run_id)
            if name is not None:
                return name
            run_id = self._parents.get(run_id)
        return None

    def _first_end(self, run_id: UUID) -> bool:
        with self._lock:
            if run_id in self._ended:
                logger.debug("model call %s ended twice; counted once", run_id)
                return False
            self._ended[run_id] = None
            if len(self._ended) > _RECENT_ENDS:
                self._ended.popitem(last=False)
        return True

    # -- budgets ----------------------------------------------------------------

    def _reserve(self, call: CapturedCall) -> None:
        assert self.budgets is not None
        request = self._request(call)
        if request is None:
            return
        while True:
            try:
                call.reservation = self.budgets.reserve(request)
                return
            except BudgetExceededError as error:
                extra = _ask_for_more(error)
                if extra is None:
                    self._calls.pop(UUID(call.run_id), None)
                    raise
                self.budgets.grant(error.key, extra)

    def _settle(self, call: CapturedCall | None, record: UsageRecord) -> None:
        if self.budgets is not None and call is not None:
            self.budgets.settle(call.reservation, record)

    def _release(self, call: CapturedCall | None) -> None:
        if self.budgets is not None and call is not None:
            self.budgets.release(call.reservation)


def _tags(tags: Mapping[str, Any] | None) -> dict[str, str]:
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise ConfigurationError(
            f"tags must be a mapping such as {{'team': 'search'}}, got {tags!r}"
        )
    return {str(key): str(value) for key, value in tags.items()}


def _guards(guards: Iterable[Any] | None) -> list[Any]:
    found = list(guards or ())
    methods = ("before_call", "after_call", "on_tool_call")
    for guard in found:
        if not any(callable(getattr(guard, name, None)) for name in methods):
            raise ConfigurationError(
                f"guard {guard!r} has none of before_call, after_call, on_tool_call"
            )
    return found


def _open_sink(store: Any) -> Any:
    if store is None:
        return None
    from langgraph_tokenomics._store import open_writer

    return open_writer(store)


def _budget_book(budgets: Iterable[Any] | None, prices: PriceBook, store: Any) -> Any:
    if not budgets:
        return None
    from langgraph_tokenomics._budget import Budget, BudgetBook

    if isinstance(budgets, Budget):
        raise ConfigurationError("budgets must be a list of Budget objects")
    backend = None
    if isinstance(store, str) and store != "memory":
        from langgraph_tokenomics._store import SQLBudgetBackend

        backend = SQLBudgetBackend(store)
    return BudgetBook(list(budgets), prices=prices, backend=backend)


def _ask_for_more(error: BudgetExceededError) -> Decimal | None:
    """For an ``interrupt`` budget, pause the graph and ask a person for more.

    Returns the amount approved, or ``None`` to refuse the call. The person
    resumes with ``Command(resume={"approve": True, "add": "1.00"})`` (``add``
    in the budget's unit; without it, the refused estimate is approved).
    """
    budget = error.budget
    if getattr(budget, "action", "raise") != "interrupt":
        return None
    try:
        from langgraph.types import interrupt

        decision = interrupt(
            {
                "reason": "budget_exceeded",
                "message": str(error),
                "scope": error.scope,
                "limit": str(error.limit),
                "spent": str(error.spent),
                "estimate": str(error.estimate),
                "unit": error.unit,
            }
        )
    except RuntimeError:  # not inside a graph: nobody to ask
        return None
    if not isinstance(decision, Mapping) or not decision.get("approve"):
        return None
    return _approved_amount(decision.get("add", error.estimate))


def _approved_amount(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise ConfigurationError(
            f"resume value 'add' must be a number, got {value!r}"
        ) from None
    if not amount.is_finite() or amount <= 0:
        raise ConfigurationError(f"resume value 'add' must be > 0, got {value!r}")
    return amount
