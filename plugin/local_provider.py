"""A local HTTP server that answers like the OpenAI and Anthropic APIs.

`LocalProviderServer` listens on 127.0.0.1 and serves what the real LangChain
clients ask for:

- ``POST /v1/chat/completions`` (OpenAI Chat Completions, JSON and SSE),
- ``POST /v1/responses`` (OpenAI Responses, JSON and SSE),
- ``POST /v1/messages`` (Anthropic Messages, JSON and SSE, with or without
  ``anthropic-beta``) and ``POST /v1/messages/count_tokens``.

It counts tokens with tiktoken (``o200k_base`` for OpenAI, ``cl100k_base`` as an
approximation for Anthropic), applies each provider's documented prompt-cache rules
and reports usage exactly as that provider shapes it, so a graph can be run, tested
or dry-run for cost with ``ChatOpenAI`` and ``ChatAnthropic`` and no network.
What a reply says is decided by a *responder*: a function from the normalized
`ProviderRequest` to a `Reply`.

Example:
    ```python
    from langchain_openai import ChatOpenAI

    with LocalProviderServer() as server:
        model = ChatOpenAI(
            model="gpt-4o",
            base_url=server.openai_base_url,
            api_key="local",
            max_retries=0,
        )
        model.invoke("Hello")
        server.calls[-1].input_tokens
    ```
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import tiktoken

__all__ = [
    "DEFAULT_REPLY_TEXT",
    "LocalProviderServer",
    "ProviderRequest",
    "Reply",
    "ServedCall",
    "ToolCallReply",
    "anthropic_minimum_cacheable_tokens",
    "default_responder",
]

logger = logging.getLogger(__name__)

ApiName = Literal["openai-chat", "openai-responses", "anthropic"]

DEFAULT_REPLY_TEXT = "This is a reply from the local provider."
"""What the default responder answers, whatever it is asked."""

MESSAGE_OVERHEAD_TOKENS = 3
"""Fixed tokens counted for the framing of each message (role, separators)."""

OPENAI_ENCODING = "o200k_base"
ANTHROPIC_ENCODING = "cl100k_base"

OPENAI_CACHE_MINIMUM_TOKENS = 1024
OPENAI_CACHE_STEP_TOKENS = 128
OPENAI_CACHE_TTL_SECONDS = 600.0

ANTHROPIC_TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
ANTHROPIC_MAX_BREAKPOINTS = 4
ANTHROPIC_LOOKBACK_BLOCKS = 20
ANTHROPIC_DEFAULT_MINIMUM_TOKENS = 1024

# Checked in order, on the model name with dots turned into dashes; the first
# fragment found gives the minimum cacheable prefix (PROVIDERS.md section 3).
_ANTHROPIC_MINIMUMS: tuple[tuple[str, int], ...] = (
    ("opus-5", 512),
    ("fable-5-1", 512),
    ("mythos-5-1", 512),
    ("opus-4-7", 2048),
    ("mythos-preview", 2048),
    ("3-5-haiku", 2048),
    ("haiku-3", 2048),
    ("3-haiku", 2048),
    ("opus-4-6", 4096),
    ("opus-4-5", 4096),
    ("haiku-4-5", 4096),
)

_CACHE_MARKER_KEYS = frozenset({"cache_control", "prompt_cache_breakpoint"})
_SYSTEM_ROLES = frozenset({"system", "developer"})
_UNCACHEABLE_BLOCK_TYPES = frozenset({"thinking", "redacted_thinking"})
_SYSTEM_FINGERPRINT = "fp_local_provider"


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class ToolCallReply:
    """A tool call the local model answers with.

    Attributes:
        name: Name of the tool to call.
        args: Arguments, sent as JSON (``json.dumps(args)``).
        id: Call id; ``None`` lets the server number it, ``call_<n>`` for OpenAI
            and ``toolu_<n>`` for Anthropic, in the order calls are served.
    """

    name: str
    args: dict[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """What the local model answers to one request.

    Attributes:
        text: Assistant text; may be empty when there are tool calls.
        tool_calls: Tool calls, in order.
        reasoning_tokens: Hidden reasoning tokens to bill. They are output tokens:
            counted inside ``output_tokens`` and reported as reasoning (OpenAI
            ``reasoning_tokens``, Anthropic ``thinking_tokens``).
        omit_usage: Serve the response with no usage at all, as some gateways
            do, so that callers must estimate.
    """

    text: str = ""
    tool_calls: tuple[ToolCallReply, ...] = ()
    reasoning_tokens: int = 0
    omit_usage: bool = False


@dataclass(frozen=True)
class ProviderRequest:
    """A request as the responder sees it.

    Attributes:
        api: ``"openai-chat"``, ``"openai-responses"`` or ``"anthropic"``.
        model: Model name from the request.
        stream: Whether the client asked for server-sent events.
        messages: The conversation without system text, normalized to dicts with
            ``role`` (``"user"``, ``"assistant"`` or ``"tool"``) and ``text``;
            assistant turns may carry ``tool_calls`` (dicts with ``id``, ``name``
            and ``args``), tool results carry ``tool_call_id``.
        tool_names: Names of the tools offered, in request order.
        system: System text (system and developer messages, ``instructions``,
            Anthropic ``system``), joined by blank lines.
        body: The raw JSON body.
        headers: Request headers, names lower-cased.
    """

    api: ApiName
    model: str
    stream: bool
    messages: list[dict[str, Any]]
    tool_names: tuple[str, ...]
    system: str
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass(frozen=True)
class ServedCall:
    """One request the server answered, with the token counts it billed.

    The counts are the provider's view of the call whether or not they were sent;
    ``usage`` is exactly what went on the wire (``None`` if nothing did).

    Attributes:
        api: Which API was called.
        model: Model name from the request.
        stream: Whether the response was streamed.
        input_tokens: The whole prompt: uncached, cache reads and cache writes.
        cache_read_tokens: Prompt tokens read from the prompt cache.
        cache_write_5m_tokens: Prompt tokens written to a 5-minute cache entry.
        cache_write_1h_tokens: Prompt tokens written to a 1-hour cache entry.
        output_tokens: All output tokens, reasoning included.
        reasoning_tokens: Reasoning tokens, a part of ``output_tokens``.
        usage: The usage object as sent (for Anthropic streams, the cumulative
            usage of ``message_delta``), or ``None`` if the response had none.
    """

    api: ApiName
    model: str
    stream: bool
    input_tokens: int
    cache_read_tokens: int
    cache_write_5m_tokens: int
    cache_write_1h_tokens: int
    output_tokens: int
    reasoning_tokens: int
    usage: dict[str, Any] | None


Responder = Callable[[ProviderRequest], Reply]


def default_responder(request: ProviderRequest) -> Reply:
    """Answer every request with `DEFAULT_REPLY_TEXT`.

    Args:
        request: The request (unused).

    Returns:
        A short, fixed text reply.
    """
    return Reply(text=DEFAULT_REPLY_TEXT)


class _RequestError(Exception):
    """A request the provider would refuse, with the status and error type."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


def _bad_request(message: str) -> _RequestError:
    return _RequestError(400, "invalid_request_error", message)


# ------------------------------------------------------------------ serialization


