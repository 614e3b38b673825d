"""The LangChain callback handler: measure, price and attribute every model call."""

from __future__ import annotations

import json
import logging
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from langgraph_tokenomics._attribution import DEFAULT_TAG_KEYS, CallSite, call_site
from langgraph_tokenomics._counting import TokenCounter, default_counter, message_text
from langgraph_tokenomics._errors import BudgetExceededError, EstimatedUsageWarning
from langgraph_tokenomics._ledger import Ledger
from langgraph_tokenomics._prefix import PrefixTracker
from langgraph_tokenomics._prices import CallCost, PriceBook
from langgraph_tokenomics._records import CallRequest, UsageRecord
from langgraph_tokenomics._report import Breakdown, CacheReport, ToolCosts
from langgraph_tokenomics._usage import TokenUsage, usage_from_metadata, usage_from_raw

__all__ = ["TokenomicsCallbackHandler"]

logger = logging.getLogger(__name__)

_RECENT_ENDS = 10_000
_RAW_USAGE_KEYS = ("token_usage", "usage", "usage_metadata", "usageMetadata")


@dataclass(slots=True)
class _Call:
    """A model call in flight, between its start and end events."""

    request: CallRequest
    site: CallSite
    started_at: datetime
    tool_definition_tokens: dict[str, int]
    carried_tool_tokens: dict[str, int]
    predicted_cache_tokens: int = 0
    stream_usages: list[Mapping[str, Any]] = field(default_factory=list)
    reservation: Any = None


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
        store: Where records persist: ``None`` (memory only), a URL such as
            ``"sqlite:///spend.db"`` or ``"postgresql://..."``, or a store.
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
        store: Any = None,
        counter: TokenCounter | None = None,
        tag_keys: Iterable[str] = DEFAULT_TAG_KEYS,
    ) -> None:
        super().__init__()
        self.prices = prices or PriceBook()
        self.tags = dict(tags or {})
        self.tag_keys = tuple(tag_keys)
        self.counter = counter or default_counter()
        self.ledger = Ledger(_open_sink(store))
        self.budgets = _budget_book(budgets, self.ledger, self.prices)
        self._calls: dict[UUID, _Call] = {}
        self._parents: dict[UUID, UUID | None] = {}
        self._tool_runs: dict[UUID, str] = {}
        self._ended: OrderedDict[UUID, None] = OrderedDict()
        self._lock = threading.Lock()
        self._warned_estimates: set[str] = set()
        self._prefixes = PrefixTracker()

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
        name = kwargs.get("name") or (serialized or {}).get("name") or "tool"
        self._tool_runs[run_id] = str(name)

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
        try:
            record = self._record(run_id, response, call, kwargs)
        except Exception:
            logger.exception("could not record model call %s", run_id)
            self._release(call)
            return
        self.ledger.add(record)
        self._settle(call, record)

    def on_llm_error(
        self, error: BaseException, *, run_id: UUID, **kwargs: Any
    ) -> None:
        call = self._calls.pop(run_id, None)
        self._release(call)

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
        try:
            call = self._begin(run_id, parent_run_id, tags, metadata, kwargs, prompt)
        except Exception:
            logger.exception("could not read the start of model call %s", run_id)
            return
        self._calls[run_id] = call
        self._reserve(call)

    def _begin(
        self,
        run_id: UUID,
        parent_run_id: UUID | None,
        tags: list[str] | None,
        metadata: dict[str, Any] | None,
        kwargs: Mapping[str, Any],
        prompt: Sequence[BaseMessage] | Sequence[str],
    ) -> _Call:
        metadata = metadata or {}
        params = kwargs.get("invocation_params") or {}
        site = call_site(metadata, tags, default_tags=self.tags, tag_keys=self.tag_keys)
        model = _requested_model(params, metadata)
        tools = params.get("tools") or ()
        tool_tokens = self.counter.count_tools(tools, model)
        blocks, block_tokens = _prompt_blocks(prompt, self.counter, model)
        carried = _carried_tool_tokens(prompt, block_tokens)
        priming = self.counter.reply_priming if block_tokens else 0
        input_tokens = sum(block_tokens) + priming
        predicted = self._prefixes.observe(
            (site.thread_id, site.node_path, model),
            [_tools_block(tools), *blocks],
            [sum(tool_tokens.values()), *block_tokens],
        )

        request = CallRequest(
            run_id=str(run_id),
            root_run_id=self._root(parent_run_id),
            thread_id=site.thread_id,
            node=site.node,
            node_path=site.node_path,
            tool=self._enclosing_tool(parent_run_id),
            model=model,
            provider=metadata.get("ls_provider"),
            input_tokens=input_tokens + sum(tool_tokens.values()),
            max_tokens=_max_tokens(params, metadata),
            tags=site.tags,
        )
        return _Call(
            request=request,
            site=site,
            started_at=datetime.now(tz=UTC),
            tool_definition_tokens=tool_tokens,
            carried_tool_tokens=carried,
            predicted_cache_tokens=predicted,
        )

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

    def _record(
        self,
        run_id: UUID,
        response: LLMResult,
        call: _Call | None,
        kwargs: Mapping[str, Any],
    ) -> UsageRecord:
        request = call.request if call else CallRequest(run_id=str(run_id))
        message = _first_message(response)
        model = _reported_model(response, message) or request.model
        usage = self._usage(call, response, message, request.provider)
        estimated = usage is None
        if usage is None:
            usage = self._estimate(call, response, model)

        cost = self.prices.cost(model, usage, provider=request.provider)
        savings = self._cache_savings(model, usage, request.provider, cost)
        return UsageRecord(
            run_id=str(run_id),
            root_run_id=request.root_run_id,
            thread_id=request.thread_id,
            node=request.node,
            node_path=request.node_path,
            step=call.site.step if call else None,
            tool=request.tool,
            model=model,
            provider=request.provider,
            input_tokens=usage.input_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
            output_tokens=usage.output_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            input_cost=cost.input if cost else None,
            cache_read_cost=cost.cache_read if cost else None,
            cache_write_cost=cost.cache_write if cost else None,
            output_cost=cost.output if cost else None,
            cost=cost.total if cost else None,
            price_source=cost.source if cost else None,
            estimated=estimated,
            service_tier=usage.service_tier,
            cache_savings=savings,
            predicted_cache_tokens=call.predicted_cache_tokens if call else None,
            tool_definition_tokens=call.tool_definition_tokens if call else {},
            carried_tool_tokens=call.carried_tool_tokens if call else {},
            tags=dict(request.tags),
            started_at=call.started_at if call else None,
            ended_at=datetime.now(tz=UTC),
        )

    def _cache_savings(
        self,
        model: str | None,
        usage: TokenUsage,
        provider: str | None,
        cost: CallCost | None,
    ) -> Decimal | None:
        if cost is None:
            return None
        if not (usage.cache_read_tokens or usage.cache_write_tokens):
            return Decimal(0)
        uncached = TokenUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            service_tier=usage.service_tier,
        )
        without_cache = self.prices.cost(model, uncached, provider=provider)
        return without_cache.total - cost.total if without_cache else None

    def _usage(
        self,
        call: _Call | None,
        response: LLMResult,
        message: BaseMessage | None,
        provider: str | None,
    ) -> TokenUsage | None:
        streamed = call.stream_usages if call else []
        if len(streamed) > 1 and _cumulative(streamed):
            return usage_from_metadata(streamed[-1])
        metadata = getattr(message, "usage_metadata", None)
        if metadata and _reports_tokens(metadata):
            return usage_from_metadata(metadata)
        for source in (
            response.llm_output,
            getattr(message, "response_metadata", None),
        ):
            raw = _raw_usage(source)
            if raw is not None:
                usage = usage_from_raw(raw, provider=provider)
                if usage is not None:
                    return usage
        return None

    def _estimate(
        self, call: _Call | None, response: LLMResult, model: str | None
    ) -> TokenUsage:
        name = model or "<unknown model>"
        if name not in self._warned_estimates:
            self._warned_estimates.add(name)
            warnings.warn(
                f"model {name!r} returned no usage; its tokens are counted "
                "locally and the record is marked estimated=True",
                EstimatedUsageWarning,
                stacklevel=2,
            )
        output = sum(
            self.counter.count_text(_generation_text(generation), model)
            for generations in response.generations
            for generation in generations
        )
        input_tokens = call.request.input_tokens if call else 0
        return TokenUsage(input_tokens=input_tokens, output_tokens=output)

    # -- budgets ----------------------------------------------------------------

    def _reserve(self, call: _Call) -> None:
        if self.budgets is None:
            return
        while True:
            try:
                call.reservation = self.budgets.reserve(call.request)
                return
            except BudgetExceededError as error:
                extra = _ask_for_more(error)
                if extra is None:
                    self._calls.pop(UUID(call.request.run_id), None)
                    raise
                self.budgets.grant(error.key, extra)

    def _settle(self, call: _Call | None, record: UsageRecord) -> None:
        if self.budgets is not None and call is not None:
            self.budgets.settle(call.reservation, record)

    def _release(self, call: _Call | None) -> None:
        if self.budgets is not None and call is not None:
            self.budgets.release(call.reservation)


