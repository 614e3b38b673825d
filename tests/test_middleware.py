"""The middleware through a real `create_agent`: what the model was sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.memory import InMemorySaver

from langgraph_tokenomics.middleware import (
    CacheLayoutMiddleware,
    CacheLayoutReport,
    CallScope,
    ContextTrimMiddleware,
    ModelCall,
    TrimCut,
)

from .fakes import scripted

EPHEMERAL = {"type": "ephemeral"}


@tool
def read_file(path: str) -> str:
    """Read a file."""
    return f"contents of {path}"


@tool
def grep(pattern: str) -> str:
    """Search files."""
    return pattern


def count_messages(messages: Sequence[BaseMessage]) -> int:
    return len(messages)


def past_turns(turns: int) -> list[AnyMessage]:
    messages: list[AnyMessage] = []
    for turn in range(1, turns + 1):
        messages += [HumanMessage(f"question {turn}"), AIMessage(f"answer {turn}")]
    return messages


def read_call(call_id: str = "call_1") -> AIMessage:
    return AIMessage(
        "", tool_calls=[{"name": "read_file", "args": {"path": "a.txt"}, "id": call_id}]
    )


def texts(messages: Sequence[BaseMessage]) -> list[tuple[str, Any]]:
    return [(m.type, m.content) for m in messages]


def test_trimming_changes_what_the_model_is_sent() -> None:
    model = scripted("answer 4")
    agent = create_agent(
        model,
        system_prompt="Be terse.",
        middleware=[ContextTrimMiddleware(max_tokens=3, token_counter=count_messages)],
    )

    agent.invoke({"messages": [*past_turns(3), HumanMessage("question 4")]})

    assert texts(model.received[0]) == [
        ("system", "Be terse."),
        ("ai", "answer 3"),
        ("human", "question 4"),
    ]


def test_trimming_leaves_the_agent_state_whole() -> None:
    agent = create_agent(
        scripted("answer 4"),
        system_prompt="Be terse.",
        middleware=[ContextTrimMiddleware(max_tokens=3, token_counter=count_messages)],
    )

    result = agent.invoke({"messages": [*past_turns(3), HumanMessage("question 4")]})

    assert len(result["messages"]) == 8


def test_trimming_keeps_a_tool_call_with_its_result() -> None:
    model = scripted(read_call(), "done")
    agent = create_agent(
        model,
        tools=[read_file],
        system_prompt="Read files.",
        middleware=[ContextTrimMiddleware(max_tokens=3, token_counter=count_messages)],
    )

    agent.invoke({"messages": [*past_turns(2), HumanMessage("read a.txt")]})

    assert [m.type for m in model.received[1]] == ["system", "ai", "tool"]


def test_rewrite_state_removes_the_trimmed_messages_from_the_state() -> None:
    agent = create_agent(
        scripted("answer 4"),
        system_prompt="Be terse.",
        middleware=[
            ContextTrimMiddleware(
                max_tokens=3, token_counter=count_messages, rewrite_state=True
            )
        ],
    )

    result = agent.invoke({"messages": [*past_turns(3), HumanMessage("question 4")]})

    assert texts(result["messages"]) == [
        ("ai", "answer 3"),
        ("human", "question 4"),
        ("ai", "answer 4"),
    ]


def test_old_tool_results_are_cleared_in_the_request_only() -> None:
    model = scripted(read_call("c1"), read_call("c2"), "done")
    agent = create_agent(
        model,
        tools=[read_file],
        middleware=[ContextTrimMiddleware(clear_tool_results_keep_last=1)],
    )

    result = agent.invoke({"messages": [HumanMessage("read a.txt twice")]})

    assert [m.content for m in model.received[2] if isinstance(m, ToolMessage)] == [
        "[tool result cleared: read_file, 4 tokens removed]",
        "contents of a.txt",
    ]
    assert result["messages"][2].content == "contents of a.txt"


def test_hysteresis_reports_each_cut_once_on_the_turn_it_happens() -> None:
    cuts: list[TrimCut] = []
    model = scripted(*(f"answer {n}" for n in range(1, 6)))
    agent = create_agent(
        model,
        system_prompt="Be terse.",
        checkpointer=InMemorySaver(),
        middleware=[
            ContextTrimMiddleware(
                high_watermark=6,
                low_watermark=3,
                token_counter=count_messages,
                on_cut=cuts.append,
            )
        ],
    )
    config: RunnableConfig = {"configurable": {"thread_id": "t"}}

    for turn in range(1, 6):
        agent.invoke({"messages": [HumanMessage(f"question {turn}")]}, config)

    assert cuts == [
        TrimCut(at=7, first_kept=5, tokens_before=7, tokens_after=3, pinned_tokens=1)
    ]
    assert texts(model.received[4]) == [
        ("system", "Be terse."),
        ("human", "question 3"),
        ("ai", "answer 3"),
        ("human", "question 4"),
        ("ai", "answer 4"),
        ("human", "question 5"),
    ]


def anthropic_layout(**options: Any) -> CacheLayoutMiddleware:
    return CacheLayoutMiddleware(
        provider="anthropic", min_cacheable_tokens=0, **options
    )


def test_anthropic_breakpoints_mark_system_and_tail() -> None:
    model = scripted("hello")
    agent = create_agent(
        model, system_prompt="Be terse.", middleware=[anthropic_layout()]
    )

    agent.invoke({"messages": [HumanMessage("hi")]})

    system, human = model.received[0]
    assert system.content == [
        {"type": "text", "text": "Be terse.", "cache_control": EPHEMERAL}
    ]
    assert human.content == [{"type": "text", "text": "hi", "cache_control": EPHEMERAL}]


def test_anthropic_tools_are_sorted_and_the_last_one_marked() -> None:
    model = scripted("hello")
    agent = create_agent(
        model, tools=[read_file, grep], middleware=[anthropic_layout()]
    )

    agent.invoke({"messages": [HumanMessage("hi")]})

    tools: list[BaseTool] = model.call_kwargs[0]["tools"]
    assert [(t.name, t.extras) for t in tools] == [
        ("grep", None),
        ("read_file", {"cache_control": EPHEMERAL}),
    ]


def test_the_second_call_repeats_the_first_up_to_its_breakpoint() -> None:
    model = scripted(read_call(), "done")
    agent = create_agent(
        model,
        tools=[read_file],
        system_prompt="Read files.",
        middleware=[anthropic_layout()],
    )

    agent.invoke({"messages": [HumanMessage("read a.txt")]})

    first, second = model.received
    assert second[: len(first)] == first
    assert second[-1].content == [
        {
            "type": "tool_result",
            "content": "contents of a.txt",
            "tool_use_id": "call_1",
            "is_error": False,
            "cache_control": EPHEMERAL,
        }
    ]


def test_openai_calls_get_a_prompt_cache_key_per_agent_and_node() -> None:
    model = scripted("hello")
    agent = create_agent(
        model, name="support", middleware=[CacheLayoutMiddleware(provider="openai")]
    )

    agent.invoke({"messages": [HumanMessage("hi")]})

    assert model.call_kwargs[0]["prompt_cache_key"] == "lgt-c68d200338d10730"


def test_volatile_lines_move_after_the_conversation() -> None:
    model = scripted("hello")
    prompt = "Be terse.\nNow: 2026-05-07T10:14:03Z\nAnswer in English."
    agent = create_agent(
        model,
        system_prompt=prompt,
        middleware=[CacheLayoutMiddleware(provider="openai", move_volatile=True)],
    )

    result = agent.invoke({"messages": [HumanMessage("hi")]})

    assert texts(model.received[0]) == [
        ("system", "Be terse.\nAnswer in English."),
        ("human", "hi"),
        ("human", "<context>\nNow: 2026-05-07T10:14:03Z\n</context>"),
    ]
    assert texts(result["messages"][:1]) == [("human", "hi")]


def test_volatile_lines_stay_when_the_request_ends_with_a_prefill() -> None:
    layout = CacheLayoutMiddleware(provider="openai", move_volatile=True)
    system = SystemMessage("Be terse.\nNow: 2026-05-07T10:14:03Z")
    call = ModelCall(system=[system], messages=[AIMessage("Sure")], tools=[])

    shaped = layout.shape_call(call, model=None, scope=CallScope("a", "model"))

    assert texts(shaped.history) == [
        ("system", "Be terse.\nNow: 2026-05-07T10:14:03Z"),
        ("ai", "Sure"),
    ]


def test_each_call_is_reported() -> None:
    reports: list[CacheLayoutReport] = []
    agent = create_agent(
        scripted("hello"),
        name="support",
        system_prompt="Be terse.",
        middleware=[anthropic_layout(on_layout=reports.append)],
    )

    agent.invoke({"messages": [HumanMessage("hi")]})

    (report,) = reports
    assert (report.scope.agent, report.scope.node, report.provider) == (
        "support",
        "model",
        "anthropic",
    )
    assert [b.role for b in report.breakpoints] == ["system", "tail"]


def test_trim_then_layout_compose_in_list_order() -> None:
    model = scripted("answer 4")
    agent = create_agent(
        model,
        system_prompt="Be terse.",
        middleware=[
            ContextTrimMiddleware(max_tokens=3, token_counter=count_messages),
            anthropic_layout(),
        ],
    )

    agent.invoke({"messages": [*past_turns(3), HumanMessage("question 4")]})

    assert [m.type for m in model.received[0]] == ["system", "ai", "human"]
    assert model.received[0][-1].content == [
        {"type": "text", "text": "question 4", "cache_control": EPHEMERAL}
    ]


async def test_the_middleware_work_asynchronously() -> None:
    model = scripted("answer 4")
    agent = create_agent(
        model,
        system_prompt="Be terse.",
        middleware=[
            ContextTrimMiddleware(max_tokens=3, token_counter=count_messages),
            anthropic_layout(),
        ],
    )

    await agent.ainvoke({"messages": [*past_turns(3), HumanMessage("question 4")]})

    assert [m.type for m in model.received[0]] == ["system", "ai", "human"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "give max_tokens, watermarks or clear_tool_results_keep_last"),
        (
            {"high_watermark": 10},
            "give both high_watermark and low_watermark, or neither",
        ),
        (
            {"max_tokens": 5, "high_watermark": 10, "low_watermark": 5},
            "give max_tokens or watermarks, not both",
        ),
    ],
)
def test_trim_options_are_checked_at_construction(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        ContextTrimMiddleware(**options)

    assert str(raised.value) == message


def test_a_system_message_in_the_state_is_trimmed_like_a_pinned_one() -> None:
    model = scripted("answer 3")
    agent = create_agent(
        model,
        middleware=[ContextTrimMiddleware(max_tokens=2, token_counter=count_messages)],
    )

    agent.invoke(
        {"messages": [SystemMessage("Be terse."), *past_turns(2), HumanMessage("q")]}
    )

    assert texts(model.received[0]) == [("system", "Be terse."), ("human", "q")]