def _canonical(value: Any) -> str:
    """Serialize a JSON value the same way every time."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _strip_cache_markers(value: Any) -> Any:
    """Drop cache breakpoints, which mark a prompt but are not part of it."""
    if isinstance(value, dict):
        return {
            key: _strip_cache_markers(item)
            for key, item in value.items()
            if key not in _CACHE_MARKER_KEYS
        }
    if isinstance(value, list):
        return [_strip_cache_markers(item) for item in value]
    return value


def _content_text(content: Any) -> str:
    """The countable text of message content: a string or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_part_text(part) for part in content)
    return _canonical(_strip_cache_markers(content))


def _part_text(part: Any) -> str:
    """The countable text of one content part, tool call or tool result."""
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        return _canonical(part)
    kind = part.get("type")
    text = part.get("text")
    if isinstance(text, str) and kind in (None, *_TEXT_PART_TYPES):
        return text
    if kind == "tool_result":
        return _content_text(part.get("content"))
    if kind == "function_call_output":
        return _content_text(part.get("output"))
    if kind == "tool_use":
        return str(part.get("name", "")) + _canonical(part.get("input", {}))
    if kind == "function_call":
        return str(part.get("name", "")) + str(part.get("arguments", ""))
    if isinstance(part.get("function"), dict):
        function = part["function"]
        return str(function.get("name", "")) + str(function.get("arguments", ""))
    return _canonical(_strip_cache_markers(part))


_TEXT_PART_TYPES = ("text", "input_text", "output_text")


def _text_pieces(text: str) -> list[str]:
    """Split text into word-sized stream deltas that join back to it."""
    return re.findall(r"\S+\s*|\s+", text)


def _json_pieces(arguments: str, size: int = 16) -> list[str]:
    """Split a JSON string into fixed-size stream fragments."""
    return [arguments[start : start + size] for start in range(0, len(arguments), size)]


def _loads_object(arguments: Any) -> dict[str, Any]:
    """Parse tool-call arguments to a dict; anything else becomes ``{}``."""
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = json.loads(arguments)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


# ---------------------------------------------------------------- token counting


class _TokenCounter:
    """Counts tokens per tiktoken encoding, caching counts by content hash."""

    _MAX_CACHED_COUNTS = 200_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._encodings: dict[str, tiktoken.Encoding | None] = {}
        self._counts: dict[tuple[str, str], int] = {}

    def encode(self, encoding_name: str, text: str) -> list[int]:
        """Token ids of ``text`` (approximate ones if tiktoken cannot load)."""
        encoding = self._encoding(encoding_name)
        if encoding is None:
            return _approximate_tokens(text)
        return encoding.encode(text, disallowed_special=())

    def count(self, encoding_name: str, text: str) -> int:
        """Number of tokens of ``text``, from the cache when seen before."""
        key = (encoding_name, _digest(text))
        with self._lock:
            cached = self._counts.get(key)
        if cached is not None:
            return cached

        count = len(self.encode(encoding_name, text))
        with self._lock:
            if len(self._counts) >= self._MAX_CACHED_COUNTS:
                self._counts.clear()
            self._counts[key] = count
        return count

    def _encoding(self, encoding_name: str) -> tiktoken.Encoding | None:
        with self._lock:
            if encoding_name not in self._encodings:
                self._encodings[encoding_name] = _load_encoding(encoding_name)
            return self._encodings[encoding_name]


def _load_encoding(encoding_name: str) -> tiktoken.Encoding | None:
    try:
        return tiktoken.get_encoding(encoding_name)
    except Exception as error:  # tiktoken raises several kinds when offline
        logger.warning(
            "tiktoken encoding %s could not be loaded (%s); the local provider "
            "approximates token counts instead",
            encoding_name,
            error,
        )
        return None


def _approximate_tokens(text: str) -> list[int]:
    """Stand-in tokens: short word pieces, punctuation and runs of spaces."""
    pieces = re.findall(r"\w{1,4}|[^\w\s]|\s+", text)
    return [zlib.crc32(piece.encode("utf-8", "surrogatepass")) for piece in pieces]


# ------------------------------------------------------------------------ prompts


@dataclass(frozen=True)
class _Block:
    """One unit of a prompt: a tool definition, a system block or a content part.

    Attributes:
        key: Content hash; equal keys mean identical blocks.
        head: Framing of the message this block opens ("" inside a message).
        text: The text counted.
        tokens: ``overhead`` plus the tokens of ``text``.
        overhead: Fixed framing tokens counted before ``text``.
        kind: The part's ``type`` (``"text"``, ``"tool_use"``...), if it has one.
        cache_control: Anthropic breakpoint on this block, if any.
    """

    key: str
    head: str
    text: str
    tokens: int
    overhead: int = 0
    kind: str | None = None
    cache_control: dict[str, Any] | None = None


class _PromptBuilder:
    """Turns request parts into `_Block`s in prompt order."""

    def __init__(self, counter: _TokenCounter, encoding_name: str) -> None:
        self.counter = counter
        self.encoding_name = encoding_name
        self.blocks: list[_Block] = []
        self.messages_start = 0

    def add(
        self, part: Any, *, head: str = "", overhead: int = 0, text: str | None = None
    ) -> None:
        """Add one block; ``head`` and ``overhead`` frame a message's first part."""
        canonical = _canonical(_strip_cache_markers(part))
        text = _part_text(part) if text is None else text
        key = _digest(head + "\x1f" + canonical)
        tokens = overhead + self.counter.count(self.encoding_name, text)
        mapping = part if isinstance(part, dict) else {}
        kind = mapping.get("type")
        cache_control = mapping.get("cache_control")
        self.blocks.append(
            _Block(key, head, text, tokens, overhead, kind, cache_control)
        )

    def add_definition(self, definition: Any, *, head: str) -> None:
        """Add a tool definition or output schema, counted as its JSON."""
        self.add(
            definition, head=head, text=_canonical(_strip_cache_markers(definition))
        )

    def add_message(self, head: Mapping[str, Any], parts: list[Any]) -> None:
        """Add a message: its parts, the first one carrying the framing."""
        framing = _canonical(dict(head))
        for index, part in enumerate(parts or [""]):
            if index == 0:
                self.add(part, head=framing, overhead=MESSAGE_OVERHEAD_TOKENS)
            else:
                self.add(part)


def _content_parts(content: Any) -> list[Any]:
    if content is None:
        return []
    if isinstance(content, list):
        return list(content)
    return [content]


def _without(mapping: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if key not in keys}


def _openai_chat_prompt(body: dict[str, Any], builder: _PromptBuilder) -> None:
    """Blocks of a Chat Completions prompt: tools, output schema, messages."""
    for tool in body.get("tools") or []:
        builder.add_definition(tool, head="tool")
    if body.get("response_format") is not None:
        builder.add_definition(body["response_format"], head="response_format")

    for message in body["messages"]:
        parts = _content_parts(message.get("content"))
        parts += list(message.get("tool_calls") or [])
        builder.add_message(_without(message, "content", "tool_calls"), parts)


