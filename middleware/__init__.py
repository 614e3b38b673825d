"""Shape model calls to cost less: trim context, lay prompts out for caches."""

from ._counting import count_message_tokens, count_text_tokens, count_tokens
from ._errors import CacheLayoutWarning, InvalidHistoryError, TokenizerFallbackWarning
from ._hysteresis import HysteresisTrim, HysteresisTrimmer, TrimCut
from ._trim import clear_old_tool_results, trim_messages_safe

__all__ = [
    "CacheLayoutWarning",
    "HysteresisTrim",
    "HysteresisTrimmer",
    "InvalidHistoryError",
    "TokenizerFallbackWarning",
    "TrimCut",
    "clear_old_tool_results",
    "count_message_tokens",
    "count_text_tokens",
    "count_tokens",
    "trim_messages_safe",
]
