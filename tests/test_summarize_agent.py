"""Summaries in real graphs: recorded like any call, made once per cut."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AnyMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph

from langgraph_tokenomics import TokenomicsCallbackHandler
from langgraph_tokenomics.middleware import (
    ContextTrimMiddleware,
    TrimCut,
    shape_model,
)

from .fakes import ScriptedChatModel, reply

THREAD: RunnableConfig = {"configurable": {"thread_id": "t"}}


def agent_model() -> ScriptedChatModel:
    answer = reply("ok", model="claude-sonnet-4-6", input_tokens=50, output_tokens=5)
    return ScriptedChatModel(
        model_name="claude-sonnet-4-6", provider="anthropic", replies=[answer]
    )


def summary_model() -> ScriptedChatModel:
    replies = [
        reply(f"summary {n}", model="gpt-5.4-nano", input_tokens=40, output_tokens=8)
        for n in range(1, 4)
    ]
    return ScriptedChatModel(model_name="gpt-5.4-nano", replies=replies)


def count_messages(messages: Sequence[BaseMessage]) -> int:
    return len(messages)


def trimming(summarizer: ScriptedChatModel, **options: Any) -> ContextTrimMiddleware:
    return ContextTrimMiddleware(
        high_watermark=6,
        low_watermark=3,
        token_counter=count_messages,
        summary_model=summarizer,
        **options,
    )


def run_turns(agent: Any, turns: int, spend: TokenomicsCallbackHandler) -> None:
    for turn in range(1, turns + 1):
        config: RunnableConfig = {**THREAD, "callbacks": [spend]}
        agent.invoke({"messages": [HumanMessage(f"question {turn}")]}, config)


def summarizing_agent(
    model: ScriptedChatModel, summarizer: ScriptedChatModel, **options: Any
) -> Any:
    return create_agent(
        model,
        system_prompt="Be terse.",
        checkpointer=InMemorySaver(),
        middleware=[trimming(summarizer, **options)],
    )


def test_the_summary_call_is_recorded_in_the_agent_node() -> None:
    spend = TokenomicsCallbackHandler()
    agent = summarizing_agent(agent_model(), summary_model())

    run_turns(agent, 4, spend)

    assert [(r.node, r.model) for r in spend.records] == [
        ("model", "claude-sonnet-4-6"),
        ("model", "claude-sonnet-4-6"),
        ("model", "claude-sonnet-4-6"),
        ("model", "gpt-5.4-nano"),
        ("model", "claude-sonnet-4-6"),
    ]


def test_the_summary_call_is_priced_as_the_summary_model() -> None:
    spend = TokenomicsCallbackHandler()
    agent = summarizing_agent(agent_model(), summary_model())

    run_turns(agent, 4, spend)

    summary = next(r for r in spend.records if r.model == "gpt-5.4-nano")
    assert (summary.input_tokens, summary.output_tokens, summary.provider) == (
        40,
        8,
        "openai",
    )
    assert summary.cost is not None


def test_each_cut_is_summarized_once() -> None:
    cuts: list[TrimCut] = []
    summarizer = summary_model()
    agent = summarizing_agent(agent_model(), summarizer, on_cut=cuts.append)

    run_turns(agent, 8, TokenomicsCallbackHandler())

    assert [cut.at for cut in cuts] == [7, 11, 15]
    assert len(summarizer.seen) == 3


def test_requests_between_two_cuts_extend_the_previous_one() -> None:
    model = agent_model()
    agent = summarizing_agent(model, summary_model())

    run_turns(agent, 5, TokenomicsCallbackHandler())

    fourth, fifth = model.seen[3], model.seen[4]
    assert fifth[: len(fourth)] == fourth
    assert (
        fourth[1].content
        == "<conversation_summary>\nsummary 1\n</conversation_summary>"
    )


def test_the_summary_model_never_sees_the_system_prompt() -> None:
    summarizer = summary_model()
    agent = summarizing_agent(agent_model(), summarizer)

    run_turns(agent, 4, TokenomicsCallbackHandler())

    (prompt,) = summarizer.seen
    assert "Be terse." not in prompt[0].text
    assert '<message type="human">question 1</message>' in prompt[0].text


def test_the_agent_state_keeps_the_whole_history() -> None:
    agent = summarizing_agent(agent_model(), summary_model())

    run_turns(agent, 4, TokenomicsCallbackHandler())

    state = agent.get_state(THREAD).values["messages"]
    assert [m.content for m in state[:2]] == ["question 1", "ok"]
    assert len(state) == 8


async def test_the_async_agent_awaits_the_summary() -> None:
    spend = TokenomicsCallbackHandler()
    agent = summarizing_agent(agent_model(), summary_model())

    for turn in range(1, 5):
        config: RunnableConfig = {**THREAD, "callbacks": [spend]}
        await agent.ainvoke({"messages": [HumanMessage(f"q {turn}")]}, config)

    assert [r.model for r in spend.records].count("gpt-5.4-nano") == 1


def test_summary_tokens_are_not_streamed_as_agent_messages() -> None:
    summarizer = summary_model()
    agent = summarizing_agent(agent_model(), summarizer)
    run_turns(agent, 3, TokenomicsCallbackHandler())

    streamed = list(
        agent.stream(
            {"messages": [HumanMessage("question 4")]}, THREAD, stream_mode="messages"
        )
    )

    assert len(summarizer.seen) == 1
    assert {meta["ls_model_name"] for _, meta in streamed} == {"claude-sonnet-4-6"}


def test_a_shaped_model_in_a_state_graph_records_the_summary_in_its_node() -> None:
    spend = TokenomicsCallbackHandler()
    shaped = shape_model(
        agent_model(),
        ContextTrimMiddleware(max_tokens=2, summary_model=summary_model()),
    )

    def respond(state: MessagesState) -> dict[str, Any]:
        return {"messages": [shaped.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("respond", respond)
    graph.add_edge(START, "respond")
    graph.add_edge("respond", END)
    history: list[AnyMessage] = [
        HumanMessage("question 1"),
        HumanMessage("question 2"),
        HumanMessage("question 3"),
    ]
    graph.compile().invoke({"messages": history}, {"callbacks": [spend]})

    assert [(r.node, r.model) for r in spend.records] == [
        ("respond", "gpt-5.4-nano"),
        ("respond", "claude-sonnet-4-6"),
    ]


def test_a_shaped_model_outside_a_graph_passes_its_callbacks_to_the_summary() -> None:
    spend = TokenomicsCallbackHandler()
    shaped = shape_model(
        agent_model(),
        ContextTrimMiddleware(max_tokens=2, summary_model=summary_model()),
    )
    history: list[AnyMessage] = [
        HumanMessage("question 1"),
        HumanMessage("question 2"),
        HumanMessage("question 3"),
    ]

    shaped.invoke(history, {"callbacks": [spend]})

    assert [r.model for r in spend.records] == ["gpt-5.4-nano", "claude-sonnet-4-6"]
