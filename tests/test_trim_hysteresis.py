"""`HysteresisTrimmer`: cut past the high watermark, down to the low one."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langgraph_tokenomics.middleware import HysteresisTrimmer, TrimCut


def count_messages(messages: Sequence[BaseMessage]) -> int:
    return len(messages)


def conversation(turns: int) -> list[BaseMessage]:
    messages: list[BaseMessage] = [SystemMessage("system")]
    for turn in range(1, turns + 1):
        messages += [HumanMessage(f"question {turn}"), AIMessage(f"answer {turn}")]
    return messages


def trimmer(high: int = 6, low: int = 3) -> HysteresisTrimmer:
    return HysteresisTrimmer(
        high_watermark=high, low_watermark=low, token_counter=count_messages
    )


def test_under_the_high_watermark_nothing_is_cut() -> None:
    history = conversation(2)

    result = trimmer().trim(history)

    assert (result.messages, result.cuts) == (history, ())


def test_passing_the_high_watermark_cuts_down_to_the_low_one() -> None:
    history = conversation(4)[:-1]

    result = trimmer().trim(history)

    assert result.messages == [history[0], history[5], history[6], history[7]]
    assert result.cuts == (
        TrimCut(at=7, first_kept=5, tokens_before=7, tokens_after=3, pinned_tokens=1),
    )


def test_a_cut_reports_the_tokens_removed_and_rewritten() -> None:
    cut = TrimCut(at=7, first_kept=5, tokens_before=7, tokens_after=3, pinned_tokens=1)

    assert (cut.removed_tokens, cut.rewritten_tokens) == (4, 2)


def test_after_a_cut_the_next_request_extends_the_previous_one() -> None:
    history = conversation(5)

    before = trimmer().trim(history[:8])
    after = trimmer().trim(history[:10])

    assert after.messages[: len(before.messages)] == before.messages
    assert after.cuts == before.cuts


def test_the_next_cut_comes_only_at_the_high_watermark_again() -> None:
    history = conversation(6)

    result = trimmer().trim(history)

    assert [cut.at for cut in result.cuts] == [7, 11]


def test_cuts_after_selects_the_cuts_made_since_a_length() -> None:
    result = trimmer().trim(conversation(6))

    assert [cut.at for cut in result.cuts_after(10)] == [11]


def test_a_cut_never_separates_a_tool_call_from_its_result() -> None:
    calls = [{"name": "read_file", "args": {}, "id": "c1"}]
    history: list[BaseMessage] = [
        SystemMessage("system"),
        HumanMessage("read it"),
        AIMessage("", tool_calls=calls),
        ToolMessage("contents", tool_call_id="c1"),
        AIMessage("done"),
        HumanMessage("thanks"),
        AIMessage("welcome"),
    ]

    result = trimmer(high=6, low=4).trim(history)

    assert result.messages == [history[0], history[4], history[5], history[6]]


def test_the_trimmer_is_callable_as_a_function() -> None:
    history = conversation(2)

    assert trimmer()(history) == history


def test_watermarks_out_of_order_are_refused() -> None:
    with pytest.raises(
        ValueError,
        match=r"^watermarks must satisfy 0 <= low <= high, got low=5, high=4$",
    ):
        HysteresisTrimmer(high_watermark=4, low_watermark=5)