def _openai_responses_prompt(body: dict[str, Any], builder: _PromptBuilder) -> None:
    """Blocks of a Responses prompt: tools, output schema, instructions, input."""
    for tool in body.get("tools") or []:
        builder.add_definition(tool, head="tool")
    text_format = (body.get("text") or {}).get("format")
    if text_format is not None:
        builder.add_definition(text_format, head="text_format")
    if body.get("instructions"):
        builder.add_message({"role": "system"}, [body["instructions"]])

    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    for item in items or []:
        if "content" in item:
            builder.add_message(
                _without(item, "content"), _content_parts(item["content"])
            )
        else:
            builder.add_message({"type": item.get("type")}, [item])


def _anthropic_prompt(body: dict[str, Any], builder: _PromptBuilder) -> None:
    """Blocks of a Messages prompt, in cache order: tools, system, messages."""
    for tool in body.get("tools") or []:
        builder.add_definition(tool, head="tool")
    system = body.get("system")
    for part in _content_parts(system):
        builder.add(part, head="system")

    # tool_choice and thinking settings invalidate the messages cache only, so
    # they frame the first message block.
    settings = {key: body[key] for key in ("tool_choice", "thinking") if key in body}
    builder.messages_start = len(builder.blocks)
    for index, message in enumerate(body["messages"]):
        head = {"role": message.get("role")}
        if index == 0 and settings:
            head["settings"] = settings
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        builder.add_message(head, _content_parts(content))


# ---------------------------------------------------------- request normalization


def _tool_call(call_id: Any, name: Any, args: Any) -> dict[str, Any]:
    return {"id": call_id, "name": name, "args": _loads_object(args)}


def _joined_text(parts: list[Any]) -> str:
    texts = [
        part if isinstance(part, str) else part.get("text", "")
        for part in parts
        if isinstance(part, str)
        or (isinstance(part, dict) and part.get("type") in (None, *_TEXT_PART_TYPES))
    ]
    return "\n".join(text for text in texts if isinstance(text, str))


