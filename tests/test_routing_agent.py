"""Routing in real graphs: create_agent middleware and the StateGraph wrapper."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypedDict

import pytest
from langchain.agents import create_agent
from langchain.chat_models import init_chat_model
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, StateGraph

from langgraph_tokenomics import (
    Budget,
    BudgetSoftLimitWarning,
    ModelPrice,
    PriceBook,
    TokenomicsCallbackHandler,
)
from langgraph_tokenomics._routing import Router, RoutingPolicy, RoutingRule
from langgraph_tokenomics.local_provider import (
    LocalProviderServer,
    ProviderRequest,
    Reply,
    ToolCallReply,
)
from langgraph_tokenomics.middleware._routing import RoutingMiddleware, route_model

from .fakes import ScriptedChatModel, WordCounter, reply

PRICES = PriceBook(
    overrides={
        "big": ModelPrice(
            input=Decimal("3"), cache_read=Decimal("0.3"), output=Decimal("15")
        ),
        "small": ModelPrice(
            input=Decimal("1"), cache_read=Decimal("0.1"), output=Decimal("5")
        ),
    },
    use_genai_prices=False,
)


@tool
def lookup(term: str) -> str:
    """Look a term up."""
    return f"{term} is a word"


def look_up_then_answer(request: ProviderRequest) -> Reply:
    if request.messages[-1]["role"] == "tool":
        return Reply(text="done")
    return Reply(tool_calls=(ToolCallReply("lookup", {"term": "cache"}),))


@pytest.fixture
def server() -> Any:
    with LocalProviderServer(look_up_then_answer) as running:
        yield running


def local(server: LocalProviderServer) -> dict[str, Any]:
    return {"base_url": server.openai_base_url, "api_key": "local", "max_retries": 0}


def test_create_agent_calls_the_mapped_model(server: LocalProviderServer):
    router = Router(
        RoutingPolicy(models={"researcher": "openai:gpt-5.4-mini"}),
        init_kwargs=local(server),
    )
    agent = create_agent(
        init_chat_model("openai:gpt-5.4", **local(server)),
        tools=[lookup],
        name="researcher",
        middleware=[RoutingMiddleware(router)],
    )
    spend = TokenomicsCallbackHandler()

    agent.invoke({"messages": [HumanMessage("define cache")]}, {"callbacks": [spend]})

    assert [call.model for call in server.calls] == ["gpt-5.4-mini", "gpt-5.4-mini"]
    assert [record.model for record in spend.records] == ["gpt-5.4-mini"] * 2
    decision = router.decision_for(spend.records[0].run_id)
    assert decision is not None
    assert (decision.routed_from, decision.reason) == ("gpt-5.4", "agent 'researcher'")


def test_a_run_budget_soft_limit_downgrades_the_next_call(
    server: LocalProviderServer,
):
    router = Router(RoutingPolicy(downgrade={"*": "openai:gpt-5.4-mini"}))
    router.init_kwargs.update(local(server))
    budget = Budget(
        limit_usd=Decimal("1"),
        soft_limit=Decimal("0.000001"),
        name="run",
        on_soft_limit=router.on_soft_limit,
    )
    agent = create_agent(
        init_chat_model("openai:gpt-5.4", **local(server)),
        tools=[lookup],
        middleware=[RoutingMiddleware(router)],
    )
    spend = TokenomicsCallbackHandler(budgets=[budget])

    with pytest.warns(BudgetSoftLimitWarning, match="passed its soft limit"):
        agent.invoke(
            {"messages": [HumanMessage("define cache")]}, {"callbacks": [spend]}
        )

    assert [call.model for call in server.calls] == ["gpt-5.4", "gpt-5.4-mini"]
    second = router.decision_for(spend.records[1].run_id)
    assert second is not None
    assert second.reason.startswith("soft limit of budget 'run' for run ")


async def test_the_async_agent_is_routed_too(server: LocalProviderServer):
    router = Router(
        RoutingPolicy(models={"model": "openai:gpt-5.4-nano"}),
        init_kwargs=local(server),
    )
    agent = create_agent(
        init_chat_model("openai:gpt-5.4", **local(server)),
        tools=[lookup],
        middleware=[RoutingMiddleware(router)],
    )

    await agent.ainvoke({"messages": [HumanMessage("define cache")]})

    assert [call.model for call in server.calls] == ["gpt-5.4-nano"] * 2


def conversation_agent(
    router: Router, big: ScriptedChatModel
) -> tuple[Any, TokenomicsCallbackHandler]:
    budget = Budget(
        limit_usd=Decimal("10"),
        scope="thread",
        soft_limit=Decimal("0.01"),
        name="chat",
        on_soft_limit=router.on_soft_limit,
    )
    spend = TokenomicsCallbackHandler(
        prices=PRICES, counter=WordCounter(), budgets=[budget]
    )
    agent = create_agent(
        big, middleware=[RoutingMiddleware(router)], checkpointer=InMemorySaver()
    )
    return agent, spend


def chat_router(small: ScriptedChatModel) -> Router:
    return Router(
        RoutingPolicy(downgrade={"big": "small"}),
        prices=PRICES,
        counter=WordCounter(),
        models={"small": small},
        expected_output_tokens=200,
    )


def talk(agent: Any, spend: TokenomicsCallbackHandler, words: int) -> None:
    config: Any = {"callbacks": [spend], "configurable": {"thread_id": "t1"}}
    agent.invoke({"messages": [HumanMessage("word " * words)]}, config)


def test_a_downgrade_never_switches_a_thread_whose_cache_is_worth_more():
    big = ScriptedChatModel(
        model_name="big",
        replies=[reply("ok", model="big", input_tokens=10_000, output_tokens=200)],
    )
    small = ScriptedChatModel(model_name="small", replies=[reply("ok", model="small")])
    router = chat_router(small)
    agent, spend = conversation_agent(router, big)
    with pytest.warns(BudgetSoftLimitWarning):
        talk(agent, spend, 10_000)  # costs $0.033: past the soft limit

    talk(agent, spend, 399)

    kept = router.decisions[-1]
    # saving: 10,400 x (3 - 1) + 200 x (15 - 5) per million = $0.0228
    # cache loss: the 10,000-token prefix at 3 instead of 0.3 = $0.027
    assert (kept.input_tokens, kept.cached_tokens) == (10_400, 10_000)
    assert (kept.saving, kept.cache_loss) == (Decimal("0.0228"), Decimal("0.027"))
    assert kept.reason == (
        "kept on big: saving $0.0228 <= cache loss $0.027 "
        "(soft limit of budget 'chat' for thread t1)"
    )
    assert (len(big.seen), len(small.seen)) == (2, 0)


def test_a_downgrade_switches_a_thread_whose_cache_is_worth_less():
    big = ScriptedChatModel(
        model_name="big",
        replies=[reply("ok", model="big", input_tokens=2_000, output_tokens=300)],
    )
    small = ScriptedChatModel(model_name="small", replies=[reply("ok", model="small")])
    router = chat_router(small)
    agent, spend = conversation_agent(router, big)
    with pytest.warns(BudgetSoftLimitWarning):
        talk(agent, spend, 2_000)  # costs $0.0105

    talk(agent, spend, 399)

    switched = router.decisions[-1]
    assert (switched.saving, switched.cache_loss) == (
        Decimal("0.0068"),
        Decimal("0.0054"),
    )
    assert switched.model == "small"
    assert (len(big.seen), len(small.seen)) == (1, 1)


class Draft(TypedDict):
    messages: list[BaseMessage]


def test_the_state_graph_wrapper_routes_each_node():
    big = ScriptedChatModel(model_name="big", replies=[answer("big")])
    small = ScriptedChatModel(model_name="small", replies=[answer("small")])
    router = Router(RoutingPolicy(models={"planner": "small"}), models={"small": small})
    model = route_model(big, router)

    def call_model(state: Draft) -> Draft:
        return {"messages": [*state["messages"], model.invoke(state["messages"])]}

    graph = StateGraph(Draft)
    graph.add_node("planner", call_model)
    graph.add_node("writer", call_model)
    graph.add_edge(START, "planner")
    graph.add_edge("planner", "writer")
    spend = TokenomicsCallbackHandler(prices=PRICES)

    graph.compile().invoke({"messages": [HumanMessage("go")]}, {"callbacks": [spend]})

    assert [r.node for r in spend.records] == ["planner", "writer"]
    assert [r.model for r in spend.records] == ["small", "big"]
    decisions = [router.decision_for(r.run_id) for r in spend.records]
    assert [d.reason for d in decisions if d] == ["node 'planner'", "default"]
    assert [(r.routed_from, r.routing_reason) for r in spend.records] == [
        ("big", "node 'planner'"),
        (None, "default"),
    ]


def test_the_wrapper_binds_tools_to_the_picked_model():
    big = ScriptedChatModel(model_name="big", replies=[answer("big")])
    small = ScriptedChatModel(model_name="small", replies=[answer("small")])
    policy = RoutingPolicy(rules=[RoutingRule(model="small", has_tools=True)])
    model = route_model(big, Router(policy, models={"small": small}))
    spend = TokenomicsCallbackHandler(prices=PRICES)

    model.bind_tools([lookup]).invoke("hi", {"callbacks": [spend]})

    assert (len(big.seen), len(small.seen)) == (0, 1)
    assert list(spend.records[0].tool_definition_tokens) == ["lookup"]


def answer(model: str) -> AIMessage:
    return reply("ok", model=model, input_tokens=5, output_tokens=1)


async def test_the_wrapper_routes_async_and_streamed_calls():
    big = ScriptedChatModel(model_name="big", replies=[answer("big")])
    small = ScriptedChatModel(model_name="small", replies=[answer("small")])
    router = Router(
        RoutingPolicy(rules=[RoutingRule(model="small")]), models={"small": small}
    )
    model = route_model(big, router)

    await model.ainvoke("one")
    chunks = [chunk async for chunk in model.astream("two")]
    chunks += list(model.stream("three"))

    assert len(small.seen) == 3
    assert len(big.seen) == 0
    assert "".join(str(chunk.content) for chunk in chunks) == "okok"