def _open_sink(store: Any) -> Any:
    if store is None:
        return None
    from langgraph_tokenomics._store import open_writer

    return open_writer(store)


def _budget_book(budgets: Iterable[Any] | None, ledger: Ledger, prices: PriceBook):
    if not budgets:
        return None
    from langgraph_tokenomics._budget import BudgetBook

    return BudgetBook(list(budgets), prices=prices)


def _requested_model(
    params: Mapping[str, Any], metadata: Mapping[str, Any]
) -> str | None:
    for key in ("model", "model_name", "model_id"):
        value = params.get(key)
        if isinstance(value, str) and value:
            return value
    value = metadata.get("ls_model_name")
    return str(value) if value else None


def _reported_model(response: LLMResult, message: BaseMessage | None) -> str | None:
    response_metadata = getattr(message, "response_metadata", None) or {}
    llm_output = response.llm_output or {}
    for source in (response_metadata, llm_output):
        for key in ("model_name", "model", "model_id"):
            value = source.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def _max_tokens(params: Mapping[str, Any], metadata: Mapping[str, Any]) -> int | None:
    for key in ("max_tokens", "max_completion_tokens", "max_output_tokens"):
        value = params.get(key)
        if isinstance(value, int) and value > 0:
            return value
    value = metadata.get("ls_max_tokens")
    return value if isinstance(value, int) and value > 0 else None


