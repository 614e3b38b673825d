"""Errors and warnings raised by the shaping middleware."""

from __future__ import annotations

__all__ = [
    "CacheLayoutWarning",
    "InvalidHistoryError",
    "TokenizerFallbackWarning",
]


class InvalidHistoryError(ValueError):
    """A message history that no provider would accept.

    Raised before anything is counted or trimmed, when a tool result has no
    earlier call, a tool call is never answered, or a call id is used twice.
    The message names the offending index and tool call id.
    """


class TokenizerFallbackWarning(UserWarning):
    """tiktoken could not load its encoding; token counts are approximated.

    Counts fall back to one token per four characters. Set
    `TIKTOKEN_CACHE_DIR` to a directory holding the encoding to count exactly
    offline.
    """


class CacheLayoutWarning(UserWarning):
    """A request carries cache markers that the provider would reject.

    Raised when a request already holds more than four `cache_control`
    breakpoints; the layout keeps four of them.
    """
