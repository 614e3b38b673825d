"""Tool-call structure of a message history: validation and safe cut points."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage

from ._errors import InvalidHistoryError

__all__ = [
    "leading_system_count",
    "safe_cut_points",
    "tool_call_spans",
    "validate_history",
]


def validate_history(messages: Sequence[BaseMessage]) -> None:
    """Check that every tool call is answered after it and every result has a call.

    Args:
        messages: The history, in order.

    Raises:
        InvalidHistoryError: If a tool result has no earlier, unanswered call
            with its id, a call id repeats, or a tool call is never answered.
    """
    tool_call_spans(messages)


def tool_call_spans(messages: Sequence[BaseMessage]) -> list[tuple[int, int]]:
    """Pair each tool call with its result, as (call index, result index) spans.

    Args:
        messages: The history, in order.

    Returns:
        One `(i, j)` per tool call: message `i` made the call, message `j`
        answered it, `i < j`.

    Raises:
        InvalidHistoryError: As `validate_history`.
    """
    open_calls: dict[str, int] = {}
    seen: set[str] = set()
    spans: list[tuple[int, int]] = []

    for index, message in enumerate(messages):
        if isinstance(message, AIMessage):
            _open_calls(message, index, open_calls, seen)
        elif isinstance(message, ToolMessage):
            spans.append((_close_call(message, index, open_calls), index))

    if open_calls:
        call_id, index = next(iter(open_calls.items()))
        msg = f"tool call {call_id!r} of message {index} is never answered"
        raise InvalidHistoryError(msg)
    return spans


def _open_calls(
    message: AIMessage, index: int, open_calls: dict[str, int], seen: set[str]
) -> None:
    for call in message.tool_calls:
        call_id = call.get("id")
        if not call_id:
            msg = f"message {index} has a tool call without an id"
            raise InvalidHistoryError(msg)
        if call_id in seen:
            msg = f"tool call id {call_id!r} is used twice (message {index})"
            raise InvalidHistoryError(msg)
        seen.add(call_id)
        open_calls[call_id] = index


def _close_call(message: ToolMessage, index: int, open_calls: dict[str, int]) -> int:
    call_index = open_calls.pop(message.tool_call_id, None)
    if call_index is None:
        msg = (
            f"tool result {index} answers {message.tool_call_id!r}, which no "
            "earlier assistant message called (or which was already answered)"
        )
        raise InvalidHistoryError(msg)
    return call_index


def safe_cut_points(
    messages: Sequence[BaseMessage], spans: Sequence[tuple[int, int]], start: int
) -> list[int]:
    """List the indices where a kept window may begin, from `start` to the end.

    A window `messages[c:]` is safe when no tool call is cut from its result:
    no span `(i, j)` has `i < c <= j`. So it never begins with a tool result.

    Args:
        messages: The history.
        spans: Its `tool_call_spans`.
        start: The first index to consider.

    Returns:
        The safe indices in increasing order; `len(messages)` (keep nothing)
        is always one of them.
    """
    reach = [0] * (len(messages) + 2)
    for call_index, result_index in spans:
        reach[call_index + 1] += 1
        reach[result_index + 1] -= 1

    cuts: list[int] = []
    open_spans = 0
    for index in range(len(messages) + 1):
        open_spans += reach[index]
        if index >= start and open_spans == 0:
            cuts.append(index)
    return cuts


def leading_system_count(messages: Sequence[BaseMessage]) -> int:
    """Count the system messages at the start of a history.

    Args:
        messages: The history.

    Returns:
        How many messages at the start are `SystemMessage`s.
    """
    count = 0
    while count < len(messages) and isinstance(messages[count], SystemMessage):
        count += 1
    return count
