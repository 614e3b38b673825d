"""`AgentMiddleware` adapters for `create_agent`: trim context, lay out caches."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from langchain.agents.middleware import (
    AgentMiddleware,
    ModelRequest,
    ModelResponse,
)
from langchain.agents.middleware.types import ExtendedModelResponse
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
)
from langgraph.types import Command

from ._anthropic_messages import layout_anthropic_messages
from ._cache_policy import CacheBreakpoint, CacheTTL
from ._counting import MessageTokenCounter
from ._hysteresis import HysteresisTrimmer, TrimCut, last_call_length
from ._openai_cache import prompt_cache_key
from ._shaping import CallScope, ModelCall, Provider, detect_provider, model_name
from ._tools import sort_keys_deep, stable_tool_order
from ._trim import clear_old_tool_results, trim_messages_safe
from ._volatile import VolatileSpan, VolatileSpanTracker

__all__ = ["CacheLayoutMiddleware", "CacheLayoutReport", "ContextTrimMiddleware"]

logger = logging.getLogger(__name__)

VOLATILE_TEMPLATE = "<context>\n{volatile}\n</context>"
"""How moved volatile lines are sent, after the conversation."""

Handler = Callable[[ModelRequest], ModelResponse]
AsyncHandler = Callable[[ModelRequest], Awaitable[ModelResponse]]


class ContextTrimMiddleware(AgentMiddleware):
    """Trim what each model call is sent, keeping tool calls with their results.

    Give `max_tokens` to trim every call to a limit, or `high_watermark` and
    `low_watermark` to cut rarely and deep (see `HysteresisTrimmer`), which
    keeps the prompt cache warm between cuts. Old tool results can be
    cleared first. The system prompt counts toward the limit and is always
    kept; tool definitions do not count (they are the same on every call).
    Only the request changes; the agent state keeps the full history unless
    `rewrite_state` is set.

    Place it before `CacheLayoutMiddleware` in the middleware list, so the
    layout sees the trimmed request.
    """

    def __init__(
        self,
        *,
        max_tokens: int | None = None,
        high_watermark: int | None = None,
        low_watermark: int | None = None,
        token_counter: MessageTokenCounter | None = None,
        keep_first_human: bool = False,
        clear_tool_results_keep_last: int | None = None,
        clear_batch: int = 1,
        on_cut: Callable[[TrimCut], None] | None = None,
        rewrite_state: bool = False,
    ) -> None:
        """Configure the trimming.

        Args:
            max_tokens: Trim every call to this many tokens (system included).
            high_watermark: With `low_watermark`: cut when a call would pass
                this many tokens...
            low_watermark: ...down to this many.
            token_counter: Counts a list of messages; defaults to tiktoken
                `o200k_base` (`count_tokens`).
            keep_first_human: Also keep the first human message.
            clear_tool_results_keep_last: Replace the content of all but this
                many of the latest tool results (see `clear_old_tool_results`).
            clear_batch: Clear tool results in steps of this many.
            on_cut: Called with each new hysteresis cut, the turn it happens.
            rewrite_state: Also remove the trimmed messages from the agent
                state, and store cleared tool results, after the call.

        Raises:
            ValueError: If neither a limit nor clearing is configured, or both
                `max_tokens` and watermarks are given.
        """
        super().__init__()
        _check_trim_options(
            max_tokens, high_watermark, low_watermark, clear_tool_results_keep_last
        )
        self.max_tokens = max_tokens
        self.token_counter = token_counter
        self.keep_first_human = keep_first_human
        self.clear_tool_results_keep_last = clear_tool_results_keep_last
        self.clear_batch = clear_batch
        self.on_cut = on_cut
        self.rewrite_state = rewrite_state
        self.trimmer = _trimmer(
            high_watermark, low_watermark, token_counter, keep_first_human
        )

    def wrap_model_call(self, request: ModelRequest, handler: Handler) -> Any:
        """Send the trimmed request; optionally trim the state too."""
        shaped = self._shaped_request(request)
        return self._respond(request, shaped, handler(shaped))

    async def awrap_model_call(
        self, request: ModelRequest, handler: AsyncHandler
    ) -> Any:
        """Async `wrap_model_call`."""
        shaped = self._shaped_request(request)
        return self._respond(request, shaped, await handler(shaped))

    def shape_call(self, call: ModelCall, *, model: Any, scope: CallScope) -> ModelCall:
        """Clear and trim one call; the step `ShapedChatModel` shares.

        Args:
            call: The call as it would be sent.
            model: The chat model (unused; for a common signature).
            scope: The calling agent and node (unused).

        Returns:
            The call with fewer or lighter messages.
        """
        history = call.history
        if self.clear_tool_results_keep_last is not None:
            history = clear_old_tool_results(
                history,
                keep_last=self.clear_tool_results_keep_last,
                batch=self.clear_batch,
            )

        history = self._trimmed(history)
        kept_system = len(call.system)
        return call.with_changes(
            system=history[:kept_system], messages=history[kept_system:]
        )

    def _trimmed(self, history: list[BaseMessage]) -> list[BaseMessage]:
        if self.trimmer is not None:
            result = self.trimmer.trim(history)
            self._report(result.cuts_after(last_call_length(history)))
            return result.messages
        if self.max_tokens is not None:
            return trim_messages_safe(
                history,
                max_tokens=self.max_tokens,
                token_counter=self.token_counter,
                keep_first_human=self.keep_first_human,
            )
        return history

    def _report(self, cuts: tuple[TrimCut, ...]) -> None:
        for cut in cuts:
            logger.info(
                "context cut: %d -> %d tokens, %d to write to the cache again",
                cut.tokens_before,
                cut.tokens_after,
                cut.rewritten_tokens,
            )
            if self.on_cut is not None:
                self.on_cut(cut)

    def _shaped_request(self, request: ModelRequest) -> ModelRequest:
        call = _call_of(request)
        shaped = self.shape_call(call, model=request.model, scope=CallScope.current())
        return request.override(
            system_message=shaped.system[0] if shaped.system else None,
            messages=cast("list[AnyMessage]", shaped.messages),
        )

    def _respond(
        self, request: ModelRequest, shaped: ModelRequest, response: Any
    ) -> Any:
        if not self.rewrite_state or not isinstance(response, ModelResponse):
            return response
        update = _state_update(request.messages, shaped.messages)
        if not update:
            return response
        return ExtendedModelResponse(
            model_response=response, command=Command(update={"messages": update})
        )


@dataclass(frozen=True)
class CacheLayoutReport:
    """How one call was laid out for the provider's prompt cache."""

    scope: CallScope
    """The agent and node that made the call."""
    provider: Provider | None
    """The provider detected or configured; `None` if neither."""
    breakpoints: tuple[CacheBreakpoint, ...]
    """Anthropic `cache_control` markers of the request (empty for others)."""
    prompt_cache_key: str | None
    """The OpenAI `prompt_cache_key` sent, if any."""
    volatile_spans: tuple[VolatileSpan, ...]
    """Spans of the system prompt that changed or look volatile."""
    moved_volatile: bool
    """Whether the volatile lines were moved after the cached prefix."""


