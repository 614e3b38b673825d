"""The handler attributes each call to its node, path, tool, thread and tags."""

from __future__ import annotations

import asyncio
import operator
import uuid
from decimal import Decimal
from typing import Annotated, TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, LLMResult
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import Send

from langgraph_tokenomics import (
    EstimatedUsageWarning,
    ModelPrice,
    PriceBook,
    TokenomicsCallbackHandler,
)

from .fakes import ScriptedChatModel, reply

PRICES = PriceBook(
    overrides={
        "scripted-model": ModelPrice(input=Decimal("2"), output=Decimal("8")),
        "cheap-model": ModelPrice(input=Decimal("0.5"), output=Decimal("1")),
    },
    use_genai_prices=False,
)


def handler(**kwargs) -> TokenomicsCallbackHandler:
    return TokenomicsCallbackHandler(prices=PRICES, **kwargs)


def test_record_per_call_with_node_thread_and_tags():
    model = ScriptedChatModel(replies=[reply(input_tokens=1000, output_tokens=100)])
    graph = StateGraph(MessagesState)
    graph.add_node("planner", lambda s: {"messages": [model.invoke(s["messages"])]})
    graph.add_edge(START, "planner")
    spend = handler(tags={"team": "research", "agent": "planner-bot"})

    graph.compile().invoke(
        {"messages": [HumanMessage("plan")]},
        {
            "callbacks": [spend],
            "configurable": {"thread_id": "t-1"},
            "metadata": {"team": "growth", "user": "u-7"},
        },
    )

    [record] = spend.records
    assert (record.node, record.node_path, record.step) == ("planner", ("planner",), 1)
    assert record.thread_id == "t-1"
    assert record.tags == {"team": "growth", "agent": "planner-bot", "user": "u-7"}
    assert (record.model, record.provider) == ("scripted-model", "openai")
    assert record.cost == Decimal("0.0028")  # 1000 x $2 + 100 x $8 per million
    assert (record.input_cost, record.output_cost) == (
        Decimal("0.002"),
        Decimal("0.0008"),
    )
    assert spend.total_cost == Decimal("0.0028")


def test_subgraph_calls_carry_the_node_path():
    model = ScriptedChatModel(replies=[reply(input_tokens=10, output_tokens=1)])
    inner = StateGraph(MessagesState)
    inner.add_node("agent", lambda s: {"messages": [model.invoke(s["messages"])]})
    inner.add_edge(START, "agent")
    outer = StateGraph(MessagesState)
    outer.add_node("research", inner.compile())
    outer.add_edge(START, "research")
    spend = handler()

    outer.compile().invoke({"messages": [HumanMessage("go")]}, {"callbacks": [spend]})

    [record] = spend.records
    assert record.node == "agent"
    assert record.node_path == ("research", "agent")
    assert spend.breakdown(by="node_path")[0].key == "research / agent"


def test_a_model_call_inside_a_tool_is_charged_to_the_tool():
    model = ScriptedChatModel(replies=[reply(input_tokens=50, output_tokens=5)])

    @tool
    def summarize(text: str) -> str:
        """Summarize text with a model."""
        return str(model.invoke(text).content)

    def use_tool(state):
        return {"messages": [AIMessage(summarize.invoke({"text": "long text"}))]}

    graph = StateGraph(MessagesState)
    graph.add_node("writer", use_tool)
    graph.add_edge(START, "writer")
    spend = handler()

    graph.compile().invoke({"messages": []}, {"callbacks": [spend]})

    [record] = spend.records
    assert (record.node, record.tool) == ("writer", "summarize")


class FanOut(TypedDict):
    topics: list[str]
    results: Annotated[list[str], operator.add]