def _normalize_openai_chat(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Messages and system text of a Chat Completions request."""
    messages: list[dict[str, Any]] = []
    system: list[str] = []
    for message in body["messages"]:
        role = message.get("role")
        text = _joined_text(_content_parts(message.get("content")))
        if role in _SYSTEM_ROLES:
            system.append(text)
        elif role == "tool":
            call_id = message.get("tool_call_id")
            messages.append({"role": "tool", "text": text, "tool_call_id": call_id})
        elif role == "assistant":
            messages.append(_openai_assistant_message(message, text))
        else:
            messages.append({"role": role, "text": text})
    return messages, "\n\n".join(system)


def _openai_assistant_message(message: dict[str, Any], text: str) -> dict[str, Any]:
    normalized: dict[str, Any] = {"role": "assistant", "text": text}
    calls = [
        _tool_call(call.get("id"), function.get("name"), function.get("arguments"))
        for call in message.get("tool_calls") or []
        if isinstance(function := call.get("function"), dict)
    ]
    if calls:
        normalized["tool_calls"] = calls
    return normalized


def _normalize_openai_responses(
    body: dict[str, Any],
) -> tuple[list[dict[str, Any]], str]:
    """Messages and system text of a Responses request."""
    messages: list[dict[str, Any]] = []
    system = [body["instructions"]] if body.get("instructions") else []
    items = body.get("input")
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]

    for item in items or []:
        kind = item.get("type", "message")
        if kind == "message" and item.get("role") in _SYSTEM_ROLES:
            system.append(_joined_text(_content_parts(item.get("content"))))
        elif kind == "message":
            text = _joined_text(_content_parts(item.get("content")))
            messages.append({"role": item.get("role"), "text": text})
        elif kind == "function_call":
            call = _tool_call(
                item.get("call_id"), item.get("name"), item.get("arguments")
            )
            _append_tool_call(messages, call)
        elif kind == "function_call_output":
            text = _content_text(item.get("output"))
            call_id = item.get("call_id")
            messages.append({"role": "tool", "text": text, "tool_call_id": call_id})
    return messages, "\n\n".join(system)


def _append_tool_call(messages: list[dict[str, Any]], call: dict[str, Any]) -> None:
    """Attach a tool call to the assistant turn it belongs to."""
    if not messages or messages[-1]["role"] != "assistant":
        messages.append({"role": "assistant", "text": ""})
    messages[-1].setdefault("tool_calls", []).append(call)


def _normalize_anthropic(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Messages and system text of a Messages request."""
    messages: list[dict[str, Any]] = []
    for message in body["messages"]:
        content = message.get("content")
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        if message.get("role") == "assistant":
            messages.append(_anthropic_assistant_message(content or []))
        else:
            messages.extend(_anthropic_user_messages(content or []))
    system = _joined_text(_content_parts(body.get("system")))
    return messages, system


def _anthropic_assistant_message(content: list[Any]) -> dict[str, Any]:
    normalized: dict[str, Any] = {"role": "assistant", "text": _joined_text(content)}
    calls = [
        _tool_call(block.get("id"), block.get("name"), block.get("input"))
        for block in content
        if isinstance(block, dict) and block.get("type") == "tool_use"
    ]
    if calls:
        normalized["tool_calls"] = calls
    return normalized


def _anthropic_user_messages(content: list[Any]) -> list[dict[str, Any]]:
    """Tool results first, as tool messages, then the user's text if any."""
    messages = [
        {
            "role": "tool",
            "text": _content_text(block.get("content")),
            "tool_call_id": block.get("tool_use_id"),
        }
        for block in content
        if isinstance(block, dict) and block.get("type") == "tool_result"
    ]
    has_text = any(
        isinstance(block, str) or block.get("type") != "tool_result"
        for block in content
    )
    if has_text:
        messages.append({"role": "user", "text": _joined_text(content)})
    return messages


def _openai_chat_tool_names(body: dict[str, Any]) -> tuple[str, ...]:
    names = []
    for tool in body.get("tools") or []:
        function = tool.get("function")
        name = function.get("name") if isinstance(function, dict) else None
        names.append(str(name or tool.get("name") or tool.get("type")))
    return tuple(names)


def _plain_tool_names(body: dict[str, Any]) -> tuple[str, ...]:
    tools = body.get("tools") or []
    return tuple(str(tool.get("name") or tool.get("type")) for tool in tools)


# -------------------------------------------------------------------- validation


def _require_object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _bad_request("The request body must be a JSON object.")
    return body


def _validate_openai_chat(body: dict[str, Any]) -> None:
    if not isinstance(body.get("model"), str):
        raise _bad_request("Missing required parameter: 'model'.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad_request("Missing required parameter: 'messages'.")
    if not all(isinstance(message, dict) for message in messages):
        raise _bad_request("Invalid type for 'messages': expected objects.")


def _validate_openai_responses(body: dict[str, Any]) -> None:
    if not isinstance(body.get("model"), str):
        raise _bad_request("Missing required parameter: 'model'.")
    items = body.get("input")
    if isinstance(items, str):
        return
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise _bad_request("Missing required parameter: 'input'.")


def _validate_anthropic(body: dict[str, Any], *, count_only: bool = False) -> None:
    if not isinstance(body.get("model"), str):
        raise _bad_request("model: Field required")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad_request("messages: Field required")
    if not all(isinstance(message, dict) for message in messages):
        raise _bad_request("messages: Input should be a valid list of objects")
    if not count_only and not isinstance(body.get("max_tokens"), int):
        raise _bad_request("max_tokens: Field required")


# ----------------------------------------------------------------- prompt caching


@dataclass(frozen=True)
class _CacheUsage:
    """Prompt-cache outcome of one request, in tokens."""

    read: int = 0
    write_5m: int = 0
    write_1h: int = 0


@dataclass
class _PrefixNode:
    """A node of the OpenAI prefix tree: one block after its parent's prefix."""

    block: _Block | None = None
    tokens_through: int = 0
    expires_at: float = 0.0
    children: dict[str, _PrefixNode] = field(default_factory=dict)


class _OpenAIPromptCache:
    """OpenAI's automatic prefix cache: 1024+ token prompts, 128-token steps.

    Prompts are stored as a tree of blocks per (model, ``prompt_cache_key``); a
    request shares whole blocks with the tree, then tokens inside the first block
    that differs. Every stored prompt stays alive for ten minutes after its last use.
    """

    _PRUNE_EVERY_REQUESTS = 64

    def __init__(self, counter: _TokenCounter) -> None:
        self._counter = counter
        self._roots: dict[tuple[str, str | None], _PrefixNode] = {}
        self._requests = 0

    def clear(self) -> None:
        self._roots.clear()

    def serve(
        self, scope: tuple[str, str | None], blocks: list[_Block], now: float
    ) -> int:
        """Cached tokens for a prompt, then remember the prompt.

        Args:
            scope: Model and ``prompt_cache_key``.
            blocks: The prompt.
            now: Current time by the server's clock.

        Returns:
            The cached token count as OpenAI reports it.
        """
        self._requests += 1
        if self._requests % self._PRUNE_EVERY_REQUESTS == 0:
            self._prune(now)
        root = self._roots.setdefault(scope, _PrefixNode(expires_at=float("inf")))
        shared = self._shared_tokens(root, blocks, now)

        prompt_tokens = sum(block.tokens for block in blocks)
        if prompt_tokens >= OPENAI_CACHE_MINIMUM_TOKENS:
            self._remember(root, blocks, now)
        return _openai_cached_tokens(shared)

    def _shared_tokens(
        self, root: _PrefixNode, blocks: list[_Block], now: float
    ) -> int:
        node = root
        for block in blocks:
            child = node.children.get(block.key)
            if child is None or child.expires_at <= now:
                return node.tokens_through + self._partial(node, block, now)
            node = child
        return node.tokens_through

    def _partial(self, node: _PrefixNode, block: _Block, now: float) -> int:
        """Longest token prefix ``block`` shares with a live child of ``node``."""
        expired = [
            key for key, child in node.children.items() if child.expires_at <= now
        ]
        for key in expired:
            del node.children[key]

        encoding = self._counter.encode
        best = 0
        for child in node.children.values():
            cached = child.block
            if cached is None or cached.head != block.head:
                continue
            common = _common_prefix_length(
                encoding(OPENAI_ENCODING, cached.text),
                encoding(OPENAI_ENCODING, block.text),
            )
            best = max(best, block.overhead + common)
        return best

    def _prune(self, now: float) -> None:
        """Drop expired prompts, so a long dry run does not grow without bound."""
        pending = list(self._roots.values())
        while pending:
            node = pending.pop()
            for key, child in list(node.children.items()):
                if child.expires_at <= now:
                    del node.children[key]
                else:
                    pending.append(child)

    def _remember(self, root: _PrefixNode, blocks: list[_Block], now: float) -> None:
        node = root
        expires_at = now + OPENAI_CACHE_TTL_SECONDS
        for block in blocks:
            child = node.children.get(block.key)
            if child is None:
                child = _PrefixNode(block, node.tokens_through + block.tokens)
                node.children[block.key] = child
            child.expires_at = expires_at
            node = child


def _common_prefix_length(first: list[int], second: list[int]) -> int:
    length = 0
    for left, right in zip(first, second, strict=False):
        if left != right:
            break
        length += 1
    return length


def _openai_cached_tokens(shared_tokens: int) -> int:
    """OpenAI reports hits from 1024 tokens on, in steps of 128."""
    if shared_tokens < OPENAI_CACHE_MINIMUM_TOKENS:
        return 0
    steps = (shared_tokens - OPENAI_CACHE_MINIMUM_TOKENS) // OPENAI_CACHE_STEP_TOKENS
    return OPENAI_CACHE_MINIMUM_TOKENS + OPENAI_CACHE_STEP_TOKENS * steps


@dataclass
class _CacheEntry:
    ttl_seconds: float
    expires_at: float


class _AnthropicPromptCache:
    """Anthropic's explicit cache: entries at ``cache_control`` breakpoints only."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], _CacheEntry] = {}

    def clear(self) -> None:
        self._entries.clear()

    def serve(
        self, model: str, blocks: list[_Block], breakpoints: list[int], now: float
    ) -> _CacheUsage:
        """Read the longest cached prefix, then write the breakpoints past it.

        Args:
            model: Model name; entries are per model.
            blocks: The prompt, with breakpoints set on its blocks.
            breakpoints: Indexes of the blocks that carry a breakpoint, in order.
            now: Current time by the server's clock.

        Returns:
            Tokens read, and written per TTL.
        """
        self._drop_expired(now)
        cumulative = list(itertools.accumulate(block.tokens for block in blocks))
        chain = _chain_keys(blocks)

        read_index = self._read_index(model, chain, breakpoints)
        read_tokens = cumulative[read_index] if read_index >= 0 else 0
        if read_index >= 0:
            entry = self._entries[(model, chain[read_index])]
            entry.expires_at = now + entry.ttl_seconds

        writes = {"5m": 0, "1h": 0}
        previous = read_tokens
        minimum = anthropic_minimum_cacheable_tokens(model)
        for index in breakpoints:
            if index <= read_index or cumulative[index] < minimum:
                continue
            ttl = _breakpoint_ttl(blocks[index])
            writes[ttl] += cumulative[index] - previous
            previous = cumulative[index]
            seconds = ANTHROPIC_TTL_SECONDS[ttl]
            self._entries[(model, chain[index])] = _CacheEntry(seconds, now + seconds)
        return _CacheUsage(read_tokens, writes["5m"], writes["1h"])

    def _read_index(self, model: str, chain: list[str], breakpoints: list[int]) -> int:
        """Last block of the longest cached prefix, or -1.

        Each breakpoint is looked up, then the block boundaries before it, up to
        `ANTHROPIC_LOOKBACK_BLOCKS` back.
        """
        best = -1
        for breakpoint_index in breakpoints:
            stop = max(-1, breakpoint_index - ANTHROPIC_LOOKBACK_BLOCKS - 1)
            for index in range(breakpoint_index, stop, -1):
                if (model, chain[index]) in self._entries:
                    best = max(best, index)
                    break
        return best

    def _drop_expired(self, now: float) -> None:
        expired = [
            key for key, entry in self._entries.items() if entry.expires_at <= now
        ]
        for key in expired:
            del self._entries[key]


def _chain_keys(blocks: list[_Block]) -> list[str]:
    """A key per block that identifies the whole prefix ending with it."""
    keys: list[str] = []
    previous = ""
    for block in blocks:
        previous = _digest(previous + block.key)
        keys.append(previous)
    return keys


def _breakpoint_ttl(block: _Block) -> str:
    return str((block.cache_control or {}).get("ttl", "5m"))


def anthropic_minimum_cacheable_tokens(model: str) -> int:
    """The shortest prefix Anthropic caches for a model.

    Args:
        model: Model name or id, e.g. ``"claude-sonnet-4-5-20250929"``.

    Returns:
        The minimum in tokens; 1024 for models not in the table.
    """
    name = model.lower().replace(".", "-")
    for fragment, minimum in _ANTHROPIC_MINIMUMS:
        if fragment in name:
            return minimum
    return ANTHROPIC_DEFAULT_MINIMUM_TOKENS


def _anthropic_breakpoints(
    body: dict[str, Any], blocks: list[_Block], messages_start: int
) -> tuple[list[_Block], list[int]]:
    """Apply a top-level ``cache_control`` and check the breakpoints.

    Args:
        body: The request.
        blocks: The prompt.
        messages_start: Index of the first message block.

    Returns:
        The blocks (the auto-marked one replaced) and the breakpoint indexes.

    Raises:
        _RequestError: On more than four breakpoints, an unknown TTL, or a 1-hour
            breakpoint after a 5-minute one.
    """
    top_level = body.get("cache_control")
    if isinstance(top_level, dict):
        blocks = _mark_last_cacheable(blocks, messages_start, top_level)

    breakpoints = [i for i, block in enumerate(blocks) if block.cache_control]
    if len(breakpoints) > ANTHROPIC_MAX_BREAKPOINTS:
        raise _bad_request(
            f"A maximum of {ANTHROPIC_MAX_BREAKPOINTS} blocks with cache_control "
            f"may be provided. Found {len(breakpoints)}."
        )
    _check_ttls([_breakpoint_ttl(blocks[index]) for index in breakpoints])
    return blocks, breakpoints


def _check_ttls(ttls: list[str]) -> None:
    for ttl in ttls:
        if ttl not in ANTHROPIC_TTL_SECONDS:
            raise _bad_request("cache_control.ttl: Input should be '5m' or '1h'")
    if "5m" in ttls and "1h" in ttls[ttls.index("5m") :]:
        raise _bad_request(
            "A cache_control entry with ttl='1h' must not come after one with "
            "ttl='5m' (order: tools, system, messages)."
        )


def _mark_last_cacheable(
    blocks: list[_Block], messages_start: int, cache_control: dict[str, Any]
) -> list[_Block]:
    """Put a breakpoint on the last message block that can carry one."""
    marked = list(blocks)
    for index in range(len(marked) - 1, messages_start - 1, -1):
        block = marked[index]
        if block.kind in _UNCACHEABLE_BLOCK_TYPES:
            continue
        if block.cache_control is None:
            marked[index] = replace(block, cache_control=dict(cache_control))
        break
    return marked


# ------------------------------------------------------------------ usage objects


@dataclass(frozen=True)
class _Counts:
    """Billed tokens of one call."""

    prompt: int
    cache: _CacheUsage
    output: int
    reasoning: int

    @property
    def uncached(self) -> int:
        return self.prompt - self.cache.read - self.cache.write_5m - self.cache.write_1h


def _openai_chat_usage(counts: _Counts) -> dict[str, Any]:
    return {
        "prompt_tokens": counts.prompt,
        "completion_tokens": counts.output,
        "total_tokens": counts.prompt + counts.output,
        "prompt_tokens_details": {
            "cached_tokens": counts.cache.read,
            "audio_tokens": 0,
        },
        "completion_tokens_details": {
            "reasoning_tokens": counts.reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _openai_responses_usage(counts: _Counts) -> dict[str, Any]:
    return {
        "input_tokens": counts.prompt,
        "input_tokens_details": {
            "cached_tokens": counts.cache.read,
            "cache_write_tokens": 0,
        },
        "output_tokens": counts.output,
        "output_tokens_details": {"reasoning_tokens": counts.reasoning},
        "total_tokens": counts.prompt + counts.output,
    }


def _anthropic_usage(counts: _Counts) -> dict[str, Any]:
    cache = counts.cache
    usage: dict[str, Any] = {
        "input_tokens": counts.uncached,
        "cache_creation_input_tokens": cache.write_5m + cache.write_1h,
        "cache_read_input_tokens": cache.read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": cache.write_5m,
            "ephemeral_1h_input_tokens": cache.write_1h,
        },
        "output_tokens": counts.output,
    }
    if counts.reasoning:
        usage["output_tokens_details"] = {"thinking_tokens": counts.reasoning}
    return usage


# -------------------------------------------------------------------- exchanges


_RESPONSE_ID_PREFIXES = {
    "openai-chat": "chatcmpl-",
    "openai-responses": "resp_",
    "anthropic": "msg_",
}


class _Numbering:
    """Deterministic ids: one counter per prefix, from 1, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, itertools.count[int]] = {}

    def next(self, prefix: str) -> str:
        with self._lock:
            counter = self._counters.setdefault(prefix, itertools.count(1))
            return f"{prefix}{next(counter)}"


@dataclass(frozen=True)
class _Exchange:
    """Everything needed to render one response."""

    request: ProviderRequest
    reply: Reply
    call: ServedCall
    response_id: str
    tool_call_ids: tuple[str, ...]
    message_item_id: str
    call_item_ids: tuple[str, ...]
    created: int

    @property
    def body(self) -> dict[str, Any]:
        return self.request.body

    @property
    def arguments(self) -> list[str]:
        return [json.dumps(call.args) for call in self.reply.tool_calls]

    @property
    def service_tier(self) -> str | None:
        tier = self.body.get("service_tier")
        if tier is None:
            return None
        return "default" if tier == "auto" else str(tier)


def _sse(data: Any, event: str | None = None) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    prefix = f"event: {event}\n" if event else ""
    return f"{prefix}data: {payload}\n\n".encode()


# ----------------------------------------------------- OpenAI Chat Completions


def _chat_wants_usage(body: dict[str, Any]) -> bool:
    if not body.get("stream"):
        return True
    options = body.get("stream_options") or {}
    return bool(options.get("include_usage"))


def _chat_tool_calls(exchange: _Exchange) -> list[dict[str, Any]]:
    calls = zip(exchange.reply.tool_calls, exchange.tool_call_ids, strict=True)
    return [
        {
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": arguments},
        }
        for (call, call_id), arguments in zip(calls, exchange.arguments, strict=True)
    ]


def _chat_finish_reason(exchange: _Exchange) -> str:
    return "tool_calls" if exchange.reply.tool_calls else "stop"


def _chat_envelope(exchange: _Exchange, kind: str) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "id": exchange.response_id,
        "object": kind,
        "created": exchange.created,
        "model": exchange.request.model,
        "system_fingerprint": _SYSTEM_FINGERPRINT,
    }
    if exchange.service_tier is not None:
        envelope["service_tier"] = exchange.service_tier
    return envelope


