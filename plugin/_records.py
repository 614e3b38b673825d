"""The usage record: one model call, measured, priced and attributed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

__all__ = ["CallRequest", "UsageRecord"]


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRecord:
    """One model call. Token counts are the provider's unless ``estimated``.

    Token parts are disjoint: ``uncached_input_tokens + cache_read_tokens +
    cache_write_tokens == input_tokens``; ``reasoning_tokens`` is a part of
    ``output_tokens``, never added to it. Costs are USD ``Decimal``s and
    ``None`` when the model has no known price (never zero by default).
    No prompt or completion text is ever kept.

    Attributes:
        run_id: The LangChain run id of the model call.
        root_run_id: The run id of the outermost run (the graph invocation).
        thread_id: LangGraph's ``thread_id`` from the run config, if any.
        node: The innermost LangGraph node that made the call.
        node_path: The chain of nodes through subgraphs, outermost first.
        step: LangGraph's superstep of the node.
        tool: The tool whose run encloses the call (a tool that calls a
            model, an agent used as a tool), else ``None``.
        model: The model name the provider reported (or the request named).
        provider: ``ls_provider`` of the chat model, e.g. ``"openai"``.
        input_tokens: The whole prompt, cache reads and writes included.
        cache_read_tokens: Prompt tokens read from the provider's cache.
        cache_write_tokens: Prompt tokens written to the cache, all TTLs.
        cache_write_1h_tokens: The 1-hour-TTL part of ``cache_write_tokens``.
        output_tokens: All output, reasoning included.
        reasoning_tokens: The reasoning part of ``output_tokens``.
        input_cost: Cost of the uncached prompt tokens.
        cache_read_cost: Cost of the cache reads.
        cache_write_cost: Cost of the cache writes.
        output_cost: Cost of the output.
        cost: The call's total cost; ``None`` when unpriced.
        price_source: Where the price came from, e.g. ``"genai-prices 0.2.3"``.
        estimated: ``True`` when the provider reported no usage and the tokens
            were counted locally.
        service_tier: ``"priority"`` or ``"flex"`` when billed on that tier.
        cache_savings: What caching saved on this call: its cost with every
            prompt token at the input rate, minus its cost (negative when a
            cache write cost more than it saved). ``None`` when unpriced.
        predicted_cache_tokens: The prompt tokens this call shared with the
            previous call from the same thread, node and model: the most a
            provider's cache could have served.
        routed_from: The model a router switched this call away from, if any.
        routing_reason: Why the router chose this call's model, if routed.
        tool_definition_tokens: Tokens of each tool definition sent with the
            call, by tool name (part of ``input_tokens``).
        carried_tool_tokens: Tokens of earlier tool results carried in this
            call's prompt, by the tool that produced them.
        tags: Attribution tags: agent, team, workflow, user and any others.
        started_at: When the call started (UTC).
        ended_at: When the call ended (UTC).
        error: The exception type name when the call failed, else ``None``.
    """

    run_id: str
    root_run_id: str | None = None
    thread_id: str | None = None
    node: str | None = None
    node_path: tuple[str, ...] = ()
    step: int | None = None
    tool: str | None = None
    model: str | None = None
    provider: str | None = None
    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    input_cost: Decimal | None = None
    cache_read_cost: Decimal | None = None
    cache_write_cost: Decimal | None = None
    output_cost: Decimal | None = None
    cost: Decimal | None = None
    price_source: str | None = None
    estimated: bool = False
    service_tier: str | None = None
    cache_savings: Decimal | None = None
    predicted_cache_tokens: int | None = None
    routed_from: str | None = None
    routing_reason: str | None = None
    tool_definition_tokens: Mapping[str, int] = field(default_factory=dict)
    carried_tool_tokens: Mapping[str, int] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    error: str | None = None

    @property
    def uncached_input_tokens(self) -> int:
        """Prompt tokens billed at the plain input rate."""
        return self.input_tokens - self.cache_read_tokens - self.cache_write_tokens

    @property
    def cache_write_5m_tokens(self) -> int:
        """The 5-minute-TTL part of ``cache_write_tokens``."""
        return self.cache_write_tokens - self.cache_write_1h_tokens

    @property
    def total_tokens(self) -> int:
        """Prompt and output together."""
        return self.input_tokens + self.output_tokens

    @property
    def priced(self) -> bool:
        """Whether the call has a cost."""
        return self.cost is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRequest:
    """A model call about to be sent: what budgets and routing decide on.

    Attributes:
        run_id: The LangChain run id of the call.
        root_run_id: The run id of the outermost run (the graph invocation).
        thread_id: LangGraph's ``thread_id``, if any.
        node: The innermost LangGraph node making the call.
        node_path: Nodes through subgraphs, outermost first.
        tool: The enclosing tool, if any.
        model: The model the request names.
        provider: ``ls_provider`` of the chat model.
        input_tokens: The prompt counted locally, tool definitions included.
        max_tokens: The call's output cap, if it sets one.
        tags: Attribution tags.
    """

    run_id: str
    root_run_id: str | None = None
    thread_id: str | None = None
    node: str | None = None
    node_path: tuple[str, ...] = ()
    tool: str | None = None
    model: str | None = None
    provider: str | None = None
    input_tokens: int = 0
    max_tokens: int | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
