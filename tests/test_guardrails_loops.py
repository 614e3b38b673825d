"""Runaway tool loops and prompt growth: stopped at the limit, or warned once."""

from __future__ import annotations

from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool

from langgraph_tokenomics import CallRequest, ConfigurationError
from langgraph_tokenomics import TokenomicsCallbackHandler as Handler
from langgraph_tokenomics._guardrails import (
    PromptGrowthError,
    RunawayEvent,
    RunawayGuard,
    RunawayLoopError,
    RunawayWarning,
    arguments_digest,
)
from langgraph_tokenomics._guards import ToolCallEvent

from .fakes import ScriptedChatModel, usage

searches: list[str] = []


@tool
def search(query: str) -> str:
    """Search the web."""
    searches.append(query)
    return "no results"


def search_again() -> AIMessage:
    return AIMessage(
        "",
        tool_calls=[{"name": "search", "args": {"query": "cache"}, "id": "c1"}],
        usage_metadata=usage(50, 10),
        response_metadata={"model_name": "scripted-model"},
    )


def run_loop(model: ScriptedChatModel, guard: RunawayGuard) -> None:
    searches.clear()
    agent = create_agent(model, tools=[search])
    config: Any = {
        "callbacks": [Handler(guards=[guard])],
        "configurable": {"thread_id": "t1"},
        "recursion_limit": 100,
    }
    agent.invoke({"messages": [HumanMessage("find it")]}, config)


def test_ten_identical_tool_calls_are_stopped_at_the_limit():
    model = ScriptedChatModel(replies=[search_again()])  # calls search forever

    with pytest.raises(RunawayLoopError) as raised:
        run_loop(model, RunawayGuard(max_identical_tool_calls=5))

    assert str(raised.value) == (
        "tool 'search' was called 6 times with the same arguments in thread 't1' "
        "(limit 5)"
    )
    assert searches == ["cache"] * 5
    assert len(model.seen) == 6


def test_a_warning_loop_goes_on_and_warns_once():
    done = AIMessage("gave up", usage_metadata=usage(50, 2))
    model = ScriptedChatModel(replies=[search_again()] * 10 + [done])
    events: list[RunawayEvent] = []
    guard = RunawayGuard(max_identical_tool_calls=5, action="warn")
    guard.on_runaway = events.append

    with pytest.warns(RunawayWarning, match="called 6 times") as shown:
        run_loop(model, guard)

    assert len(shown) == 1
    assert searches == ["cache"] * 10
    assert [event.observed for event in events] == [6, 7, 8, 9, 10]


def tool_call(arguments: str, thread: str | None = "t1") -> ToolCallEvent:
    return ToolCallEvent(
        tool="search", arguments=arguments, run_id="r", thread_id=thread
    )


def test_argument_key_order_does_not_hide_a_loop():
    guard = RunawayGuard(max_identical_tool_calls=1)
    guard.on_tool_call(tool_call('{"a": 1, "b": 2}'))

    with pytest.raises(RunawayLoopError):
        guard.on_tool_call(tool_call("{'b': 2, 'a': 1}"))


def test_other_arguments_and_threads_count_apart():
    guard = RunawayGuard(max_identical_tool_calls=1)

    for event in (
        tool_call("{'a': 1}"),
        tool_call("{'a': 2}"),
        tool_call("{'a': 1}", "t2"),
    ):
        guard.on_tool_call(event)


def test_the_event_keeps_a_digest_never_the_arguments():
    events: list[RunawayEvent] = []
    guard = RunawayGuard(
        max_identical_tool_calls=1, action="warn", on_runaway=events.append
    )
    secret = "{'password': 'hunter2'}"

    with pytest.warns(RunawayWarning):
        guard.on_tool_call(tool_call(secret))
        guard.on_tool_call(tool_call(secret))

    assert events[0].arguments_digest == arguments_digest("search", secret)
    assert "hunter2" not in repr(events[0]) + repr(guard.__dict__)


def test_reset_forgets_a_thread():
    guard = RunawayGuard(max_identical_tool_calls=1)
    guard.on_tool_call(tool_call("{}"))

    guard.reset("t1")

    guard.on_tool_call(tool_call("{}"))


def prompt(tokens: int) -> CallRequest:
    return CallRequest(
        run_id="r",
        thread_id="t1",
        node="agent",
        node_path=("agent",),
        input_tokens=tokens,
    )


def test_prompt_growth_past_the_limit_halts_before_the_call():
    guard = RunawayGuard(max_prompt_growth=5_000)
    guard.before_call(prompt(1_000))
    guard.before_call(prompt(6_000))

    with pytest.raises(PromptGrowthError) as raised:
        guard.before_call(prompt(11_001))

    assert str(raised.value) == (
        "the prompt of node 'agent' in thread 't1' grew by 5,001 tokens in one "
        "turn (6,000 -> 11,001; limit 5,000)"
    )


def test_prompt_growth_can_warn_instead():
    guard = RunawayGuard(max_prompt_growth=10, action="warn")
    guard.before_call(prompt(0))

    with pytest.warns(RunawayWarning, match="grew by 11 tokens"):
        guard.before_call(prompt(11))


def test_limits_below_one_are_refused():
    with pytest.raises(ConfigurationError, match="max_prompt_growth must be >= 1"):
        RunawayGuard(max_prompt_growth=0)