def _prompt_blocks(
    prompt: Sequence[BaseMessage] | Sequence[str],
    counter: TokenCounter,
    model: str | None,
) -> tuple[list[Any], list[int]]:
    """Each message as (role, text) the provider sees, and its tokens."""
    blocks = [
        ("text", item) if isinstance(item, str) else (item.type, message_text(item))
        for item in prompt
    ]
    overhead = counter.message_overhead
    tokens = [counter.count_text(text, model) + overhead for _, text in blocks]
    return blocks, tokens


def _tools_block(tools: Sequence[Any]) -> str:
    return json.dumps(tools, sort_keys=True, default=str) if tools else ""


def _carried_tool_tokens(
    prompt: Sequence[Any], block_tokens: Sequence[int]
) -> dict[str, int]:
    """Tokens of tool results re-sent in this prompt, by the tool that made them."""
    names: dict[str, str] = {}
    carried: dict[str, int] = {}
    for message, tokens in zip(prompt, block_tokens, strict=True):
        if isinstance(message, AIMessage):
            for tool_call in message.tool_calls:
                call_id = tool_call.get("id")
                if call_id:
                    names[call_id] = tool_call["name"]
        elif isinstance(message, ToolMessage):
            name = message.name or names.get(message.tool_call_id) or "(unknown tool)"
            carried[name] = carried.get(name, 0) + tokens
    return carried


def _first_message(response: LLMResult) -> BaseMessage | None:
    for generations in response.generations:
        for generation in generations:
            if isinstance(generation, ChatGeneration):
                return generation.message
    return None


def _generation_text(generation: Any) -> str:
    message = getattr(generation, "message", None)
    if message is not None:
        return message_text(message)
    return str(getattr(generation, "text", ""))


def _raw_usage(source: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not source:
        return None
    for key in _RAW_USAGE_KEYS:
        value = source.get(key)
        if isinstance(value, Mapping) and value:
            return value
    return None


def _reports_tokens(usage: Mapping[str, Any]) -> bool:
    """Whether usage says anything: some clients fill in zeros when none came."""
    return bool(usage.get("input_tokens") or usage.get("output_tokens"))


def _cumulative(usages: Sequence[Mapping[str, Any]]) -> bool:
    """Whether streamed usages repeat running totals instead of increments."""
    first, last = usages[0], usages[-1]
    prompt = first.get("input_tokens") or 0
    return (
        prompt > 0
        and last.get("input_tokens") == prompt
        and (last.get("output_tokens") or 0) >= (first.get("output_tokens") or 0)
    )


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
    return Decimal(str(decision.get("add", error.estimate)))
