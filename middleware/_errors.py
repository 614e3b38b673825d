"""Errors and warnings raised by the shaping middleware.

They extend the core's hierarchy (`TokenomicsError`, `TokenomicsWarning`);
the tokenizer fallback is the core's own `TokenizerFallbackWarning`.
"""

from __future__ import annotations

from langgraph_tokenomics import (
    TokenizerFallbackWarning,
    TokenomicsError,
    TokenomicsWarning,
)

__all__ = [
    "CacheLayoutWarning",
    "InvalidHistoryError",
    "TokenizerFallbackWarning",
]


class InvalidHistoryError(TokenomicsError, ValueError):
    """A message history that no provider would accept.

    Raised before anything is counted or trimmed, when a tool result has no
    earlier call, a tool call is never answered, or a call id is used twice.
    The message names the offending index and tool call id.
    """


class CacheLayoutWarning(TokenomicsWarning):
    """A request carries cache markers that the provider would reject.

    Shown when a request already holds more than four `cache_control`
    breakpoints; the layout keeps four of them.
    """
