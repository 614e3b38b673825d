"""Cache layout of an Anthropic Messages request, in its wire (payload) form."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._cache_policy import (
    DEFAULT_MIN_CACHEABLE_TOKENS,
    BreakpointPlan,
    CacheBreakpoint,
    CacheTTL,
    Slot,
    Turn,
    anthropic_min_cacheable_tokens,
    cache_control,
    plan_breakpoints,
)
from ._counting import count_block_tokens, count_text_tokens
from ._errors import CacheLayoutWarning
from ._tools import canonical_json, sort_keys_deep, stable_tool_order

__all__ = ["AnthropicCacheLayout", "layout_anthropic_request", "min_tokens_for"]

logger = logging.getLogger(__name__)

_UNCACHEABLE_BLOCKS = frozenset({"thinking", "redacted_thinking", "reasoning"})


@dataclass(frozen=True)
class AnthropicCacheLayout:
    """An Anthropic request with its cache breakpoints laid out."""

    payload: dict[str, Any]
    """The request to send; the input payload is never modified."""
    breakpoints: tuple[CacheBreakpoint, ...]
    """Every marker of `payload`, in prefix order (at most four)."""
    added: tuple[CacheBreakpoint, ...]
    """The markers the layout placed."""
    dropped: tuple[CacheBreakpoint, ...]
    """Markers of the input removed because it had more than four."""
    min_tokens: int
    """The minimum cacheable prefix assumed for the model."""


def layout_anthropic_request(
    payload: Mapping[str, Any],
    *,
    model: str | None = None,
    ttl: CacheTTL = "5m",
    min_cacheable_tokens: int | None = None,
    sort_tools: bool = True,
) -> AnthropicCacheLayout:
    """Place `cache_control` breakpoints on an Anthropic Messages request.

    Works on the request body as sent to `POST /v1/messages` (`tools`,
    `system` as a string or text blocks, `messages` with string or block
    content, optional top-level `cache_control`). Marks, within the limit of
    four breakpoints counting those already set: the last block of the last
    user turn (written this turn), the last block of the user turn before
    the last assistant turn (written by the previous call, so read now), the
    end of the system prompt and the last tool. A marker is only placed where
    the prefix reaches the model's minimum cacheable length, and never before
    a longer-TTL marker. Markers already present stay, with their TTL. The
    text of a user message is sent as a text block whether or not it is
    marked, so its bytes do not change when the marker moves on next turn.

    Args:
        payload: The request body.
        model: The model id, for its minimum; defaults to `payload["model"]`.
        ttl: TTL of the markers placed.
        min_cacheable_tokens: Overrides the minimum from the model table.
        sort_tools: Order tools by name and their keys alphabetically, so the
            tool prefix serializes identically on every call.

    Returns:
        The laid-out request and its breakpoints. Token counts are estimated
        with `o200k_base`, which runs a little below Claude's tokenizer.
    """
    request = _copied(payload, sort_tools=sort_tools)
    min_tokens = min_tokens_for(model or request.get("model"), min_cacheable_tokens)
    plan = plan_breakpoints(
        _slots(request),
        ttl=ttl,
        min_tokens=min_tokens,
        auto_marker=request.get("cache_control"),
    )

    if plan.dropped:
        _warn_dropped(len(plan.kept) + len(plan.dropped))
        for marker in plan.dropped:
            _set_marker(request, marker, None)
    for marker in plan.added:
        _set_marker(request, marker, cache_control(ttl))

    logger.debug("anthropic cache layout: %s", plan.breakpoints)
    return _result(request, plan, min_tokens)


def min_tokens_for(model: Any, override: int | None) -> int:
    """The minimum cacheable prefix to assume: `override`, the table, or 1024."""
    if override is not None:
        return override
    found = anthropic_min_cacheable_tokens(model if isinstance(model, str) else None)
    return DEFAULT_MIN_CACHEABLE_TOKENS if found is None else found


def _result(
    request: dict[str, Any], plan: BreakpointPlan, min_tokens: int
) -> AnthropicCacheLayout:
    return AnthropicCacheLayout(
        payload=request,
        breakpoints=plan.breakpoints,
        added=plan.added,
        dropped=plan.dropped,
        min_tokens=min_tokens,
    )


def _warn_dropped(count: int) -> None:
    warnings.warn(
        f"the request holds {count} cache_control breakpoints and Anthropic "
        "accepts 4; keeping the first three and the last",
        CacheLayoutWarning,
        stacklevel=4,
    )


def _copied(payload: Mapping[str, Any], *, sort_tools: bool) -> dict[str, Any]:
    request = dict(payload)
    tools = list(request.get("tools") or [])
    if sort_tools:
        tools = [sort_keys_deep(tool) for tool in stable_tool_order(tools)]
    if "tools" in request:
        request["tools"] = tools
    if isinstance(request.get("system"), list):
        request["system"] = list(request["system"])
    request["messages"] = [
        _with_block_content(m) for m in request.get("messages") or []
    ]
    return request


def _with_block_content(message: Mapping[str, Any]) -> Mapping[str, Any]:
    content = message.get("content")
    if message.get("role") == "user" and isinstance(content, str) and content:
        return {**message, "content": [{"type": "text", "text": content}]}
    return message


def _slots(request: Mapping[str, Any]) -> list[Slot]:
    slots: list[Slot] = []
    total = 0
    for index, tool in enumerate(request.get("tools") or []):
        total += count_text_tokens(canonical_json(_unmarked(tool)))
        slots.append(
            Slot("tools", index, 0, total, True, tool.get("cache_control"), "other")
        )

    for index, block in enumerate(_blocks(request.get("system"))):
        total += count_block_tokens(block)
        marker = block.get("cache_control") if isinstance(block, dict) else None
        slots.append(
            Slot("system", index, 0, total, _cacheable(block), marker, "other")
        )

    for index, message in enumerate(request["messages"]):
        turn: Turn = "assistant" if message.get("role") == "assistant" else "user"
        for block_index, block in enumerate(_blocks(message.get("content"))):
            total += count_block_tokens(block)
            marker = block.get("cache_control") if isinstance(block, dict) else None
            cacheable = _cacheable(block)
            slots.append(
                Slot("messages", index, block_index, total, cacheable, marker, turn)
            )
    return slots


def _blocks(content: Any) -> list[Any]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    return list(content)


def _cacheable(block: Any) -> bool:
    if isinstance(block, str):
        return bool(block)
    if not isinstance(block, dict) or block.get("type") in _UNCACHEABLE_BLOCKS:
        return False
    return not (block.get("type") == "text" and not block.get("text"))


def _unmarked(block: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in block.items() if key != "cache_control"}


def _set_marker(
    request: dict[str, Any], marker: CacheBreakpoint, value: dict[str, str] | None
) -> None:
    if marker.role == "auto":
        request.pop("cache_control", None)
    elif marker.section == "tools":
        request["tools"][marker.index] = _marked(request["tools"][marker.index], value)
    elif marker.section == "system":
        system = _blocks(request.get("system"))
        system[marker.index] = _marked(system[marker.index], value)
        request["system"] = system
    else:
        message = dict(request["messages"][marker.index])
        content = _blocks(message.get("content"))
        content[marker.block] = _marked(content[marker.block], value)
        message["content"] = content
        request["messages"][marker.index] = message


def _marked(block: Any, value: dict[str, str] | None) -> dict[str, Any]:
    base = {"type": "text", "text": block} if isinstance(block, str) else block
    unmarked = _unmarked(base)
    return unmarked if value is None else {**unmarked, "cache_control": value}