def _chat_json(exchange: _Exchange) -> dict[str, Any]:
    reply = exchange.reply
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.text if reply.text or not reply.tool_calls else None,
        "refusal": None,
        "annotations": [],
    }
    if reply.tool_calls:
        message["tool_calls"] = _chat_tool_calls(exchange)

    response = _chat_envelope(exchange, "chat.completion")
    response["choices"] = [
        {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": _chat_finish_reason(exchange),
        }
    ]
    if exchange.call.usage is not None:
        response["usage"] = exchange.call.usage
    return response


def _chat_events(exchange: _Exchange) -> Iterator[bytes]:
    with_usage_field = (
        _chat_wants_usage(exchange.body) and not exchange.reply.omit_usage
    )

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        data = _chat_envelope(exchange, "chat.completion.chunk")
        choice = {"index": 0, "delta": delta, "logprobs": None}
        data["choices"] = [{**choice, "finish_reason": finish_reason}]
        if with_usage_field:
            data["usage"] = None
        return _sse(data)

    yield chunk({"role": "assistant", "content": "", "refusal": None})
    for piece in _text_pieces(exchange.reply.text):
        yield chunk({"content": piece})
    for index, call in enumerate(_chat_tool_calls(exchange)):
        yield from _chat_tool_call_chunks(chunk, index, call)
    yield chunk({}, _chat_finish_reason(exchange))

    if exchange.call.usage is not None:
        final = _chat_envelope(exchange, "chat.completion.chunk")
        final["choices"] = []
        final["usage"] = exchange.call.usage
        yield _sse(final)
    yield _sse("[DONE]")


