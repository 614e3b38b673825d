"""Local token counting: tiktoken when an encoding loads, an approximation else.

Counts estimate a call before it is sent (budgets), fill in a call that came
back without usage, and size tool definitions and carried tool results. The
provider's reported usage always wins over a local count.
"""

from __future__ import annotations

import json
import logging
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from ._errors import TokenizerFallbackWarning

__all__ = ["TokenCounter", "default_counter", "message_text"]

logger = logging.getLogger(__name__)

_O200K_MARKERS = ("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "gpt-oss", "chatgpt")
_MESSAGE_OVERHEAD = 3
_REPLY_PRIMING = 3
_LOAD_TIMEOUT_SECONDS = 10.0
_CACHE_CHARACTERS = 64_000_000


class TokenCounter:
    """Counts tokens of text, messages and tool definitions.

    Counts are cached by text (up to about 64 million characters, then the
    cache starts over), so a history re-sent on every turn is counted once
    per message, not once per turn. Thread-safe.

    Args:
        encoding: A tiktoken encoding name to use for every model; by default
            ``o200k_base`` for OpenAI's current models and ``cl100k_base`` for
            the rest (an approximation for other providers' tokenizers).
    """

    message_overhead = _MESSAGE_OVERHEAD
    """Tokens of framing counted per message (role, separators)."""
    reply_priming = _REPLY_PRIMING
    """Tokens counted once per prompt for the reply's start."""

    def __init__(self, *, encoding: str | None = None) -> None:
        self._fixed_encoding = encoding
        self._encoders: dict[str, Any] = {}
        self._counts: dict[tuple[str, str], int] = {}
        self._cached_characters = 0
        self._lock = threading.Lock()

    def encoding_for(self, model: str | None) -> str:
        """The tiktoken encoding name used for ``model``."""
        if self._fixed_encoding:
            return self._fixed_encoding
        name = (model or "").lower().rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        if name.startswith(_O200K_MARKERS):
            return "o200k_base"
        return "cl100k_base"

    def count_text(self, text: str, model: str | None = None) -> int:
        """Tokens in ``text`` for ``model``'s encoding."""
        if not text:
            return 0
        encoding = self.encoding_for(model)
        key = (encoding, text)
        cached = self._counts.get(key)
        if cached is not None:
            return cached

        count = self._encode_length(encoding, text)
        with self._lock:
            if self._cached_characters + len(text) > _CACHE_CHARACTERS:
                self._counts.clear()
                self._cached_characters = 0
            self._counts[key] = count
            self._cached_characters += len(text)
        return count

    def count_message(self, message: BaseMessage, model: str | None = None) -> int:
        """Tokens of one message: its text, tool calls and a fixed overhead."""
        return self.count_text(message_text(message), model) + self.message_overhead

    def count_messages(
        self, messages: Iterable[BaseMessage], model: str | None = None
    ) -> int:
        """Tokens of a prompt made of ``messages``."""
        total = sum(self.count_message(message, model) for message in messages)
        return total + self.reply_priming if total else 0

    def count_tools(
        self, tools: Sequence[Mapping[str, Any]], model: str | None = None
    ) -> dict[str, int]:
        """Tokens of each tool definition sent with a call, by tool name."""
        counts: dict[str, int] = {}
        for tool in tools:
            name = tool_name(tool)
            serialized = json.dumps(tool, sort_keys=True, default=str)
            counts[name] = counts.get(name, 0) + self.count_text(serialized, model)
        return counts

    def _encode_length(self, encoding: str, text: str) -> int:
        encoder = self._encoder(encoding)
        if encoder is None:
            return max(1, (len(text) + 3) // 4)
        return len(encoder.encode(text, disallowed_special=()))

    def _encoder(self, encoding: str) -> Any:
        if encoding not in self._encoders:
            with self._lock:
                if encoding not in self._encoders:
                    self._encoders[encoding] = _load_encoding(encoding)
        return self._encoders[encoding]


def _load_encoding(name: str) -> Any:
    """Load a tiktoken encoding without ever hanging on the network."""
    result: dict[str, Any] = {}

    def load() -> None:
        try:
            import tiktoken

            result["encoding"] = tiktoken.get_encoding(name)
        except Exception as error:  # any failure means: approximate
            result["error"] = error

    loader = threading.Thread(target=load, name=f"tiktoken-{name}", daemon=True)
    loader.start()
    loader.join(_LOAD_TIMEOUT_SECONDS)
    if "encoding" in result:
        return result["encoding"]

    reason = result.get("error") or f"timed out after {_LOAD_TIMEOUT_SECONDS:.0f}s"
    warnings.warn(
        f"tiktoken encoding {name!r} could not be loaded ({reason}); token "
        "counts are approximated as characters / 4. Set TIKTOKEN_CACHE_DIR to "
        "a folder holding the encoding files to count exactly offline.",
        TokenizerFallbackWarning,
        stacklevel=2,
    )
    return None


def message_text(message: BaseMessage) -> str:
    """The text of a message that a provider tokenizes: content and tool calls."""
    content = message.content
    text = content if isinstance(content, str) else _blocks_text(content)
    # isinstance, not getattr: a missing pydantic attribute costs microseconds
    tool_calls = message.tool_calls if isinstance(message, AIMessage) else None
    if tool_calls:
        calls = [(call["name"], call["args"]) for call in tool_calls]
        text += json.dumps(calls, sort_keys=True, default=str)
    return text


def _blocks_text(blocks: Sequence[Any]) -> str:
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping):
            value = block.get("text") or block.get("content") or block.get("input")
            if value is not None:
                parts.append(value if isinstance(value, str) else json.dumps(value))
    return "".join(parts)


def tool_name(tool: Mapping[str, Any]) -> str:
    """The name of a tool definition in OpenAI, Anthropic or LangChain form."""
    function = tool.get("function")
    if isinstance(function, Mapping) and "name" in function:
        return str(function["name"])
    return str(tool.get("name") or tool.get("title") or "<unnamed>")


_DEFAULT: TokenCounter | None = None


def default_counter() -> TokenCounter:
    """The process-wide counter shared by handlers that are given none."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = TokenCounter()
    return _DEFAULT
