"""Default token counter: tiktoken `o200k_base`, cached per message content."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from langgraph_tokenomics import TokenCounter as CoreTokenCounter

__all__ = [
    "ENCODING_NAME",
    "MEDIA_BLOCK_TOKENS",
    "MESSAGE_OVERHEAD_TOKENS",
    "MessageTokenCounter",
    "count_block_tokens",
    "count_message_tokens",
    "count_text_tokens",
    "count_tokens",
]

ENCODING_NAME = "o200k_base"
"""The tiktoken encoding the default counter uses."""

MESSAGE_OVERHEAD_TOKENS = 4
"""Tokens added per message for its role and framing."""

TOOL_CALL_OVERHEAD_TOKENS = 6
"""Tokens added per tool call for its id, name and framing."""

MEDIA_BLOCK_TOKENS = 1_000
"""Flat estimate for an image, audio or file block; its bytes are not counted."""

MessageTokenCounter = Callable[[Sequence[BaseMessage]], int]
"""A callable that counts the tokens of a list of messages."""

_MEDIA_BLOCK_TYPES = frozenset(
    {"image", "image_url", "input_image", "audio", "input_audio", "file", "document"}
)
_CALL_BLOCK_TYPES = frozenset({"tool_use", "tool_call", "function_call"})
_CACHE_SIZE = 16_384


class _Tokenizer:
    """Counts text with the core's `TokenCounter`, fixed to `o200k_base`.

    The core loads the encoding without hanging on the network, caches counts
    by text, and falls back to characters / 4 with one
    `TokenizerFallbackWarning` when the encoding cannot be loaded.
    """

    def __init__(self) -> None:
        self._counter = CoreTokenCounter(encoding=ENCODING_NAME)

    def count(self, text: str) -> int:
        return self._counter.count_text(text)


_TOKENIZER = _Tokenizer()


def count_text_tokens(text: str) -> int:
    """Count the tokens of a text with the default tokenizer.

    Args:
        text: Any text.

    Returns:
        The `o200k_base` token count, or about `len(text) / 4` when tiktoken
        cannot load the encoding (warned once with `TokenizerFallbackWarning`).
    """
    return _TOKENIZER.count(text)


def count_message_tokens(message: BaseMessage) -> int:
    """Estimate the tokens one message adds to a prompt.

    Counts the message text, the name and arguments of its tool calls, a flat
    `MEDIA_BLOCK_TOKENS` per media block and `MESSAGE_OVERHEAD_TOKENS`. Results
    are cached by content, so counting a growing history again is cheap.

    Args:
        message: A LangChain message.

    Returns:
        The estimated token count.
    """
    return _count_key(*_message_key(message))


def count_tokens(messages: Sequence[BaseMessage]) -> int:
    """Estimate the prompt tokens of a list of messages (the default counter).

    Args:
        messages: The messages as they would be sent.

    Returns:
        The sum of `count_message_tokens` over the messages.
    """
    return sum(count_message_tokens(message) for message in messages)


def count_block_tokens(block: Any) -> int:
    """Estimate the tokens of one content block.

    Args:
        block: A text string or a content block dict (text, tool use, tool
            result, image, document, ...).

    Returns:
        Its text tokens; `MEDIA_BLOCK_TOKENS` for a media block.
    """
    if isinstance(block, dict) and block.get("type") in _MEDIA_BLOCK_TYPES:
        return MEDIA_BLOCK_TOKENS
    return count_text_tokens(_block_text(block, skip_calls=False))


def _message_key(message: BaseMessage) -> tuple[str, str, int, str]:
    calls = message.tool_calls if isinstance(message, AIMessage) else []
    text = _content_text(message.content, skip_calls=bool(calls))
    media = _media_blocks(message.content)
    call_text = "\n".join(f"{call['name']} {_dumps(call['args'])}" for call in calls)
    return (
        text,
        call_text,
        media + len(calls) * TOOL_CALL_OVERHEAD_TOKENS,
        message.name or "",
    )


@lru_cache(maxsize=_CACHE_SIZE)
def _count_key(text: str, call_text: str, fixed: int, name: str) -> int:
    counted = count_text_tokens(text) + count_text_tokens(call_text)
    return counted + count_text_tokens(name) + fixed + MESSAGE_OVERHEAD_TOKENS


def _content_text(content: Any, *, skip_calls: bool) -> str:
    if isinstance(content, str):
        return content
    parts = [_block_text(block, skip_calls=skip_calls) for block in content]
    return "\n".join(part for part in parts if part)


def _block_text(block: Any, *, skip_calls: bool) -> str:
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return str(block)
    kind = block.get("type")
    if kind in _MEDIA_BLOCK_TYPES or (skip_calls and kind in _CALL_BLOCK_TYPES):
        return ""
    text = block.get("text")
    if kind == "text" and isinstance(text, str):
        return text
    if kind == "tool_result":
        return _content_text(block.get("content") or "", skip_calls=False)
    visible = {key: value for key, value in block.items() if key != "cache_control"}
    return _dumps(visible)


def _media_blocks(content: Any) -> int:
    if isinstance(content, str):
        return 0
    media = [
        block
        for block in content
        if isinstance(block, dict) and block.get("type") in _MEDIA_BLOCK_TYPES
    ]
    return len(media) * MEDIA_BLOCK_TOKENS


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