def _chat_tool_call_chunks(
    chunk: Callable[[dict[str, Any]], bytes], index: int, call: dict[str, Any]
) -> Iterator[bytes]:
    """The opening delta of a tool call, then its argument fragments."""
    function = call["function"]
    opening = {**call, "index": index, "function": {**function, "arguments": ""}}
    yield chunk({"tool_calls": [opening]})
    for piece in _json_pieces(function["arguments"]):
        fragment = {"index": index, "function": {"arguments": piece}}
        yield chunk({"tool_calls": [fragment]})


# -------------------------------------------------------------- OpenAI Responses


def _responses_items(exchange: _Exchange) -> list[dict[str, Any]]:
    """Completed output items: a message if there is text, then function calls."""
    reply = exchange.reply
    items: list[dict[str, Any]] = []
    if reply.text or not reply.tool_calls:
        message_id = exchange.message_item_id
        items.append(_responses_message(message_id, reply.text, "completed"))

    calls = zip(
        reply.tool_calls,
        exchange.tool_call_ids,
        exchange.call_item_ids,
        exchange.arguments,
        strict=True,
    )
    for call, call_id, item_id, arguments in calls:
        items.append(
            {
                "id": item_id,
                "type": "function_call",
                "status": "completed",
                "arguments": arguments,
                "call_id": call_id,
                "name": call.name,
            }
        )
    return items


def _responses_message(item_id: str, text: str, status: str) -> dict[str, Any]:
    content = [_output_text(text)] if status == "completed" else []
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _responses_json(exchange: _Exchange, *, completed: bool = True) -> dict[str, Any]:
    body = exchange.body
    response: dict[str, Any] = {
        "id": exchange.response_id,
        "object": "response",
        "created_at": exchange.created,
        "status": "completed" if completed else "in_progress",
        "error": None,
        "incomplete_details": None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": exchange.request.model,
        "output": _responses_items(exchange) if completed else [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        # Echoed like the API does; ChatOpenAI parses structured output from it.
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "usage": exchange.call.usage if completed else None,
    }
    if body.get("prompt_cache_key") is not None:
        response["prompt_cache_key"] = body["prompt_cache_key"]
    if exchange.service_tier is not None:
        response["service_tier"] = exchange.service_tier
    if completed and exchange.call.usage is None:
        del response["usage"]
    return response


def _responses_events(exchange: _Exchange) -> Iterator[bytes]:
    sequence = itertools.count()

    def event(kind: str, **fields: Any) -> bytes:
        data = {"type": kind, "sequence_number": next(sequence), **fields}
        return _sse(data, kind)

    started = _responses_json(exchange, completed=False)
    yield event("response.created", response=started)
    yield event("response.in_progress", response=started)
    for index, item in enumerate(_responses_items(exchange)):
        if item["type"] == "message":
            yield from _responses_message_events(event, index, item)
        else:
            yield from _responses_call_events(event, index, item)
    yield event("response.completed", response=_responses_json(exchange))


def _responses_message_events(
    event: Callable[..., bytes], index: int, item: dict[str, Any]
) -> Iterator[bytes]:
    item_id = item["id"]
    text = item["content"][0]["text"]
    position = {"item_id": item_id, "output_index": index, "content_index": 0}
    opening = _responses_message(item_id, "", "in_progress")

    yield event("response.output_item.added", output_index=index, item=opening)
    yield event("response.content_part.added", **position, part=_output_text(""))
    for piece in _text_pieces(text):
        yield event("response.output_text.delta", **position, delta=piece, logprobs=[])
    yield event("response.output_text.done", **position, text=text, logprobs=[])
    yield event("response.content_part.done", **position, part=_output_text(text))
    yield event("response.output_item.done", output_index=index, item=item)


def _responses_call_events(
    event: Callable[..., bytes], index: int, item: dict[str, Any]
) -> Iterator[bytes]:
    position = {"item_id": item["id"], "output_index": index}
    opening = {**item, "status": "in_progress", "arguments": ""}

    yield event("response.output_item.added", output_index=index, item=opening)
    for piece in _json_pieces(item["arguments"]):
        yield event("response.function_call_arguments.delta", **position, delta=piece)
    yield event(
        "response.function_call_arguments.done",
        **position,
        name=item["name"],
        arguments=item["arguments"],
    )
    yield event("response.output_item.done", output_index=index, item=item)


# ----------------------------------------------------------- Anthropic Messages


def _anthropic_content(exchange: _Exchange) -> list[dict[str, Any]]:
    reply = exchange.reply
    content: list[dict[str, Any]] = []
    if reply.text or not reply.tool_calls:
        content.append({"type": "text", "text": reply.text})
    calls = zip(reply.tool_calls, exchange.tool_call_ids, strict=True)
    for call, call_id in calls:
        content.append(
            {"type": "tool_use", "id": call_id, "name": call.name, "input": call.args}
        )
    return content


def _anthropic_stop_reason(exchange: _Exchange) -> str:
    return "tool_use" if exchange.reply.tool_calls else "end_turn"


def _anthropic_json(exchange: _Exchange) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": exchange.response_id,
        "type": "message",
        "role": "assistant",
        "model": exchange.request.model,
        "content": _anthropic_content(exchange),
        "stop_reason": _anthropic_stop_reason(exchange),
        "stop_sequence": None,
    }
    if exchange.call.usage is not None:
        message["usage"] = exchange.call.usage
    return message


