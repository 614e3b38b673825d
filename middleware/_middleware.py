"""`AgentMiddleware` adapters for `create_agent`: trim context, lay out caches."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

from genai_prices import data_snapshot
from langchain.agents.middleware import (
    AgentMiddleware,
    ModelRequest,
    ModelResponse,
)
from langchain.agents.middleware.types import ExtendedModelResponse
from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    RemoveMessage,
    SystemMessage,
)
from langchain_core.runnables import Runnable, ensure_config
from langgraph.types import Command

from langgraph_tokenomics import ConfigurationError

from ._anthropic_messages import layout_anthropic_messages
from ._cache_policy import CacheBreakpoint, CacheTTL
from ._counting import MessageTokenCounter, count_tokens
from ._hysteresis import HysteresisTrimmer, TrimCut, last_call_length
from ._openai_cache import prompt_cache_key
from ._shaping import CallScope, ModelCall, Provider, detect_provider, model_name
from ._summarize import SUMMARY_PROMPT, TrimSummarizer, split_at_cut
from ._tools import sort_keys_deep, stable_tool_order
from ._trim import clear_old_tool_results, trim_messages_safe
from ._volatile import VolatileSpan, VolatileSpanTracker

__all__ = [
    "CacheLayoutMiddleware",
    "CacheLayoutReport",
    "ContextTrimMiddleware",
    "context_window",
]

logger = logging.getLogger(__name__)

VOLATILE_TEMPLATE = "<context>\n{volatile}\n</context>"
"""How moved volatile lines are sent, after the conversation."""

Handler = Callable[[ModelRequest], ModelResponse]
AsyncHandler = Callable[[ModelRequest], Awaitable[ModelResponse]]


class ContextTrimMiddleware(AgentMiddleware):
    """Trim what each model call is sent, keeping tool calls with their results.

    Give one limit: `max_tokens` to trim every call to a limit, or
    `high_watermark` and `low_watermark` to cut rarely and deep (see
    `HysteresisTrimmer`), which keeps the prompt cache warm between cuts.
    `max_fraction`, or `high_fraction` and `low_fraction`, give the same
    limits as fractions of the model's context window (its LangChain profile's
    `max_input_tokens`, else genai-prices' `context_window`). Old tool results
    can be cleared first. The system prompt counts toward the limit and is
    always kept; tool definitions do not count (they are the same on every
    call).

    With a `summary_model`, the cut part is replaced by one summary message,
    placed after the system message(s) and a pinned first human message. The
    summary model is called inside the agent's model call with the run's
    config, so a `TokenomicsCallbackHandler` records its call in the same
    node, under its own model name; each cut is summarized once (see
    `TrimSummarizer`). The summary comes on top of the limit, and with
    `max_tokens` the cut moves on every call, so use watermarks with it.

    Only the request changes; the agent state keeps the full history unless
    `rewrite_state` is set. Place it before `CacheLayoutMiddleware` in the
    middleware list, so the layout sees the trimmed request.
    """

    def __init__(
        self,
        *,
        max_tokens: int | None = None,
        high_watermark: int | None = None,
        low_watermark: int | None = None,
        max_fraction: float | None = None,
        high_fraction: float | None = None,
        low_fraction: float | None = None,
        token_counter: MessageTokenCounter | None = None,
        keep_first_human: bool = False,
        clear_tool_results_keep_last: int | None = None,
        clear_batch: int = 1,
        summary_model: Runnable[LanguageModelInput, Any] | None = None,
        summary_prompt: str = SUMMARY_PROMPT,
        on_cut: Callable[[TrimCut], None] | None = None,
        rewrite_state: bool = False,
    ) -> None:
        """Configure the trimming.

        Args:
            max_tokens: Trim every call to this many tokens (system included).
            high_watermark: With `low_watermark`: cut when a call would pass
                this many tokens...
            low_watermark: ...down to this many.
            max_fraction: Like `max_tokens`, as a fraction in (0, 1] of the
                model's context window (rounded down to whole tokens).
            high_fraction: With `low_fraction`: watermarks as fractions of the
                context window, `0 < low_fraction <= high_fraction <= 1`.
            low_fraction: See `high_fraction`.
            token_counter: Counts a list of messages; defaults to tiktoken
                `o200k_base` (`count_tokens`).
            keep_first_human: Also keep the first human message.
            clear_tool_results_keep_last: Replace the content of all but this
                many of the latest tool results (see `clear_old_tool_results`).
            clear_batch: Clear tool results in steps of this many.
            summary_model: A (cheaper) chat model that summarizes the cut
                part, e.g. `init_chat_model("openai:gpt-5.4-nano")`. Its
                errors propagate, as the agent model's would.
            summary_prompt: The request to the summary model, with a
                `{messages}` placeholder (see `SUMMARY_PROMPT`).
            on_cut: Called with each new hysteresis cut, the turn it happens,
                after its summary is made (`TrimCut.summary_tokens`).
            rewrite_state: Also remove the trimmed messages from the agent
                state, and store cleared tool results, after the call.

        Raises:
            ValueError: If neither a limit nor clearing is configured, more
                than one limit is given, a fraction is outside (0, 1], or
                `summary_model` is combined with `rewrite_state` (the summary
                is not written to the state).
        """
        super().__init__()
        limits = _Limits(
            max_tokens,
            high_watermark,
            low_watermark,
            max_fraction,
            high_fraction,
            low_fraction,
        )
        limits.check(clearing=clear_tool_results_keep_last is not None)
        _check_summary_options(summary_model, rewrite_state)

        self.limits = limits
        self.max_tokens = max_tokens
        self.token_counter = token_counter
        self.keep_first_human = keep_first_human
        self.clear_tool_results_keep_last = clear_tool_results_keep_last
        self.clear_batch = clear_batch
        self.on_cut = on_cut
        self.rewrite_state = rewrite_state
        self.trimmer: HysteresisTrimmer | None = None
        if high_watermark is not None and low_watermark is not None:
            self.trimmer = self._new_trimmer(high_watermark, low_watermark)
        self.summarizer = _summarizer(summary_model, summary_prompt)
        self._window_trimmers: dict[int, HysteresisTrimmer] = {}

    def wrap_model_call(self, request: ModelRequest, handler: Handler) -> Any:
        """Send the trimmed request; optionally trim the state too."""
        call = self.shape_call(
            _call_of(request), model=request.model, scope=CallScope.current()
        )
        shaped = _with_call(request, call)
        return self._respond(request, shaped, handler(shaped))

    async def awrap_model_call(
        self, request: ModelRequest, handler: AsyncHandler
    ) -> Any:
        """Async `wrap_model_call`; the summary model is awaited."""
        call = _call_of(request)
        trimmed = self._trim(call, request.model)
        summary = None
        if self.summarizer is not None and trimmed.cut:
            summary = await self.summarizer.asummarize(
                trimmed.cut, config=ensure_config()
            )
        shaped = _with_call(request, self._finish(call, trimmed, summary))
        return self._respond(request, shaped, await handler(shaped))

    def shape_call(self, call: ModelCall, *, model: Any, scope: CallScope) -> ModelCall:
        """Clear, trim and summarize one call; the step `ShapedChatModel` shares.

        Args:
            call: The call as it would be sent.
            model: The chat model, for its context window.
            scope: The calling agent and node (unused).

        Returns:
            The call with fewer or lighter messages.

        Raises:
            ConfigurationError: With a fraction, if the model's context
                window is unknown.
        """
        trimmed = self._trim(call, model)
        summary = None
        if self.summarizer is not None and trimmed.cut:
            summary = self.summarizer.summarize(trimmed.cut, config=ensure_config())
        return self._finish(call, trimmed, summary)

    def _trim(self, call: ModelCall, model: Any) -> _Trimmed:
        original = call.history
        history = original
        if self.clear_tool_results_keep_last is not None:
            history = clear_old_tool_results(
                history,
                keep_last=self.clear_tool_results_keep_last,
                batch=self.clear_batch,
            )

        kept, cuts = self._kept(history, model)
        removed, head, tail = split_at_cut(history, kept)
        cut = [original[index] for index in removed]
        return _Trimmed(kept, head, tail, cut, cuts)

    def _kept(
        self, history: list[BaseMessage], model: Any
    ) -> tuple[list[BaseMessage], tuple[TrimCut, ...]]:
        trimmer = self._trimmer_for(model)
        if trimmer is not None:
            result = trimmer.trim(history)
            return result.messages, result.cuts_after(last_call_length(history))
        max_tokens = self._max_tokens_for(model)
        if max_tokens is None:
            return history, ()
        kept = trim_messages_safe(
            history,
            max_tokens=max_tokens,
            token_counter=self.token_counter,
            keep_first_human=self.keep_first_human,
        )
        return kept, ()

    def _trimmer_for(self, model: Any) -> HysteresisTrimmer | None:
        high, low = self.limits.high_fraction, self.limits.low_fraction
        if self.trimmer is not None or high is None or low is None:
            return self.trimmer
        window = context_window(model)
        if window not in self._window_trimmers:
            trimmer = self._new_trimmer(int(window * high), int(window * low))
            self._window_trimmers[window] = trimmer
        return self._window_trimmers[window]

    def _max_tokens_for(self, model: Any) -> int | None:
        if self.limits.max_fraction is None:
            return self.max_tokens
        return int(context_window(model) * self.limits.max_fraction)

    def _new_trimmer(self, high: int, low: int) -> HysteresisTrimmer:
        return HysteresisTrimmer(
            high_watermark=high,
            low_watermark=low,
            token_counter=self.token_counter,
            keep_first_human=self.keep_first_human,
        )

    def _finish(
        self, call: ModelCall, trimmed: _Trimmed, summary: BaseMessage | None
    ) -> ModelCall:
        history = trimmed.kept
        summary_tokens = 0
        if summary is not None:
            history = [*trimmed.head, summary, *trimmed.tail]
            summary_tokens = (self.token_counter or count_tokens)([summary])

        self._report(trimmed.cuts, summary_tokens)
        kept_system = len(call.system)
        return call.with_changes(
            system=history[:kept_system], messages=history[kept_system:]
        )

    def _report(self, cuts: tuple[TrimCut, ...], summary_tokens: int) -> None:
        if cuts and summary_tokens:
            cuts = (*cuts[:-1], replace(cuts[-1], summary_tokens=summary_tokens))
        for cut in cuts:
            logger.info(
                "context cut: %d -> %d tokens, %d to write to the cache again",
                cut.tokens_before,
                cut.tokens_after,
                cut.rewritten_tokens,
            )
            if self.on_cut is not None:
                self.on_cut(cut)

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
class _Trimmed:
    """One call's history after clearing and trimming, before its summary."""

    kept: list[BaseMessage]
    """The messages kept, system message(s) first."""
    head: list[BaseMessage]
    """The kept messages before the cut part (system, pinned first human)."""
    tail: list[BaseMessage]
    """The kept messages after the cut part (the recent window)."""
    cut: list[BaseMessage]
    """The messages cut, as they were before clearing."""
    cuts: tuple[TrimCut, ...]
    """Hysteresis cuts made since the previous call."""


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


