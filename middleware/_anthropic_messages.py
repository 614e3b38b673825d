"""Cache layout of an Anthropic request in LangChain form (tools and messages).

The adapters cannot reach the wire payload, which `ChatAnthropic` builds
inside the call, so they place the same markers where `ChatAnthropic` carries
them to the wire: `cache_control` on a tool dict or a `BaseTool`'s `extras`,
and on a content block of a system, human or tool message (`ChatAnthropic`
hoists a tool message's marker onto its `tool_result`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from ._anthropic_payload import min_tokens_for
from ._cache_policy import (
    BreakpointPlan,
    CacheBreakpoint,
    CacheTTL,
    Slot,
    Turn,
    cache_control,
    plan_breakpoints,
)
from ._counting import count_block_tokens, count_message_tokens, count_text_tokens
from ._tools import canonical_json

__all__ = ["MessagesCacheLayout", "layout_anthropic_messages"]

_UNCACHEABLE_BLOCKS = frozenset({"thinking", "redacted_thinking", "reasoning"})
_ANTHROPIC_TOOL_ID = re.compile(r"^[a-zA-Z0-9_-]+$")

MessageT = TypeVar("MessageT", bound=BaseMessage)


@dataclass(frozen=True)
class MessagesCacheLayout:
    """An Anthropic request in LangChain form with its breakpoints placed."""

    system: list[SystemMessage]
    messages: list[BaseMessage]
    tools: list[Any]
    plan: BreakpointPlan

    @property
    def breakpoints(self) -> tuple[CacheBreakpoint, ...]:
        """Every marker of the request, in prefix order."""
        return self.plan.breakpoints


def layout_anthropic_messages(
    system: Sequence[SystemMessage],
    messages: Sequence[BaseMessage],
    tools: Sequence[Any],
    *,
    model: str | None,
    ttl: CacheTTL = "5m",
    min_cacheable_tokens: int | None = None,
    auto_marker: Any = None,
) -> MessagesCacheLayout:
    """Place breakpoints as `layout_anthropic_request` does, on LangChain objects.

    Args:
        system: The leading system message(s).
        messages: The other messages.
        tools: Tools as given to `bind_tools` (`BaseTool` or dicts), in order.
        model: The model id, for its minimum cacheable prefix.
        ttl: TTL of the markers placed.
        min_cacheable_tokens: Overrides the minimum from the model table.
        auto_marker: The call's top-level `cache_control` setting, if any.

    Returns:
        New lists; the given messages and tools are not modified.
    """
    shaped = [_with_block_content(message) for message in messages]
    request = _Request(list(system), shaped, list(tools))
    plan = plan_breakpoints(
        _slots(request),
        ttl=ttl,
        min_tokens=min_tokens_for(model, min_cacheable_tokens),
        auto_marker=auto_marker,
    )

    for marker in plan.dropped:
        request.set_marker(marker, None)
    for marker in plan.added:
        request.set_marker(marker, cache_control(ttl))
    return MessagesCacheLayout(request.system, request.messages, request.tools, plan)


@dataclass
class _Request:
    system: list[SystemMessage]
    messages: list[BaseMessage]
    tools: list[Any]

    def set_marker(self, marker: CacheBreakpoint, value: dict[str, str] | None) -> None:
        if marker.role == "auto":
            return
        if marker.section == "tools":
            self.tools[marker.index] = _marked_tool(self.tools[marker.index], value)
        elif marker.section == "system":
            system = self.system[marker.index]
            self.system[marker.index] = _marked_message(system, marker.block, value)
        else:
            message = self.messages[marker.index]
            self.messages[marker.index] = _marked_message(message, marker.block, value)


def _slots(request: _Request) -> list[Slot]:
    slots: list[Slot] = []
    total = 0
    for index, tool in enumerate(request.tools):
        total += count_text_tokens(canonical_json(_tool_schema(tool)))
        slots.append(Slot("tools", index, 0, total, True, _tool_marker(tool), "other"))

    for index, system in enumerate(request.system):
        for block_index, block in enumerate(_blocks(system.content)):
            total += count_block_tokens(block)
            slots.append(_block_slot("system", index, block_index, total, block))

    for index, message in enumerate(request.messages):
        total += count_message_tokens(message)
        slots.extend(_message_slots(index, message, total))
    return slots


def _block_slot(
    section: Any, index: int, block_index: int, total: int, block: Any
) -> Slot:
    marker = block.get("cache_control") if isinstance(block, dict) else None
    return Slot(section, index, block_index, total, _cacheable(block), marker, "other")


def _message_slots(index: int, message: BaseMessage, total: int) -> list[Slot]:
    blocks = _blocks(message.content) or [""]
    if isinstance(message, ToolMessage):
        markers = [b["cache_control"] for b in blocks if _has_marker(b)]
        cacheable = bool(message.text)
        marker = markers[-1] if markers else None
        return [
            Slot("messages", index, len(blocks) - 1, total, cacheable, marker, "user")
        ]

    markable = isinstance(message, HumanMessage)
    return [
        Slot(
            "messages",
            index,
            block_index,
            total,
            markable and _cacheable(block),
            block.get("cache_control") if isinstance(block, dict) else None,
            _turn(message),
        )
        for block_index, block in enumerate(blocks)
    ]


def _turn(message: BaseMessage) -> Turn:
    if isinstance(message, AIMessage):
        return "assistant"
    if isinstance(message, SystemMessage):
        return "other"
    return "user"


def _blocks(content: Any) -> list[Any]:
    if isinstance(content, str):
        return [content] if content else []
    return list(content)


def _has_marker(block: Any) -> bool:
    return isinstance(block, dict) and "cache_control" in block


def _cacheable(block: Any) -> bool:
    if isinstance(block, str):
        return bool(block)
    if not isinstance(block, dict) or block.get("type") in _UNCACHEABLE_BLOCKS:
        return False
    return not (block.get("type") == "text" and not block.get("text"))


def _tool_schema(tool: Any) -> Any:
    if isinstance(tool, dict) and "input_schema" in tool:
        return {key: value for key, value in tool.items() if key != "cache_control"}
    try:
        return convert_to_openai_tool(tool)
    except Exception:  # built-in provider tools have no OpenAI form
        return tool if isinstance(tool, dict) else repr(tool)


def _tool_marker(tool: Any) -> Any:
    if isinstance(tool, BaseTool):
        return (tool.extras or {}).get("cache_control")
    if isinstance(tool, dict):
        return tool.get("cache_control")
    return None


def _marked_tool(tool: Any, value: dict[str, str] | None) -> Any:
    if isinstance(tool, BaseTool):
        extras = {k: v for k, v in (tool.extras or {}).items() if k != "cache_control"}
        if value is not None:
            extras["cache_control"] = value
        return tool.model_copy(update={"extras": extras})
    definition = _anthropic_tool(tool)
    definition.pop("cache_control", None)
    return definition if value is None else {**definition, "cache_control": value}


def _anthropic_tool(tool: Any) -> dict[str, Any]:
    if isinstance(tool, dict) and "name" in tool and "input_schema" in tool:
        return {"description": "", **tool}
    from langchain_anthropic.chat_models import convert_to_anthropic_tool

    return dict(convert_to_anthropic_tool(tool))


def _marked_message(
    message: MessageT, block_index: int, value: dict[str, str] | None
) -> MessageT:
    if isinstance(message, ToolMessage):
        return cast("MessageT", _marked_tool_message(message, value))
    blocks = [_as_block(block) for block in _blocks(message.content)]
    block = _without_marker(blocks[block_index])
    blocks[block_index] = block if value is None else {**block, "cache_control": value}
    return message.model_copy(update={"content": blocks})


def _marked_tool_message(
    message: ToolMessage, value: dict[str, str] | None
) -> ToolMessage:
    """Mark a tool result without changing how its content is sent.

    A text result marked through a text block would go out as a list where
    the unmarked result goes out as a string, changing the cached bytes once
    the marker moves on; a ready `tool_result` block keeps the string.
    `ChatAnthropic` sends a tool message made of `tool_result` blocks as is.
    """
    content = message.content
    plain_text = isinstance(content, str) and value is not None
    if plain_text and _ANTHROPIC_TOOL_ID.match(message.tool_call_id):
        result = {
            "type": "tool_result",
            "content": content,
            "tool_use_id": message.tool_call_id,
            "is_error": message.status == "error",
            "cache_control": value,
        }
        return message.model_copy(update={"content": [result]})

    blocks = [_without_marker(_as_block(block)) for block in _blocks(content)]
    if value is not None:
        blocks[-1] = {**blocks[-1], "cache_control": value}
    return message.model_copy(update={"content": blocks})


def _with_block_content(message: BaseMessage) -> BaseMessage:
    """A human message's text as one text block, marked or not.

    So it is sent the same way whether or not a breakpoint is on it this turn.
    """
    text = message.content
    if isinstance(message, HumanMessage) and isinstance(text, str) and text:
        return message.model_copy(update={"content": [_as_block(text)]})
    return message


def _as_block(block: Any) -> Any:
    return {"type": "text", "text": block} if isinstance(block, str) else block


def _without_marker(block: Any) -> Any:
    if not isinstance(block, dict):
        return block
    return {key: value for key, value in block.items() if key != "cache_control"}
