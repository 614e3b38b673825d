"""Deterministic tool order and serialization, so tool prefixes stay cached."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

from langchain_core.tools import BaseTool

__all__ = ["canonical_json", "sort_keys_deep", "stable_tool_order", "tool_name"]

ToolT = TypeVar("ToolT")


def canonical_json(value: Any) -> str:
    """Serialize `value` the same way every time: sorted keys, no spaces.

    Args:
        value: JSON-compatible data.

    Returns:
        The JSON text.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )


def sort_keys_deep(value: Any) -> Any:
    """Rebuild dicts, at any depth, with their keys in sorted order.

    JSON encoders write dict keys in insertion order, so a tool definition
    built from a set or by merging dicts can serialize differently between
    calls; sorted keys serialize the same. Lists keep their order.

    Args:
        value: JSON-compatible data.

    Returns:
        An equal value whose dicts are new and key-sorted.
    """
    if isinstance(value, dict):
        return {key: sort_keys_deep(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sort_keys_deep(item) for item in value]
    return value


def stable_tool_order(tools: Sequence[ToolT]) -> list[ToolT]:
    """Order tools by name, keeping the given order among equal names.

    Args:
        tools: `BaseTool`s, tool dicts (Anthropic or OpenAI format), or other
            tool-likes with a `__name__`.

    Returns:
        A new, sorted list of the same objects.
    """
    return sorted(tools, key=tool_name)


def tool_name(tool: Any) -> str:
    """The name a tool is sent under, or "" when it has none."""
    if isinstance(tool, BaseTool):
        return tool.name
    if isinstance(tool, dict):
        function = tool.get("function")
        if isinstance(function, dict) and "name" in function:
            return str(function["name"])
        return str(tool.get("name", ""))
    return str(getattr(tool, "__name__", ""))
