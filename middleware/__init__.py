"""Shape model calls to cost less: trim context, lay prompts out for caches.

Functions work on plain LangChain messages or on provider payloads; the
adapters apply them to every call of a `create_agent` agent
(`ContextTrimMiddleware`, `CacheLayoutMiddleware`) or of a chat model used in
a hand-built `StateGraph` node (`shape_model`). Shaping changes only what is
sent to the provider, never the graph state, unless asked. What is trimmed
can be summarized by a cheaper model (`TrimSummarizer`); `cut_cost` prices
what a cut costs in cache writes.
"""

from ._anthropic_payload import AnthropicCacheLayout, layout_anthropic_request
from ._budget_guard import BudgetGuardMiddleware
from ._cache_policy import (
    MAX_BREAKPOINTS,
    CacheBreakpoint,
    anthropic_min_cacheable_tokens,
)
from ._counting import count_message_tokens, count_text_tokens, count_tokens
from ._errors import CacheLayoutWarning, InvalidHistoryError, TokenizerFallbackWarning
from ._hysteresis import HysteresisTrim, HysteresisTrimmer, TrimCut, cut_cost
from ._middleware import (
    CacheLayoutMiddleware,
    CacheLayoutReport,
    ContextTrimMiddleware,
    context_window,
)
from ._openai_cache import prompt_cache_key
from ._routing import RoutedChatModel, RoutingMiddleware, route_model
from ._shaped_model import ShapedChatModel, shape_model
from ._shaping import CallScope, ModelCall
from ._summarize import SUMMARY_PROMPT, SUMMARY_TEMPLATE, TrimSummarizer
from ._tools import canonical_json, stable_tool_order
from ._trim import clear_old_tool_results, trim_messages_safe
from ._volatile import (
    VolatileSpan,
    VolatileSpanTracker,
    VolatileSplit,
    find_volatile_spans,
)

__all__ = [
    "MAX_BREAKPOINTS",
    "SUMMARY_PROMPT",
    "SUMMARY_TEMPLATE",
    "AnthropicCacheLayout",
    "BudgetGuardMiddleware",
    "CacheBreakpoint",
    "CacheLayoutMiddleware",
    "CacheLayoutReport",
    "CacheLayoutWarning",
    "CallScope",
    "ContextTrimMiddleware",
    "HysteresisTrim",
    "HysteresisTrimmer",
    "InvalidHistoryError",
    "ModelCall",
    "RoutedChatModel",
    "RoutingMiddleware",
    "ShapedChatModel",
    "TokenizerFallbackWarning",
    "TrimCut",
    "TrimSummarizer",
    "VolatileSpan",
    "VolatileSpanTracker",
    "VolatileSplit",
    "anthropic_min_cacheable_tokens",
    "canonical_json",
    "clear_old_tool_results",
    "context_window",
    "count_message_tokens",
    "count_text_tokens",
    "count_tokens",
    "cut_cost",
    "find_volatile_spans",
    "layout_anthropic_request",
    "prompt_cache_key",
    "route_model",
    "shape_model",
    "stable_tool_order",
    "trim_messages_safe",
]
