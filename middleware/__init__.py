"""Shape model calls to cost less: trim context, lay prompts out for caches.

Functions work on plain LangChain messages or on provider payloads.
"""

from ._anthropic_payload import AnthropicCacheLayout, layout_anthropic_request
from ._cache_policy import (
    MAX_BREAKPOINTS,
    CacheBreakpoint,
    anthropic_min_cacheable_tokens,
)
from ._counting import count_message_tokens, count_text_tokens, count_tokens
from ._errors import CacheLayoutWarning, InvalidHistoryError, TokenizerFallbackWarning
from ._hysteresis import HysteresisTrim, HysteresisTrimmer, TrimCut
from ._openai_cache import prompt_cache_key
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
    "AnthropicCacheLayout",
    "CacheBreakpoint",
    "CacheLayoutWarning",
    "HysteresisTrim",
    "HysteresisTrimmer",
    "InvalidHistoryError",
    "TokenizerFallbackWarning",
    "TrimCut",
    "VolatileSpan",
    "VolatileSpanTracker",
    "VolatileSplit",
    "anthropic_min_cacheable_tokens",
    "canonical_json",
    "clear_old_tool_results",
    "count_message_tokens",
    "count_text_tokens",
    "count_tokens",
    "find_volatile_spans",
    "layout_anthropic_request",
    "prompt_cache_key",
    "stable_tool_order",
    "trim_messages_safe",
]