class CacheLayoutMiddleware(AgentMiddleware):
    """Lay each request out so the provider's prompt cache keeps hitting.

    Tools go in a fixed order with a fixed serialization. Volatile spans of
    the system prompt (timestamps, ids, per-user values) are detected across
    the calls of a node and, with `move_volatile`, moved into a message after
    the conversation. For Anthropic models, `cache_control` breakpoints go on
    the conversation tail, the previous tail, the end of the system prompt and
    the last tool (at most four with the user's own). For OpenAI models, a
    stable `prompt_cache_key` per agent and node is sent.
    """

    def __init__(
        self,
        *,
        provider: Provider | Literal["auto"] = "auto",
        ttl: CacheTTL = "5m",
        min_cacheable_tokens: int | None = None,
        sort_tools: bool = True,
        move_volatile: bool = False,
        volatile_template: str = VOLATILE_TEMPLATE,
        agent_name: str | None = None,
        on_layout: Callable[[CacheLayoutReport], None] | None = None,
    ) -> None:
        """Configure the layout.

        Args:
            provider: `anthropic`, `openai`, or `auto` to tell from the model.
            ttl: TTL of the Anthropic breakpoints placed (`5m` or `1h`).
            min_cacheable_tokens: Overrides the model's minimum cacheable
                prefix (PROVIDERS.md §3).
            sort_tools: Order tools by name and tool dict keys alphabetically.
            move_volatile: Move the system prompt's volatile lines into a
                human message after the conversation (not when the request
                ends with an assistant prefill).
            volatile_template: Wraps the moved lines (`{volatile}`), so the
                model reads them as context rather than as a user request.
            agent_name: Names the agent in the cache key; defaults to
                `create_agent(name=...)`.
            on_layout: Called with a `CacheLayoutReport` for every call.
        """
        super().__init__()
        self.provider = provider
        self.ttl: CacheTTL = ttl
        self.min_cacheable_tokens = min_cacheable_tokens
        self.sort_tools = sort_tools
        self.move_volatile = move_volatile
        self.volatile_template = volatile_template
        self.agent_name = agent_name
        self.on_layout = on_layout
        self.volatile = VolatileSpanTracker()

    def wrap_model_call(self, request: ModelRequest, handler: Handler) -> Any:
        """Send the laid-out request."""
        return handler(self._shaped_request(request))

    async def awrap_model_call(
        self, request: ModelRequest, handler: AsyncHandler
    ) -> Any:
        """Async `wrap_model_call`."""
        return await handler(self._shaped_request(request))

    def shape_call(self, call: ModelCall, *, model: Any, scope: CallScope) -> ModelCall:
        """Lay out one call; the step `ShapedChatModel` shares.

        Args:
            call: The call as it would be sent.
            model: The chat model, to tell the provider and minimum.
            scope: The calling agent and node.

        Returns:
            The laid-out call.
        """
        provider = detect_provider(model) if self.provider == "auto" else self.provider
        tools = self._ordered_tools(call.tools)
        system, moved, spans = self._split_volatile(call, scope)
        call = call.with_changes(system=system, tools=tools)

        breakpoints: tuple[CacheBreakpoint, ...] = ()
        key = None
        if provider == "anthropic":
            call, breakpoints = self._anthropic(call, model)
        elif provider == "openai":
            call, key = self._openai(call, model, scope)

        if moved:
            context = self.volatile_template.format(volatile=moved)
            call = call.with_changes(messages=[*call.messages, HumanMessage(context)])
        self._report(
            CacheLayoutReport(scope, provider, breakpoints, key, spans, bool(moved))
        )
        return call

    def _ordered_tools(self, tools: list[Any]) -> list[Any]:
        if not self.sort_tools:
            return tools
        ordered = stable_tool_order(tools)
        return [sort_keys_deep(t) if isinstance(t, dict) else t for t in ordered]

    def _split_volatile(
        self, call: ModelCall, scope: CallScope
    ) -> tuple[list[SystemMessage], str, tuple[VolatileSpan, ...]]:
        system = call.system
        if len(system) != 1 or not isinstance(system[0].content, str):
            return system, "", ()
        split = self.volatile.split(scope.key, system[0].content)
        if split.spans:
            logger.debug("volatile spans in %s: %s", scope.key, split.spans)
        if not self.move_volatile or not split.volatile or _ends_in_prefill(call):
            return system, "", split.spans
        stable = system[0].model_copy(update={"content": split.stable})
        return [stable], split.volatile, split.spans

    def _anthropic(
        self, call: ModelCall, model: Any
    ) -> tuple[ModelCall, tuple[CacheBreakpoint, ...]]:
        layout = layout_anthropic_messages(
            call.system,
            call.messages,
            call.tools,
            model=model_name(model),
            ttl=self.ttl,
            min_cacheable_tokens=self.min_cacheable_tokens,
            auto_marker=call.settings.get("cache_control"),
        )
        shaped = call.with_changes(
            system=layout.system, messages=layout.messages, tools=layout.tools
        )
        return shaped, layout.breakpoints

    def _openai(
        self, call: ModelCall, model: Any, scope: CallScope
    ) -> tuple[ModelCall, str | None]:
        if "prompt_cache_key" in call.settings:
            return call, call.settings["prompt_cache_key"]
        if getattr(model, "prompt_cache_key", None) or "prompt_cache_key" in (
            getattr(model, "model_kwargs", None) or {}
        ):
            return call, None
        key = prompt_cache_key(scope.agent, scope.node)
        return call.with_changes(
            settings={**call.settings, "prompt_cache_key": key}
        ), key

    def _report(self, report: CacheLayoutReport) -> None:
        logger.debug("cache layout: %s", report)
        if self.on_layout is not None:
            self.on_layout(report)

    def _shaped_request(self, request: ModelRequest) -> ModelRequest:
        call = _call_of(request)
        scope = CallScope.current(self.agent_name)
        shaped = self.shape_call(call, model=request.model, scope=scope)
        return request.override(
            system_message=shaped.system[0] if shaped.system else None,
            messages=cast("list[AnyMessage]", shaped.messages),
            tools=shaped.tools,
            model_settings=shaped.settings,
        )