@dataclass(frozen=True)
class _Limits:
    """The trim limits given to `ContextTrimMiddleware`."""

    max_tokens: int | None
    high_watermark: int | None
    low_watermark: int | None
    max_fraction: float | None
    high_fraction: float | None
    low_fraction: float | None

    def check(self, *, clearing: bool) -> None:
        """Raise a `ValueError` naming the first problem, if any."""
        given = self.given()
        if not given and not clearing:
            msg = "give max_tokens, watermarks or clear_tool_results_keep_last"
            raise ConfigurationError(msg)
        if (self.high_watermark is None) != (self.low_watermark is None):
            msg = "give both high_watermark and low_watermark, or neither"
            raise ConfigurationError(msg)
        if (self.high_fraction is None) != (self.low_fraction is None):
            msg = "give both high_fraction and low_fraction, or neither"
            raise ConfigurationError(msg)
        if len(given) > 1:
            msg = f"give {given[0]} or {given[1]}, not both"
            raise ConfigurationError(msg)
        self._check_ranges()

    def given(self) -> list[str]:
        """The kinds of limit given, among the four."""
        kinds = {
            "max_tokens": self.max_tokens is not None,
            "watermarks": self.high_watermark is not None
            or self.low_watermark is not None,
            "max_fraction": self.max_fraction is not None,
            "fractions": self.high_fraction is not None
            or self.low_fraction is not None,
        }
        return [kind for kind, present in kinds.items() if present]

    def _check_ranges(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 0:
            msg = f"max_tokens must be at least 0, got {self.max_tokens}"
            raise ConfigurationError(msg)
        if self.max_fraction is not None and not 0 < self.max_fraction <= 1:
            msg = (
                f"max_fraction must satisfy 0 < fraction <= 1, got {self.max_fraction}"
            )
            raise ConfigurationError(msg)
        high, low = self.high_fraction, self.low_fraction
        if high is not None and low is not None and not 0 < low <= high <= 1:
            msg = (
                "fractions must satisfy 0 < low <= high <= 1, got "
                f"low_fraction={low}, high_fraction={high}"
            )
            raise ConfigurationError(msg)


def _check_summary_options(summary_model: Any, rewrite_state: bool) -> None:
    if summary_model is not None and rewrite_state:
        msg = (
            "summary_model cannot be combined with rewrite_state: the summary "
            "is sent to the model but not written to the state"
        )
        raise ConfigurationError(msg)


def _summarizer(model: Any, prompt: str) -> TrimSummarizer | None:
    if model is None:
        return None
    return TrimSummarizer(model, prompt=prompt)


def context_window(model: Any) -> int:
    """The context window of a chat model, in tokens.

    Read from the model's LangChain profile (`model.profile`, key
    `max_input_tokens`), else from genai-prices' `context_window` for its name.

    Args:
        model: A chat model, or a binding of one.

    Returns:
        The most input tokens the model accepts.

    Raises:
        ConfigurationError: If neither source knows the model's window.
    """
    chat_model = _unbound(model)
    profile = getattr(chat_model, "profile", None)
    if isinstance(profile, Mapping):
        window = profile.get("max_input_tokens")
        if isinstance(window, int) and window > 0:
            return window

    name = model_name(chat_model)
    window = _genai_context_window(name) if name else None
    if window is None:
        msg = (
            f"the context window of model {name!r} is unknown (no max_input_tokens "
            "in its LangChain profile, no context_window in genai-prices); give "
            "max_tokens or watermarks instead of fractions, or set "
            "model.profile={'max_input_tokens': ...}"
        )
        raise ConfigurationError(msg)
    return window


def _unbound(model: Any) -> Any:
    while getattr(model, "profile", None) is None and hasattr(model, "bound"):
        model = model.bound
    return model


@functools.lru_cache(maxsize=256)
def _genai_context_window(name: str) -> int | None:
    snapshot = data_snapshot.get_snapshot()
    try:
        window = snapshot.find_provider_model(name, None, None, None)[1].context_window
    except LookupError:
        return None
    return int(window) if window else None


def _call_of(request: ModelRequest) -> ModelCall:
    system = [request.system_message] if request.system_message else []
    return ModelCall(
        system=system,
        messages=list(request.messages),
        tools=list(request.tools),
        settings=dict(request.model_settings),
    )


def _with_call(request: ModelRequest, call: ModelCall) -> ModelRequest:
    return request.override(
        system_message=call.system[0] if call.system else None,
        messages=cast("list[AnyMessage]", call.messages),
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
