"""Cost anomalies: per-node baselines of calls and runs, warn once, hook, halt."""

from __future__ import annotations

from decimal import Decimal
from typing import TypedDict

import pytest
from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.graph import START, StateGraph

from langgraph_tokenomics import (
    ConfigurationError,
    ModelPrice,
    PriceBook,
    TokenomicsCallbackHandler,
    UsageRecord,
)
from langgraph_tokenomics._guardrails import (
    CostAnomaly,
    CostAnomalyError,
    CostAnomalyGuard,
    CostAnomalyWarning,
)

from .fakes import ScriptedChatModel, reply


def call(cost: str, *, run: str = "run-1", node: str = "writer") -> UsageRecord:
    return UsageRecord(
        run_id=f"call-{cost}-{run}",
        root_run_id=run,
        node=node,
        cost=Decimal(cost),
        tags={"agent": "briefs"},
    )


def test_a_call_beyond_the_multiple_warns_once_and_calls_the_hook():
    anomalies: list[CostAnomaly] = []
    guard = CostAnomalyGuard(multiple=3, min_samples=5, on_anomaly=anomalies.append)
    for cost in ("0.01", "0.01", "0.02", "0.01", "0.01"):
        guard.after_call(call(cost, run=cost))

    with pytest.warns(CostAnomalyWarning) as shown:
        guard.after_call(call("0.05", run="big"))
        guard.after_call(call("0.06", run="bigger"))

    assert len(shown) == 1
    assert str(shown[0].message) == (
        "a call in node 'writer' of agent 'briefs' cost $0.05, 5.0x its baseline "
        "of $0.01 per call (limit 3x, median of 5 calls)"
    )
    assert [(a.kind, a.cost, a.baseline) for a in anomalies] == [
        ("call", Decimal("0.05"), Decimal("0.01")),
        ("call", Decimal("0.06"), Decimal("0.01")),
    ]


def test_a_call_at_the_multiple_is_no_anomaly():
    guard = CostAnomalyGuard(multiple=3, min_samples=1)
    guard.after_call(call("0.01"))

    guard.after_call(call("0.03", run="other"))


def test_no_baseline_before_min_samples():
    guard = CostAnomalyGuard(min_samples=5)
    for _ in range(4):
        guard.after_call(call("0.01"))

    guard.after_call(call("1.00"))


def test_halting_raises_with_node_cost_baseline_and_multiple():
    guard = CostAnomalyGuard(
        multiple=2, min_samples=2, halt=True, history=[call("0.01"), call("0.03")]
    )

    with pytest.raises(CostAnomalyError) as raised:
        guard.after_call(call("0.05", run="run-2"))

    assert str(raised.value) == (
        "a call in node 'writer' of agent 'briefs' cost $0.05, 2.5x its baseline "
        "of $0.02 per call (limit 2x, median of 2 calls)"
    )
    assert raised.value.anomaly.samples == 2


def test_a_run_beyond_the_multiple_of_other_runs_is_an_anomaly():
    anomalies: list[CostAnomaly] = []
    guard = CostAnomalyGuard(
        multiple=100, run_multiple=2, min_samples=3, on_anomaly=anomalies.append
    )
    for run in ("a", "b", "c"):
        guard.after_call(call("0.01", run=run))
        guard.after_call(call("0.01", run=run))

    with pytest.warns(CostAnomalyWarning, match=r"^run loop in node 'writer'"):
        for _ in range(5):  # five calls of $0.01: the run costs $0.05
            guard.after_call(call("0.01", run="loop"))

    assert [(a.kind, a.cost, a.baseline, a.run_id) for a in anomalies] == [
        ("run", Decimal("0.05"), Decimal("0.02"), "loop")
    ]


def test_baselines_are_per_node():
    guard = CostAnomalyGuard(history=[call("0.01", node="planner")] * 5)

    assert guard.baseline("planner", "briefs") == Decimal("0.01")
    assert guard.baseline("writer", "briefs") is None


def test_unpriced_calls_are_not_counted():
    guard = CostAnomalyGuard(min_samples=1)

    guard.after_call(UsageRecord(run_id="x", node="writer"))

    assert guard.baseline("writer") is None


def test_a_multiple_of_one_or_less_is_refused():
    with pytest.raises(ConfigurationError, match="multiple must be above 1, got 1"):
        CostAnomalyGuard(multiple=1)


class Draft(TypedDict):
    messages: list[BaseMessage]


def test_the_handler_halts_a_graph_on_an_anomaly():
    prices = PriceBook(
        overrides={"m": ModelPrice(input=Decimal("1"), output=Decimal("1"))},
        use_genai_prices=False,
    )
    history = [
        UsageRecord(run_id=str(n), node="writer", cost=Decimal("0.001"))
        for n in range(5)
    ]
    model = ScriptedChatModel(
        model_name="m",
        replies=[reply("long", model="m", input_tokens=9_000, output_tokens=1_000)],
    )
    graph = StateGraph(Draft)
    graph.add_node("writer", lambda state: {"messages": [model.invoke("go")]})
    graph.add_edge(START, "writer")
    spend = TokenomicsCallbackHandler(
        prices=prices, guards=[CostAnomalyGuard(halt=True, history=history)]
    )

    with pytest.raises(CostAnomalyError, match=r"cost \$0.01, 10.0x its baseline"):
        graph.compile().invoke(
            {"messages": [HumanMessage("go")]}, {"callbacks": [spend]}
        )

    assert spend.total_cost == Decimal("0.01")
