"""`clear_old_tool_results`: placeholders that keep the tool-call pairing."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langgraph_tokenomics.middleware import clear_old_tool_results


def history(results: int) -> list[BaseMessage]:
    calls = [
        {"name": "read_file", "args": {"path": f"{i}.txt"}, "id": f"c{i}"}
        for i in range(results)
    ]
    messages: list[BaseMessage] = [
        HumanMessage("read them"),
        AIMessage("", tool_calls=calls),
    ]
    messages += [
        ToolMessage(f"contents of file number {i}", tool_call_id=f"c{i}", id=f"t{i}")
        for i in range(results)
    ]
    return messages


def test_older_results_get_a_placeholder_naming_the_tool_and_size() -> None:
    cleared = clear_old_tool_results(history(2), keep_last=1)

    assert cleared[2].content == "[tool result cleared: read_file, 6 tokens removed]"


def test_the_pairing_and_ids_survive_clearing() -> None:
    cleared = clear_old_tool_results(history(2), keep_last=1)

    assert isinstance(cleared[2], ToolMessage)
    assert (cleared[2].tool_call_id, cleared[2].id) == ("c0", "t0")


def test_the_latest_results_are_kept_as_the_same_objects() -> None:
    messages = history(3)

    cleared = clear_old_tool_results(messages, keep_last=2)

    assert cleared[3] is messages[3]
    assert cleared[4] is messages[4]


def test_the_tool_message_name_is_used_when_present() -> None:
    messages = history(2)
    messages[2] = messages[2].model_copy(update={"name": "grep"})

    cleared = clear_old_tool_results(messages, keep_last=1)

    assert cleared[2].content == "[tool result cleared: grep, 6 tokens removed]"


def test_clearing_twice_changes_nothing_more() -> None:
    once = clear_old_tool_results(history(3), keep_last=1)

    twice = clear_old_tool_results(once, keep_last=1)

    assert twice == once


def test_batches_clear_only_whole_steps() -> None:
    cleared = clear_old_tool_results(history(4), keep_last=1, batch=2)

    placeholders = [m.text.startswith("[tool result cleared") for m in cleared[2:]]
    assert placeholders == [True, True, False, False]


def test_the_input_is_not_modified() -> None:
    messages = history(2)

    clear_old_tool_results(messages, keep_last=0)

    assert messages[2].content == "contents of file number 0"


def test_bad_options_are_refused() -> None:
    with pytest.raises(
        ValueError, match=r"^keep_last must be >= 0 and batch >= 1, got 1 and 0$"
    ):
        clear_old_tool_results([], keep_last=1, batch=0)