def _anthropic_events(exchange: _Exchange) -> Iterator[bytes]:
    def event(kind: str, **fields: Any) -> bytes:
        return _sse({"type": kind, **fields}, kind)

    usage = exchange.call.usage
    skeleton = {**_anthropic_json(exchange), "content": [], "stop_reason": None}
    if usage is not None:
        # As the API does: the prompt counts up front, one output token so far.
        skeleton["usage"] = {**usage, "output_tokens": min(1, usage["output_tokens"])}
        skeleton["usage"].pop("output_tokens_details", None)
    yield event("message_start", message=skeleton)
    yield event("ping")

    for index, block in enumerate(_anthropic_content(exchange)):
        yield from _anthropic_block_events(event, index, block)

    delta = {"stop_reason": _anthropic_stop_reason(exchange), "stop_sequence": None}
    final: dict[str, Any] = {"delta": delta}
    if usage is not None:
        final["usage"] = usage
    yield event("message_delta", **final)
    yield event("message_stop")


def _anthropic_block_events(
    event: Callable[..., bytes], index: int, block: dict[str, Any]
) -> Iterator[bytes]:
    if block["type"] == "text":
        yield event(
            "content_block_start",
            index=index,
            content_block={"type": "text", "text": ""},
        )
        for piece in _text_pieces(block["text"]):
            delta = {"type": "text_delta", "text": piece}
            yield event("content_block_delta", index=index, delta=delta)
    else:
        opening = {**block, "input": {}}
        yield event("content_block_start", index=index, content_block=opening)
        for piece in ["", *_json_pieces(json.dumps(block["input"]))]:
            delta = {"type": "input_json_delta", "partial_json": piece}
            yield event("content_block_delta", index=index, delta=delta)
    yield event("content_block_stop", index=index)


# ------------------------------------------------------------------------ routes


@dataclass(frozen=True)
class _Route:
    """How one endpoint parses, counts and renders."""

    api: ApiName
    family: Literal["openai", "anthropic"]
    encoding: str
    validate: Callable[[dict[str, Any]], None]
    normalize: Callable[[dict[str, Any]], tuple[list[dict[str, Any]], str]]
    tool_names: Callable[[dict[str, Any]], tuple[str, ...]]
    prompt: Callable[[dict[str, Any], _PromptBuilder], None]
    usage: Callable[[_Counts], dict[str, Any]]
    render_json: Callable[[_Exchange], dict[str, Any]]
    render_events: Callable[[_Exchange], Iterator[bytes]]


_ROUTES: dict[str, _Route] = {
    "/v1/chat/completions": _Route(
        "openai-chat",
        "openai",
        OPENAI_ENCODING,
        _validate_openai_chat,
        _normalize_openai_chat,
        _openai_chat_tool_names,
        _openai_chat_prompt,
        _openai_chat_usage,
        _chat_json,
        _chat_events,
    ),
    "/v1/responses": _Route(
        "openai-responses",
        "openai",
        OPENAI_ENCODING,
        _validate_openai_responses,
        _normalize_openai_responses,
        _plain_tool_names,
        _openai_responses_prompt,
        _openai_responses_usage,
        _responses_json,
        _responses_events,
    ),
    "/v1/messages": _Route(
        "anthropic",
        "anthropic",
        ANTHROPIC_ENCODING,
        _validate_anthropic,
        _normalize_anthropic,
        _plain_tool_names,
        _anthropic_prompt,
        _anthropic_usage,
        _anthropic_json,
        _anthropic_events,
    ),
}

_COUNT_TOKENS_PATH = "/v1/messages/count_tokens"


def _error_body(family: str, error: _RequestError) -> dict[str, Any]:
    """The error JSON each provider sends."""
    if family == "anthropic":
        return {
            "type": "error",
            "error": {"type": error.error_type, "message": error.message},
        }
    return {
        "error": {
            "message": error.message,
            "type": error.error_type,
            "param": None,
            "code": None,
        }
    }


# ------------------------------------------------------------------------ server


