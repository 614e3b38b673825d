"""Turns what an adapter captured of a model call into a priced `UsageRecord`.

The callback handler only captures references on the graph's path (the
prompt, the invocation parameters, the run metadata, the response); the
work of reading usage, counting, pricing and attributing happens here,
when a budget needs it before the call, or later, off the graph's path.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult

from ._attribution import CallSite, call_site
from ._counting import TokenCounter, message_text
from ._errors import EstimatedUsageWarning
from ._prefix import Block, PromptCount, PromptTracker
from ._prices import CallCost, PriceBook
from ._records import CallRequest, UsageRecord
from ._usage import TokenUsage, usage_from_metadata, usage_from_raw

__all__ = ["CapturedCall", "EndedCall", "Meter"]

_RAW_USAGE_KEYS = ("token_usage", "usage", "usage_metadata", "usageMetadata")
_ROUTING_METADATA_KEY = "tokenomics_routing"  # set by the router (see _routing)


@dataclass(slots=True)
class CapturedCall:
    """A model call as captured at its start: references, no work done.

    Attributes:
        run_id: The call's run id.
        root_run_id: The outermost run it belongs to.
        tool: The enclosing tool's name, if any.
        metadata: The run's metadata (LangGraph node, thread, tags...).
        run_tags: The run's tags.
        params: The invocation parameters (model, tools, max_tokens...).
        prompt: The messages (or prompt strings) sent.
        started_at: When the call started.
        stream_usages: Usage of streamed chunks, in order.
    """

    run_id: str
    root_run_id: str | None
    tool: str | None
    metadata: Mapping[str, Any]
    run_tags: Sequence[str] | None
    params: Mapping[str, Any]
    prompt: Sequence[Any]
    started_at: datetime
    stream_usages: list[Mapping[str, Any]] = field(default_factory=list)
    reservation: Any = None
    _measured: _Measured | None = None


@dataclass(frozen=True, slots=True)
class EndedCall:
    """A model call's end: the response as the provider's client returned it."""

    run_id: str
    response: LLMResult
    ended_at: datetime
    call: CapturedCall | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class _Measured:
    request: CallRequest
    site: CallSite
    tool_tokens: dict[str, int]
    carried_tokens: dict[str, int]
    predicted_cache_tokens: int


class Meter:
    """Measures, prices and attributes calls for one handler.

    Args:
        prices: The price book.
        counter: The token counter.
        default_tags: Tags applied to every call.
        tag_keys: Run metadata keys read as tags.
    """

    def __init__(
        self,
        *,
        prices: PriceBook,
        counter: TokenCounter,
        default_tags: Mapping[str, str],
        tag_keys: Sequence[str],
    ) -> None:
        self.prices = prices
        self.counter = counter
        self.default_tags = dict(default_tags)
        self.tag_keys = tuple(tag_keys)
        self._prompts = PromptTracker()
        self._tools: dict[int, tuple[Any, str, dict[str, int]]] = {}
        self._warned_estimates: set[str] = set()
        self._lock = threading.Lock()

    def request(self, call: CapturedCall) -> CallRequest:
        """What the call asks for, its prompt counted (once per call)."""
        return self._measure(call).request

    def record(self, ended: EndedCall) -> UsageRecord:
        """The priced, attributed record of one ended call."""
        call = ended.call
        measured = self._measure(call) if call is not None else None
        request = measured.request if measured else CallRequest(run_id=ended.run_id)
        message = _first_message(ended.response)
        model = _reported_model(ended.response, message) or request.model
        usage = _reported_usage(call, ended.response, message, request.provider)
        estimated = usage is None
        if usage is None:
            usage = self._estimate(request, ended.response, model, ended.error)

        cost = self.prices.cost(model, usage, provider=request.provider)
        routing = _routing(call)
        return UsageRecord(
            run_id=ended.run_id,
            root_run_id=request.root_run_id,
            thread_id=request.thread_id,
            node=request.node,
            node_path=request.node_path,
            step=measured.site.step if measured else None,
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
            cache_savings=self._cache_savings(model, usage, request.provider, cost),
            predicted_cache_tokens=(
                measured.predicted_cache_tokens if measured else None
            ),
            routed_from=_switched_from(routing),
            routing_reason=routing.get("reason"),
            tool_definition_tokens=measured.tool_tokens if measured else {},
            carried_tool_tokens=measured.carried_tokens if measured else {},
            tags=dict(request.tags),
            started_at=call.started_at if call else None,
            ended_at=ended.ended_at,
            error=ended.error,
        )

    # -- measuring the request --------------------------------------------------

    def _measure(self, call: CapturedCall) -> _Measured:
        if call._measured is None:
            call._measured = self._measure_now(call)
        return call._measured

    def _measure_now(self, call: CapturedCall) -> _Measured:
        metadata = call.metadata
        site = call_site(
            metadata,
            call.run_tags,
            default_tags=self.default_tags,
            tag_keys=self.tag_keys,
        )
        model = _requested_model(call.params, metadata)
        tools_key, tool_tokens = self._tool_tokens(call.params.get("tools"), model)
        prompt = self._prompts.observe(
            (site.thread_id, site.node_path, model),
            call.prompt,
            tools_key=tools_key,
            tools_tokens=sum(tool_tokens.values()),
            block_of=_block_of,
            count=lambda block: self._count_block(block, model),
        )
        request = CallRequest(
            run_id=call.run_id,
            root_run_id=call.root_run_id,
            thread_id=site.thread_id,
            node=site.node,
            node_path=site.node_path,
            tool=call.tool,
            model=model,
            provider=metadata.get("ls_provider"),
            input_tokens=self._prompt_tokens(prompt) + sum(tool_tokens.values()),
            max_tokens=_max_tokens(call.params, metadata),
            tags=site.tags,
        )
        return _Measured(
            request=request,
            site=site,
            tool_tokens=tool_tokens,
            carried_tokens=_carried_tool_tokens(prompt),
            predicted_cache_tokens=prompt.shared_tokens,
        )

    def _count_block(self, block: Block, model: str | None) -> int:
        return self.counter.count_text(block[1], model) + self.counter.message_overhead

    def _prompt_tokens(self, prompt: PromptCount) -> int:
        if not prompt.tokens:
            return 0
        return sum(prompt.tokens) + self.counter.reply_priming

    def _tool_tokens(
        self, tools: Sequence[Any] | None, model: str | None
    ) -> tuple[str, dict[str, int]]:
        """Serialized tools and tokens per tool; cached per tools list object."""
        if not tools:
            return "", {}
        cached = self._tools.get(id(tools))
        if cached is not None and cached[0] is tools:
            return cached[1], cached[2]
        key = json.dumps(tools, sort_keys=True, default=str)
        counts = self.counter.count_tools(tools, model)
        with self._lock:
            if len(self._tools) > 1_024:
                self._tools.clear()
            self._tools[id(tools)] = (tools, key, counts)
        return key, counts

    # -- the response -----------------------------------------------------------

    def _estimate(
        self,
        request: CallRequest,
        response: LLMResult,
        model: str | None,
        error: str | None = None,
    ) -> TokenUsage:
        name = model or "<unknown model>"
        if error is None and name not in self._warned_estimates:
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
        return TokenUsage(input_tokens=request.input_tokens, output_tokens=output)

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


def _routing(call: CapturedCall | None) -> Mapping[str, Any]:
    """The routing decision a router put in the call's metadata, if any."""
    routing = call.metadata.get(_ROUTING_METADATA_KEY) if call else None
    return routing if isinstance(routing, Mapping) else {}