def test_send_fan_out_attributes_each_branch_and_sums_exactly():
    models = {
        "expensive": ScriptedChatModel(
            replies=[reply(input_tokens=3000, output_tokens=300)]
        ),
        "cheap": ScriptedChatModel(
            model_name="cheap-model",
            replies=[reply(input_tokens=100, output_tokens=10, model="cheap-model")],
        ),
    }

    def research(state):
        topic = state["topic"]
        model = models["expensive" if topic.startswith("deep") else "cheap"]
        return {"results": [model.invoke(topic).content]}

    graph = StateGraph(FanOut)
    graph.add_node("research", research)
    graph.add_node("fan", lambda s: {})
    graph.add_edge(START, "fan")
    graph.add_conditional_edges(
        "fan", lambda s: [Send("research", {"topic": t}) for t in s["topics"]]
    )
    spend = handler()
    topics = ["deep-a", "deep-b", "quick-a", "quick-b", "quick-c", "deep-c"]

    graph.compile().invoke({"topics": topics, "results": []}, {"callbacks": [spend]})

    assert len(spend.records) == 6
    assert {r.node for r in spend.records} == {"research"}
    by_model = spend.breakdown(by="model")
    assert by_model.row("scripted-model").cost == Decimal("0.0252")  # 3 x 0.0084
    assert by_model.row("cheap-model").cost == Decimal("0.00018")  # 3 x 0.00006
    assert spend.total_cost == Decimal("0.02538")


def test_concurrent_ainvokes_attribute_to_their_own_thread_and_node():
    models = {
        name: ScriptedChatModel(replies=[reply(input_tokens=tokens, output_tokens=1)])
        for name, tokens in (("a", 100), ("b", 7000))
    }

    def build(name: str):
        async def node(state):
            await asyncio.sleep(0.01)
            message = await models[name].ainvoke(state["messages"])
            await asyncio.sleep(0.01)
            return {"messages": [message]}

        graph = StateGraph(MessagesState)
        graph.add_node(f"node_{name}", node)
        graph.add_edge(START, f"node_{name}")
        return graph.compile()

    spend = handler()

    async def run_both():
        await asyncio.gather(
            *[
                build(name).ainvoke(
                    {"messages": [HumanMessage("hi")]},
                    {"callbacks": [spend], "configurable": {"thread_id": f"t-{name}"}},
                )
                for name in ("a", "b", "a", "b")
            ]
        )

    asyncio.run(run_both())

    assert sorted((r.node, r.thread_id, r.input_tokens) for r in spend.records) == [
        ("node_a", "t-a", 100),
        ("node_a", "t-a", 100),
        ("node_b", "t-b", 7000),
        ("node_b", "t-b", 7000),
    ]


def test_a_duplicated_end_event_counts_once():
    spend = handler()
    run_id = uuid.uuid4()
    message = reply(input_tokens=1000, output_tokens=10)
    result = LLMResult(generations=[[ChatGeneration(message=message)]])

    spend.on_chat_model_start(
        {}, [[HumanMessage("hi")]], run_id=run_id, metadata={"langgraph_node": "n"}
    )
    spend.on_llm_end(result, run_id=run_id)
    spend.on_llm_end(result, run_id=run_id)

    assert len(spend.records) == 1
    assert spend.total_cost == Decimal("0.00208")


def test_stream_without_usage_is_estimated_and_marked():
    model = ScriptedChatModel(replies=[reply("four words of output")])
    spend = handler()

    chunks = list(
        model.stream("count these words please", config={"callbacks": [spend]})
    )
    with pytest.warns(EstimatedUsageWarning, match="returned no usage"):
        [record] = spend.records  # records are built when read

    assert "".join(str(c.content) for c in chunks) == "four words of output"
    assert record.estimated is True
    assert record.output_tokens == 4
    assert record.input_tokens > 0
    assert record.cost is not None and record.cost > 0


def test_streamed_usage_in_the_last_chunk_is_taken_once():
    model = ScriptedChatModel(
        replies=[reply("hello", input_tokens=500, output_tokens=20)]
    )
    spend = handler()

    list(model.stream("hi", config={"callbacks": [spend]}))

    [record] = spend.records
    assert (record.input_tokens, record.output_tokens, record.estimated) == (
        500,
        20,
        False,
    )


def test_cumulative_streamed_usage_is_not_added_up():
    message = reply("hello")
    message.additional_kwargs["stream_usages"] = [
        {"input_tokens": 500, "output_tokens": 1, "total_tokens": 501},
        {"input_tokens": 500, "output_tokens": 20, "total_tokens": 520},
    ]
    model = ScriptedChatModel(replies=[message])
    spend = handler()

    list(model.stream("hi", config={"callbacks": [spend]}))

    [record] = spend.records
    assert (record.input_tokens, record.output_tokens) == (500, 20)