def _check_trim_options(
    max_tokens: int | None, high: int | None, low: int | None, keep_last: int | None
) -> None:
    if max_tokens is None and high is None and keep_last is None:
        msg = "give max_tokens, watermarks or clear_tool_results_keep_last"
        raise ValueError(msg)
    if (high is None) != (low is None):
        msg = "give both high_watermark and low_watermark, or neither"
        raise ValueError(msg)
    if max_tokens is not None and high is not None:
        msg = "give max_tokens or watermarks, not both"
        raise ValueError(msg)
    if max_tokens is not None and max_tokens < 0:
        msg = f"max_tokens must be at least 0, got {max_tokens}"
        raise ValueError(msg)


def _trimmer(
    high: int | None,
    low: int | None,
    token_counter: MessageTokenCounter | None,
    keep_first_human: bool,
) -> HysteresisTrimmer | None:
    if high is None or low is None:
        return None
    return HysteresisTrimmer(
        high_watermark=high,
        low_watermark=low,
        token_counter=token_counter,
        keep_first_human=keep_first_human,
    )


def _call_of(request: ModelRequest) -> ModelCall:
    system = [request.system_message] if request.system_message else []
    return ModelCall(
        system=system,
        messages=list(request.messages),
        tools=list(request.tools),
        settings=dict(request.model_settings),
    )


def _ends_in_prefill(call: ModelCall) -> bool:
    return bool(call.messages) and isinstance(call.messages[-1], AIMessage)


def _state_update(
    original: Sequence[BaseMessage], shaped: Sequence[BaseMessage]
) -> list[BaseMessage]:
    kept = {message.id: message for message in shaped if message.id}
    update: list[BaseMessage] = []
    for message in original:
        if message.id is None:
            continue
        if message.id not in kept:
            update.append(RemoveMessage(id=message.id))
        elif kept[message.id] is not message:
            update.append(kept[message.id])

    if any(message.id is None for message in original):
        logger.warning("messages without an id stay in the state untrimmed")
    return update
