"""Breakpoints placed on LangChain messages reach the wire where the policy says.

`ChatAnthropic._get_request_payload` builds the request body offline; the
markers it carries are compared with `layout_anthropic_request` run on the
body of the unshaped request.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import BaseTool, tool

from langgraph_tokenomics.middleware import layout_anthropic_request
from langgraph_tokenomics.middleware._anthropic_messages import (
    layout_anthropic_messages,
)


@tool
def grep(pattern: str) -> str:
    """Search the files for a pattern."""
    return pattern


@tool
def read_file(path: str) -> str:
    """Read a file."""
    return path


TOOLS: list[BaseTool] = [grep, read_file]


def anthropic() -> ChatAnthropic:
    return ChatAnthropic(model="claude-sonnet-4-6", api_key="sk-test")  # type: ignore[call-arg, arg-type]


def wire(
    system: list[SystemMessage], messages: list[BaseMessage], tools: list[Any]
) -> dict[str, Any]:
    model = anthropic()
    bound = model.bind_tools(tools)
    return model._get_request_payload([*system, *messages], **bound.kwargs)  # type: ignore[attr-defined]


def wire_markers(payload: dict[str, Any]) -> list[tuple[str, int, int]]:
    found = [
        ("tools", i, 0) for i, t in enumerate(payload["tools"]) if "cache_control" in t
    ]
    found += [
        ("system", i, 0)
        for i, block in enumerate(payload["system"] or [])
        if isinstance(block, dict) and "cache_control" in block
    ]
    for index, message in enumerate(payload["messages"]):
        if isinstance(message["content"], list):
            found += [
                ("messages", index, b)
                for b, block in enumerate(message["content"])
                if "cache_control" in block
            ]
    return found


def agent_turns() -> list[BaseMessage]:
    calls = [
        {"name": "grep", "args": {"pattern": "NOTE"}, "id": "toolu_1"},
        {"name": "read_file", "args": {"path": "a.py"}, "id": "toolu_2"},
    ]
    return [
        HumanMessage("Find the NOTEs."),
        AIMessage("", tool_calls=calls),
        ToolMessage("a.py:3: NOTE", tool_call_id="toolu_1"),
        ToolMessage("print('hi')  # NOTE", tool_call_id="toolu_2"),
        AIMessage("One NOTE, in a.py."),
        HumanMessage("Fix it."),
    ]


SYSTEM = [SystemMessage("You are a careful coding agent.")]


def test_langchain_markers_land_where_the_wire_policy_puts_them() -> None:
    messages = agent_turns()
    expected = layout_anthropic_request(
        wire(SYSTEM, messages, TOOLS), min_cacheable_tokens=0, sort_tools=False
    )

    layout = layout_anthropic_messages(
        SYSTEM, messages, TOOLS, model="claude-sonnet-4-6", min_cacheable_tokens=0
    )

    shaped = wire(layout.system, layout.messages, layout.tools)
    assert wire_markers(shaped) == wire_markers(expected.payload)
    assert wire_markers(shaped) == [
        ("tools", 1, 0),
        ("system", 0, 0),
        ("messages", 2, 1),
        ("messages", 4, 0),
    ]


def test_the_previous_tail_can_be_a_tool_result() -> None:
    messages = agent_turns()[:4]
    messages.append(
        AIMessage("", tool_calls=[{"name": "grep", "args": {}, "id": "t3"}])
    )
    messages.append(ToolMessage("none", tool_call_id="t3"))

    layout = layout_anthropic_messages(
        SYSTEM, messages, TOOLS, model="claude-sonnet-4-6", min_cacheable_tokens=0
    )

    shaped = wire(layout.system, layout.messages, layout.tools)
    assert wire_markers(shaped)[2:] == [("messages", 2, 1), ("messages", 4, 0)]


def test_a_marked_text_tool_result_is_sent_with_the_same_content() -> None:
    messages = agent_turns()[:4]

    layout = layout_anthropic_messages(
        SYSTEM, messages, TOOLS, model="claude-sonnet-4-6", min_cacheable_tokens=0
    )

    plain = wire(SYSTEM, messages, TOOLS)["messages"][2]["content"][1]
    marked = wire(layout.system, layout.messages, layout.tools)["messages"][2]
    assert marked["content"][1] == {**plain, "cache_control": {"type": "ephemeral"}}


def test_the_next_turn_repeats_the_bytes_up_to_the_earlier_breakpoint() -> None:
    first = agent_turns()[:4]
    second = agent_turns()

    one = layout_anthropic_messages(
        SYSTEM, first, TOOLS, model="claude-sonnet-4-6", min_cacheable_tokens=0
    )
    two = layout_anthropic_messages(
        SYSTEM, second, TOOLS, model="claude-sonnet-4-6", min_cacheable_tokens=0
    )

    wire_one = wire(one.system, one.messages, one.tools)
    wire_two = wire(two.system, two.messages, two.tools)
    assert json.dumps(strip_markers(wire_one["messages"][:3])) == json.dumps(
        strip_markers(wire_two["messages"][:3])
    )
    assert wire_one["messages"][2] == wire_two["messages"][2]


def strip_markers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_markers(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [strip_markers(item) for item in value]
    return value


def test_a_marker_the_user_set_on_a_message_counts_toward_four() -> None:
    messages = agent_turns()
    messages[0] = HumanMessage(
        [{"type": "text", "text": "Find.", "cache_control": {"type": "ephemeral"}}]
    )

    layout = layout_anthropic_messages(
        SYSTEM, messages, TOOLS, model="claude-sonnet-4-6", min_cacheable_tokens=0
    )

    shaped = wire(layout.system, layout.messages, layout.tools)
    assert wire_markers(shaped) == [
        ("system", 0, 0),
        ("messages", 0, 0),
        ("messages", 2, 1),
        ("messages", 4, 0),
    ]
    assert [m.role for m in layout.breakpoints] == [
        "system",
        "user",
        "previous_tail",
        "tail",
    ]


def test_dict_tools_in_openai_form_are_marked_in_anthropic_form() -> None:
    openai_tool = {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a word up.",
            "parameters": {"type": "object", "properties": {}},
        },
    }

    layout = layout_anthropic_messages(
        SYSTEM,
        [HumanMessage("hi")],
        [openai_tool],
        model="claude-sonnet-4-6",
        min_cacheable_tokens=0,
    )

    assert layout.tools == [
        {
            "name": "lookup",
            "description": "Look a word up.",
            "input_schema": {"type": "object", "properties": {}},
            "cache_control": {"type": "ephemeral"},
        }
    ]


def test_the_given_messages_and_tools_are_not_modified() -> None:
    messages = agent_turns()

    layout_anthropic_messages(
        SYSTEM, messages, TOOLS, model="claude-sonnet-4-6", min_cacheable_tokens=0
    )

    assert messages == agent_turns()
    assert read_file.extras is None


@pytest.mark.parametrize("ttl", ["5m", "1h"])
def test_markers_carry_the_requested_ttl(ttl: Any) -> None:
    layout = layout_anthropic_messages(
        SYSTEM,
        agent_turns(),
        TOOLS,
        model="claude-sonnet-4-6",
        ttl=ttl,
        min_cacheable_tokens=0,
    )

    assert {m.ttl for m in layout.breakpoints} == {ttl}