def test_tool_definitions_and_carried_results_are_measured_per_tool():
    @tool
    def search(query: str) -> str:
        """Search the corpus for a query and return the best passages."""
        return ""

    model = ScriptedChatModel(replies=[reply(input_tokens=900, output_tokens=9)])
    bound = model.bind_tools([search])
    history = [
        HumanMessage("find it"),
        AIMessage(
            "", tool_calls=[{"name": "search", "args": {"query": "x"}, "id": "c1"}]
        ),
        ToolMessage("passage " * 40, tool_call_id="c1"),
    ]
    spend = handler()

    bound.invoke(history, config={"callbacks": [spend]})

    [record] = spend.records
    assert set(record.tool_definition_tokens) == {"search"}
    assert record.tool_definition_tokens["search"] > 10
    assert set(record.carried_tool_tokens) == {"search"}
    assert record.carried_tool_tokens["search"] == spend.counter.count_message(
        history[2]
    )


@pytest.mark.parametrize(
    "by", ["node", "node_path", "tool", "model", "thread", "run", "team"]
)
def test_every_grouping_sums_to_the_total(by):
    model = ScriptedChatModel(
        replies=[
            reply(input_tokens=n, output_tokens=n // 10) for n in (123, 4567, 89, 1011)
        ]
    )
    graph = StateGraph(MessagesState)
    for name in ("a", "b", "c"):
        graph.add_node(name, lambda s: {"messages": [model.invoke(s["messages"])]})
    graph.add_edge(START, "a")
    graph.add_edge("a", "b")
    graph.add_edge("b", "c")
    compiled = graph.compile()
    spend = handler()
    for thread, team in (("t1", "x"), ("t2", "y"), ("t3", "x")):
        compiled.invoke(
            {"messages": [HumanMessage("go")]},
            {
                "callbacks": [spend],
                "configurable": {"thread_id": thread},
                "metadata": {"team": team},
            },
        )

    rows = spend.breakdown(by=by)
    assert sum(row.cost for row in rows) == spend.total_cost
    assert sum(row.calls for row in rows) == 9
    assert sum(row.input_tokens for row in rows) == sum(
        r.input_tokens for r in spend.records
    )


def test_a_stream_left_early_is_recorded_as_estimated_and_charged():
    from langgraph_tokenomics import Budget

    model = ScriptedChatModel(replies=[reply("one two three four five six")])
    spend = handler(budgets=[Budget(limit_usd=Decimal("1"), scope="global")])

    for chunk in model.stream(
        "a question of five words", config={"callbacks": [spend]}
    ):
        assert chunk.content
        break

    [record] = spend.records
    assert (record.estimated, record.error) == (True, "GeneratorExit")
    assert record.output_tokens > 0 and record.cost is not None
    [key] = spend.budgets.backend.keys()
    assert spend.budgets.backend.reserved(key) == Decimal(0)
    assert spend.budgets.backend.spent(key) == record.cost


def test_a_group_of_unpriced_calls_has_no_cost_in_plain_rows():
    from langgraph_tokenomics import UnpricedModelWarning

    known = ScriptedChatModel(replies=[reply(input_tokens=1000, output_tokens=0)])
    unknown = ScriptedChatModel(
        model_name="prod-deployment",
        replies=[reply(input_tokens=1000, output_tokens=0, model="prod-deployment")],
    )
    spend = handler()
    known.invoke("hi", config={"callbacks": [spend]})
    unknown.invoke("hi", config={"callbacks": [spend]})

    with pytest.warns(UnpricedModelWarning):
        rows = {row["key"]: row for row in spend.breakdown(by="model").to_rows()}

    assert rows["prod-deployment"]["cost"] is None
    assert rows["prod-deployment"]["unpriced_calls"] == 1
    assert rows["scripted-model"]["cost"] == Decimal("0.002")


def test_grouping_by_a_tag_no_call_has_names_the_choices():
    from langgraph_tokenomics import ConfigurationError

    model = ScriptedChatModel(replies=[reply(input_tokens=10, output_tokens=1)])
    spend = handler(tags={"team": "search"})
    model.invoke("hi", config={"callbacks": [spend]})

    with pytest.raises(ConfigurationError) as refused:
        spend.breakdown(by="taem")

    assert str(refused.value) == (
        "no call has a tag 'taem'; group by one of node, node_path, tool, model, "
        "provider, thread, run, day or a tag the calls carry: team"
    )
