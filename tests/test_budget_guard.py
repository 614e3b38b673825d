"""An ``end`` budget finishes a create_agent run with a final message."""

from __future__ import annotations

from decimal import Decimal

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool

from langgraph_tokenomics import (
    Budget,
    BudgetExceededError,
    ModelPrice,
    PriceBook,
    TokenomicsCallbackHandler,
)
from langgraph_tokenomics.middleware._budget_guard import BudgetGuardMiddleware

from .fakes import ScriptedChatModel, WordCounter, usage

PRICES = PriceBook(
    overrides={"scripted-model": ModelPrice(input=Decimal("3"), output=Decimal("15"))},
    use_genai_prices=False,
)


@tool
def lookup(term: str) -> str:
    """Look a term up."""
    return "definition " * 50


def tool_calling_model() -> ScriptedChatModel:
    call = AIMessage(
        "",
        tool_calls=[{"name": "lookup", "args": {"term": "x"}, "id": "c1"}],
        usage_metadata=usage(5300, 20),
        response_metadata={"model_name": "scripted-model"},
    )
    return ScriptedChatModel(replies=[call])


def run_agent(action: str):
    model = tool_calling_model()
    agent = create_agent(model, tools=[lookup], middleware=[BudgetGuardMiddleware()])
    # the first call is estimated at ~$0.0154 (1,024 output tokens assumed) and
    # fits; it costs $0.0162, so the second call cannot start
    spend = TokenomicsCallbackHandler(
        prices=PRICES,
        counter=WordCounter(),
        budgets=[Budget(limit_usd=Decimal("0.016"), action=action)],
    )
    result = agent.invoke(
        {"messages": [HumanMessage("define x")]},
        {"callbacks": [spend]},
    )
    return model, spend, result


def test_end_budget_answers_with_a_final_message():
    model, spend, result = run_agent("end")

    final = result["messages"][-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert final.content.startswith(
        "I stopped here: the next step would pass this agent's budget (budget for run "
    )
    assert len(model.seen) == 1
    assert spend.total_cost == Decimal("0.0162")


def test_raise_budget_still_raises_through_the_guard():
    with pytest.raises(BudgetExceededError):
        run_agent("raise")
