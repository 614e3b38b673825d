"""`trim_messages_safe`: the issue's cases and the contract, one behaviour each."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langgraph_tokenomics.middleware import InvalidHistoryError, trim_messages_safe


def count_messages(messages: Sequence[BaseMessage]) -> int:
    """One token per message: limits read as message counts."""
    return len(messages)


def call(call_id: str, name: str = "read_file") -> dict[str, object]:
    return {"name": name, "args": {"path": f"{call_id}.txt"}, "id": call_id}


def case_1() -> list[BaseMessage]:
    return [
        SystemMessage("You are a careful assistant."),
        HumanMessage("What is in w1?"),
        AIMessage("", tool_calls=[call("call_w1")]),
        ToolMessage("w1 holds the weekly report", tool_call_id="call_w1"),
        AIMessage("It holds the weekly report."),
        HumanMessage("Thanks. Summarise it."),
        AIMessage("Sales went up."),
    ]


def case_3() -> list[BaseMessage]:
    return [
        SystemMessage("You read files."),
        HumanMessage("Read a, b and c."),
        AIMessage("", tool_calls=[call("c1"), call("c2")]),
        AIMessage("", tool_calls=[call("c3")]),
        ToolMessage("c", tool_call_id="c3"),
        ToolMessage("a", tool_call_id="c1"),
        ToolMessage("b", tool_call_id="c2"),
        AIMessage("Done."),
    ]


def test_case_1_keep_last_four_does_not_start_with_the_tool_result() -> None:
    history = case_1()

    kept = trim_messages_safe(history, max_tokens=4, token_counter=count_messages)

    assert kept == [history[0], history[4], history[5], history[6]]


def test_case_1_a_limit_that_would_split_the_pair_drops_both() -> None:
    history = case_1()

    kept = trim_messages_safe(history, max_tokens=5, token_counter=count_messages)

    assert kept == [history[0], history[4], history[5], history[6]]


def test_case_2_a_short_history_comes_back_unchanged() -> None:
    history: list[BaseMessage] = [
        SystemMessage("You are a helpful assistant."),
        HumanMessage("What's the weather in Paris?"),
        AIMessage("", tool_calls=[call("call_1", "get_weather")]),
        ToolMessage("Sunny, 21 C", tool_call_id="call_1"),
    ]

    kept = trim_messages_safe(history, max_tokens=128_000)

    assert kept == history
    assert kept is not history
    assert isinstance(kept[-1], ToolMessage)


@pytest.mark.parametrize(
    ("max_tokens", "kept_indices"),
    [
        (8, [0, 1, 2, 3, 4, 5, 6, 7]),
        (7, [0, 2, 3, 4, 5, 6, 7]),
        (6, [0, 7]),
        (2, [0, 7]),
        (1, [0]),
    ],
)
def test_case_3_no_cut_keeps_a_result_whose_call_was_cut(
    max_tokens: int, kept_indices: list[int]
) -> None:
    history = case_3()

    kept = trim_messages_safe(
        history, max_tokens=max_tokens, token_counter=count_messages
    )

    assert kept == [history[i] for i in kept_indices]


def test_the_counter_only_sees_histories_with_every_call_answered() -> None:
    history = case_3()
    seen: list[list[str]] = []

    def recording_counter(messages: Sequence[BaseMessage]) -> int:
        seen.append([m.type for m in messages])
        return len(messages)

    trim_messages_safe(history, max_tokens=6, token_counter=recording_counter)

    assert seen == [
        ["system", "human", "ai", "ai", "tool", "tool", "tool", "ai"],
        ["system", "ai"],
        ["system", "ai", "ai", "tool", "tool", "tool", "ai"],
    ]


def test_system_message_is_kept_first_and_unchanged() -> None:
    history = case_1()

    kept = trim_messages_safe(history, max_tokens=2, token_counter=count_messages)

    assert kept[0] is history[0]


def test_keep_first_human_pins_it_after_the_system_message() -> None:
    history = case_1()

    kept = trim_messages_safe(
        history, max_tokens=3, token_counter=count_messages, keep_first_human=True
    )

    assert kept == [history[0], history[1], history[6]]


def test_without_keep_system_the_system_message_can_be_cut() -> None:
    history = case_1()

    kept = trim_messages_safe(
        history, max_tokens=2, token_counter=count_messages, keep_system=False
    )

    assert kept == [history[5], history[6]]


def test_when_nothing_fits_only_the_system_message_is_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    history = case_1()

    with caplog.at_level(logging.WARNING):
        kept = trim_messages_safe(history, max_tokens=0, token_counter=count_messages)

    assert kept == [history[0]]
    assert caplog.messages == [
        "no messages fit max_tokens=0 beside the 1 pinned; sending only them"
    ]


def test_default_counter_trims_by_o200k_tokens() -> None:
    history: list[BaseMessage] = [
        SystemMessage("hello world"),
        HumanMessage("hello world"),
        AIMessage("hello world"),
    ]

    kept = trim_messages_safe(history, max_tokens=12)

    assert kept == [history[0], history[2]]


def test_a_negative_limit_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^max_tokens must be at least 0, got -1$"):
        trim_messages_safe([], max_tokens=-1)


def test_a_tool_result_without_its_call_is_refused() -> None:
    history: list[BaseMessage] = [
        HumanMessage("hi"),
        ToolMessage("orphan", tool_call_id="call_x"),
    ]

    with pytest.raises(InvalidHistoryError) as raised:
        trim_messages_safe(history, max_tokens=10)

    assert str(raised.value) == (
        "tool result 1 answers 'call_x', which no earlier assistant message "
        "called (or which was already answered)"
    )


def test_an_unanswered_tool_call_is_refused() -> None:
    history: list[BaseMessage] = [
        HumanMessage("hi"),
        AIMessage("", tool_calls=[call("call_y")]),
    ]

    with pytest.raises(InvalidHistoryError) as raised:
        trim_messages_safe(history, max_tokens=10)

    assert str(raised.value) == "tool call 'call_y' of message 1 is never answered"


def test_a_result_before_its_call_is_refused() -> None:
    history: list[BaseMessage] = [
        HumanMessage("hi"),
        ToolMessage("early", tool_call_id="call_z"),
        AIMessage("", tool_calls=[call("call_z")]),
    ]

    with pytest.raises(InvalidHistoryError, match=r"^tool result 1 answers 'call_z'"):
        trim_messages_safe(history, max_tokens=10)
