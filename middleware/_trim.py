"""Trim a history to a token limit without splitting tool calls from results."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from langgraph_tokenomics._errors import ConfigurationError

from ._counting import MessageTokenCounter, count_text_tokens
from ._window import WindowMeasure, WindowPlan

__all__ = ["clear_old_tool_results", "cleared_placeholder", "trim_messages_safe"]

logger = logging.getLogger(__name__)


def trim_messages_safe(
    messages: Sequence[BaseMessage],
    *,
    max_tokens: int,
    token_counter: MessageTokenCounter | None = None,
    keep_system: bool = True,
    keep_first_human: bool = False,
) -> list[BaseMessage]:
    """Keep the most recent messages that fit `max_tokens`, as a valid history.

    The kept window never separates an assistant message with tool calls from
    the tool results answering it, in either direction (parallel calls, runs
    of several calling messages, results out of order), so it never begins
    with a tool result. The leading system message(s) stay first and
    unchanged. A history that already fits comes back equal, in order.

    Args:
        messages: A valid history: every tool result answers an earlier call,
            every call is answered.
        max_tokens: The limit for the whole returned list, inclusive.
        token_counter: Counts a list of messages; it is only called on valid
            histories and should not grow when messages are removed. Defaults
            to `count_tokens` (tiktoken `o200k_base`, cached per message).
        keep_system: Keep the leading system message(s) whatever the limit.
        keep_first_human: Also keep the first human message, right after the
            system message(s), when the cut would drop it. Useful for
            providers that want a user message first.

    Returns:
        A new list. When even the pinned messages leave no room, it holds
        only them (and logs a warning).

    Raises:
        ValueError: If `max_tokens` is negative.
        InvalidHistoryError: If `messages` pairs tool calls wrongly.
    """
    if max_tokens < 0:
        msg = f"max_tokens must be at least 0, got {max_tokens}"
        raise ConfigurationError(msg)

    plan = WindowPlan.of(
        messages, keep_system=keep_system, keep_first_human=keep_first_human
    )
    measure = WindowMeasure(plan, token_counter)
    if measure.tokens(plan.pinned) <= max_tokens:
        return list(plan.history)

    cut = measure.smallest_fitting_cut(plan.cuts, max_tokens)
    if cut is None:
        cut = len(plan.history)
        logger.warning(
            "no messages fit max_tokens=%d beside the %d pinned; sending only them",
            max_tokens,
            len(plan.window(cut)),
        )
    logger.debug("trimmed %d of %d messages", cut - plan.pinned, len(plan.history))
    return plan.window(cut)


def clear_old_tool_results(
    messages: Sequence[BaseMessage], *, keep_last: int, batch: int = 1
) -> list[BaseMessage]:
    """Replace the content of all but the last `keep_last` tool results.

    Each cleared `ToolMessage` keeps its id, `tool_call_id`, name and status,
    so the pairing with its call stays intact; its content becomes a short
    placeholder naming the tool and the tokens removed. Already cleared
    results are left as they are, so the placeholder text is stable.

    Args:
        messages: The history.
        keep_last: How many of the most recent tool results keep their content.
        batch: Clear in steps of this many results, so the prefix sent to the
            provider changes once every `batch` new results instead of every
            turn.

    Returns:
        A new list; unchanged messages are the same objects.

    Raises:
        ValueError: If `keep_last` is negative or `batch` is below 1.
    """
    if keep_last < 0 or batch < 1:
        msg = f"keep_last must be >= 0 and batch >= 1, got {keep_last} and {batch}"
        raise ConfigurationError(msg)

    results = [i for i, m in enumerate(messages) if isinstance(m, ToolMessage)]
    clear_count = (max(len(results) - keep_last, 0) // batch) * batch
    to_clear = set(results[:clear_count])
    names = _tool_names(messages)

    cleared: list[BaseMessage] = []
    for index, message in enumerate(messages):
        if index in to_clear and isinstance(message, ToolMessage):
            message = _cleared(message, names)
        cleared.append(message)
    return cleared


def cleared_placeholder(tool_name: str, removed_tokens: int) -> str:
    """The text that replaces a cleared tool result.

    Args:
        tool_name: The tool that produced the result.
        removed_tokens: Tokens of the content removed.

    Returns:
        For example `[tool result cleared: read_file, 1,234 tokens removed]`.
    """
    return f"[tool result cleared: {tool_name}, {removed_tokens:,} tokens removed]"


def _cleared(message: ToolMessage, names: dict[str, str]) -> ToolMessage:
    if message.response_metadata.get("tokenomics_cleared"):
        return message
    name = message.name or names.get(message.tool_call_id, "unknown tool")
    removed = count_text_tokens(message.text)
    return message.model_copy(
        update={
            "content": cleared_placeholder(name, removed),
            "response_metadata": {
                **message.response_metadata,
                "tokenomics_cleared": True,
            },
        }
    )


def _tool_names(messages: Sequence[BaseMessage]) -> dict[str, str]:
    names: dict[str, str] = {}
    for message in messages:
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call.get("id"):
                    names[str(call["id"])] = call["name"]
    return names