class _HTTPServer(ThreadingHTTPServer):
    """A threading server that can close its open connections on shutdown."""

    daemon_threads = True

    def __init__(self, provider: LocalProviderServer) -> None:
        self.provider = provider
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log instead of printing a traceback (a client that went away)."""
        logger.debug("connection from %s failed", client_address, exc_info=True)

    def close_connections(self) -> None:
        """End keep-alive connections so their handler threads finish."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Hands every request to the `LocalProviderServer` that owns the socket."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_POST(self) -> None:
        self.server.provider._handle_post(self)

    def do_GET(self) -> None:
        self.server.provider._handle_unknown(self)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class LocalProviderServer:
    """An in-process server that answers like the OpenAI and Anthropic APIs.

    Point ``ChatOpenAI(base_url=server.openai_base_url)`` or
    ``ChatAnthropic(base_url=server.anthropic_base_url)`` at it (any API key,
    ``max_retries=0``). Every answered model call is appended to `calls` with the
    tokens it billed, prompt-cache reads and writes included.

    Args:
        responder: Decides each reply from the normalized request; defaults to
            `default_responder`. An exception in it becomes an HTTP 500.
        clock: Seconds, monotonic; prompt-cache entries expire by it. Inject a
            fake clock to test expiry without waiting.
    """

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._responder = responder or default_responder
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: list[ServedCall] = []
        self._numbering = _Numbering()
        self._counter = _TokenCounter()
        self._openai_cache = _OpenAIPromptCache(self._counter)
        self._anthropic_cache = _AnthropicPromptCache()
        self._http: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> LocalProviderServer:
        """Bind 127.0.0.1 on a free port and serve in a daemon thread.

        Returns:
            The server itself.

        Raises:
            RuntimeError: If it is already running.
        """
        if self._http is not None:
            raise RuntimeError("LocalProviderServer is already running")
        self._http = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"local-provider-{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.debug("local provider listening on %s", self.anthropic_base_url)
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; a no-op if not running."""
        http, thread = self._http, self._thread
        if http is None or thread is None:
            return
        http.shutdown()
        http.close_connections()
        http.server_close()
        thread.join()
        self._http = self._thread = None

    def __enter__(self) -> LocalProviderServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --------------------------------------------------------------- properties

    @property
    def port(self) -> int:
        """The TCP port the server listens on.

        Raises:
            RuntimeError: If it is not running.
        """
        if self._http is None:
            raise RuntimeError("LocalProviderServer is not running; call start()")
        return int(self._http.server_address[1])

    @property
    def openai_base_url(self) -> str:
        """Base URL for ``ChatOpenAI(base_url=...)``, ending in ``/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for ``ChatAnthropic(base_url=...)``, without ``/v1``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def calls(self) -> list[ServedCall]:
        """A copy of the calls answered so far, in the order they were served."""
        with self._lock:
            return list(self._calls)

    def reset_cache(self) -> None:
        """Forget every prompt-cache entry of both providers."""
        with self._lock:
            self._openai_cache.clear()
            self._anthropic_cache.clear()

    # ----------------------------------------------------------------- handling

    def _handle_post(self, handler: _Handler) -> None:
        path = handler.path.split("?", 1)[0].rstrip("/")
        route = _ROUTES.get(path)
        if path == _COUNT_TOKENS_PATH:
            self._guarded(handler, "anthropic", self._count_tokens)
        elif route is None:
            self._handle_unknown(handler)
        else:
            self._guarded(handler, route.family, lambda h: self._serve(h, route))

    def _handle_unknown(self, handler: _Handler) -> None:
        """Answer 404 in the shape of the provider the client looks like."""
        self._discard_body(handler)
        family = "anthropic" if "anthropic-version" in handler.headers else "openai"
        if family == "anthropic":
            error = _RequestError(404, "not_found_error", "Not found")
        else:
            message = f"Invalid URL ({handler.command} {handler.path})"
            error = _RequestError(404, "invalid_request_error", message)
        self._send_error(handler, family, error)

    def _guarded(
        self, handler: _Handler, family: str, serve: Callable[[_Handler], None]
    ) -> None:
        """Run ``serve``, turning refusals and failures into provider errors."""
        try:
            serve(handler)
        except _RequestError as error:
            self._send_error(handler, family, error)
        except (BrokenPipeError, ConnectionResetError):
            logger.debug("client closed the connection during the response")
            handler.close_connection = True
        except Exception:
            logger.exception("local provider failed to answer %s", handler.path)
            kind = "api_error" if family == "anthropic" else "server_error"
            failure = _RequestError(500, kind, "The local provider failed.")
            self._send_error(handler, family, failure)

    def _serve(self, handler: _Handler, route: _Route) -> None:
        body = _require_object(self._read_json(handler))
        route.validate(body)
        request = self._provider_request(handler, route, body)
        blocks, breakpoints = self._prompt(route, body)

        reply = self._responder(request)
        exchange = self._account(route, request, blocks, breakpoints, reply)
        if request.stream:
            self._send_events(handler, route.render_events(exchange))
        else:
            self._send_json(handler, 200, route.render_json(exchange))

    def _count_tokens(self, handler: _Handler) -> None:
        """Anthropic's token counting endpoint: the prompt size, nothing billed."""
        body = _require_object(self._read_json(handler))
        _validate_anthropic(body, count_only=True)
        blocks, _ = self._prompt(_ROUTES["/v1/messages"], body)
        total = sum(block.tokens for block in blocks)
        self._send_json(handler, 200, {"input_tokens": total})

    def _provider_request(
        self, handler: _Handler, route: _Route, body: dict[str, Any]
    ) -> ProviderRequest:
        messages, system = route.normalize(body)
        return ProviderRequest(
            api=route.api,
            model=body["model"],
            stream=bool(body.get("stream")),
            messages=messages,
            tool_names=route.tool_names(body),
            system=system,
            body=body,
            headers={name.lower(): value for name, value in handler.headers.items()},
        )

    def _prompt(
        self, route: _Route, body: dict[str, Any]
    ) -> tuple[list[_Block], list[int]]:
        """The prompt's blocks and, for Anthropic, its checked breakpoints."""
        builder = _PromptBuilder(self._counter, route.encoding)
        route.prompt(body, builder)
        if route.family != "anthropic":
            return builder.blocks, []

        return _anthropic_breakpoints(body, builder.blocks, builder.messages_start)

    def _account(
        self,
        route: _Route,
        request: ProviderRequest,
        blocks: list[_Block],
        breakpoints: list[int],
        reply: Reply,
    ) -> _Exchange:
        """Apply the prompt cache, bill the call and number its ids, in order."""
        output = self._output_tokens(route.encoding, reply)
        with self._lock:
            cache = self._cache_usage(route, request, blocks, breakpoints)
            prompt = sum(block.tokens for block in blocks)
            counts = _Counts(prompt, cache, output, reply.reasoning_tokens)
            call = self._served_call(route, request, reply, counts)
            exchange = self._exchange(route, request, reply, call)
            self._calls.append(call)

        logger.debug(
            "served %s %s: input=%d cache_read=%d cache_write=%d+%d output=%d",
            route.api,
            request.model,
            prompt,
            cache.read,
            cache.write_5m,
            cache.write_1h,
            output,
        )
        return exchange

    def _cache_usage(
        self,
        route: _Route,
        request: ProviderRequest,
        blocks: list[_Block],
        breakpoints: list[int],
    ) -> _CacheUsage:
        now = self._clock()
        if route.family == "anthropic":
            return self._anthropic_cache.serve(request.model, blocks, breakpoints, now)
        scope = (request.model, request.body.get("prompt_cache_key"))
        return _CacheUsage(read=self._openai_cache.serve(scope, blocks, now))

    def _output_tokens(self, encoding: str, reply: Reply) -> int:
        texts = [reply.text, *(json.dumps(call.args) for call in reply.tool_calls)]
        counted = sum(self._counter.count(encoding, text) for text in texts if text)
        return counted + reply.reasoning_tokens

    @staticmethod
    def _served_call(
        route: _Route, request: ProviderRequest, reply: Reply, counts: _Counts
    ) -> ServedCall:
        on_wire = not reply.omit_usage
        if route.api == "openai-chat":
            on_wire = on_wire and _chat_wants_usage(request.body)
        return ServedCall(
            api=route.api,
            model=request.model,
            stream=request.stream,
            input_tokens=counts.prompt,
            cache_read_tokens=counts.cache.read,
            cache_write_5m_tokens=counts.cache.write_5m,
            cache_write_1h_tokens=counts.cache.write_1h,
            output_tokens=counts.output,
            reasoning_tokens=counts.reasoning,
            usage=route.usage(counts) if on_wire else None,
        )

    def _exchange(
        self, route: _Route, request: ProviderRequest, reply: Reply, call: ServedCall
    ) -> _Exchange:
        """Number the response, its tool calls and its output items."""
        numbering = self._numbering
        call_prefix = "toolu_" if route.family == "anthropic" else "call_"
        tool_call_ids = tuple(
            tool_call.id or numbering.next(call_prefix)
            for tool_call in reply.tool_calls
        )
        return _Exchange(
            request=request,
            reply=reply,
            call=call,
            response_id=numbering.next(_RESPONSE_ID_PREFIXES[route.api]),
            tool_call_ids=tool_call_ids,
            message_item_id=numbering.next("msg_"),
            call_item_ids=tuple(numbering.next("fc_") for _ in reply.tool_calls),
            created=int(time.time()),
        )

    # ------------------------------------------------------------------ wire I/O

    @staticmethod
    def _read_json(handler: _Handler) -> Any:
        length = int(handler.headers.get("content-length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            return json.loads(raw)
        except ValueError as error:
            raise _bad_request(
                f"We could not parse the JSON body of your request: {error}"
            ) from error

    @staticmethod
    def _discard_body(handler: _Handler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        if length:
            handler.rfile.read(length)

    def _send_json(self, handler: _Handler, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(len(data)))
        self._send_request_id(handler)
        handler.end_headers()
        handler.wfile.write(data)

    def _send_events(self, handler: _Handler, events: Iterator[bytes]) -> None:
        handler.send_response(200)
        handler.send_header("content-type", "text/event-stream; charset=utf-8")
        handler.send_header("cache-control", "no-cache")
        handler.send_header("transfer-encoding", "chunked")
        self._send_request_id(handler)
        handler.end_headers()
        for data in events:
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        handler.wfile.write(b"0\r\n\r\n")

    def _send_error(self, handler: _Handler, family: str, error: _RequestError) -> None:
        logger.debug("refused %s: %s %s", handler.path, error.status, error.message)
        self._send_json(handler, error.status, _error_body(family, error))

    def _send_request_id(self, handler: _Handler) -> None:
        request_id = self._numbering.next("req_")
        handler.send_header("x-request-id", request_id)
        handler.send_header("request-id", request_id)