def _switched_from(routing: Mapping[str, Any]) -> str | None:
    origin = routing.get("routed_from")
    return origin if origin and origin != routing.get("model") else None


def _block_of(item: Any) -> Block:
    if isinstance(item, str):
        return ("text", item)
    return (item.type, message_text(item))


def _carried_tool_tokens(prompt: PromptCount) -> dict[str, int]:
    """Tokens of tool results re-sent in this prompt, by the tool that made them."""
    names: dict[str, str] = {}
    carried: dict[str, int] = {}
    for message, tokens in zip(prompt.items, prompt.tokens, strict=True):
        if isinstance(message, AIMessage):
            for tool_call in message.tool_calls:
                call_id = tool_call.get("id")
                if call_id:
                    names[call_id] = tool_call["name"]
        elif isinstance(message, ToolMessage):
            name = message.name or names.get(message.tool_call_id) or "(unknown tool)"
            carried[name] = carried.get(name, 0) + tokens
    return carried


def _reported_usage(
    call: CapturedCall | None,
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
    for source in (response.llm_output, getattr(message, "response_metadata", None)):
        raw = _raw_usage(source)
        if raw is not None:
            usage = usage_from_raw(raw, provider=provider)
            if usage is not None and usage.total_tokens:
                return usage
    return None


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
