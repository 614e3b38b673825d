"""A scripted workload where the cheap model fails a known share of its tasks.

Each task is one thread through a hand-built graph whose node is routed; the
canary sends half the threads to the cheap model, learns their cost from the
handler and their result from outcomes, and decides after 20 outcomes per
arm. The cheap model fails the first ``failures`` of every 20 tasks it gets,
so any 20 of its outcomes hold exactly that many failures.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypedDict

from langchain_core.messages import BaseMessage, HumanMessage
from langgraph.graph import START, StateGraph

from langgraph_tokenomics import ModelPrice, PriceBook, TokenomicsCallbackHandler
from langgraph_tokenomics._canary import ArmStats, Canary
from langgraph_tokenomics._outcomes import mark_outcome
from langgraph_tokenomics._routing import Router
from langgraph_tokenomics.middleware._routing import route_model

from .fakes import ScriptedChatModel, reply

PRICES = PriceBook(
    overrides={
        "big": ModelPrice(input=Decimal("3"), output=Decimal("15")),
        "small": ModelPrice(input=Decimal("1"), output=Decimal("5")),
    },
    use_genai_prices=False,
)
BIG_TASK = Decimal("0.0045")  # 1,000 prompt and 100 output tokens
SMALL_TASK = Decimal("0.0015")


class Task(TypedDict):
    messages: list[BaseMessage]


def scripted(name: str) -> ScriptedChatModel:
    answer = reply("done", model=name, input_tokens=1_000, output_tokens=100)
    return ScriptedChatModel(model_name=name, replies=[answer])


def run_workload(failures: int, *, after_decision: int = 0) -> tuple[Canary, Router]:
    trial = Canary(
        node="answer",
        current="big",
        candidate="small",
        share=0.5,
        margin=0.1,
        min_outcomes=20,
        window=20,
        seed=7,
    )
    router = Router(canaries=[trial], models={"small": scripted("small")})
    graph = answering_graph(route_model(scripted("big"), router))
    spend = TokenomicsCallbackHandler(prices=PRICES, guards=[trial])
    trial.watch(spend)

    cheap_tasks, after = 0, 0
    for task in range(400):
        thread = f"task-{task}"
        config: Any = {"callbacks": [spend], "configurable": {"thread_id": thread}}
        graph.invoke({"messages": [HumanMessage("solve")]}, config)
        success = True
        if router.decisions[-1].model == "small":
            success = cheap_tasks % 20 >= failures
            cheap_tasks += 1
        mark_outcome(spend, thread, success=success)
        after += bool(trial.decisions)
        if after > after_decision:
            break
    return trial, router


def answering_graph(model: Any) -> Any:
    def answer(state: Task) -> Task:
        return {"messages": [*state["messages"], model.invoke(state["messages"])]}

    graph = StateGraph(Task)
    graph.add_node("answer", answer)
    graph.add_edge(START, "answer")
    return graph.compile()


def test_a_cheap_model_failing_more_than_the_margin_is_rolled_back():
    trial, _ = run_workload(failures=4)  # 20% of its tasks fail; margin 10%

    decision = trial.decisions[0]
    assert (decision.action, decision.model, trial.state) == (
        "rollback",
        "big",
        "rolled_back",
    )
    assert decision.candidate == ArmStats("small", 20, 16, SMALL_TASK * 20)
    assert decision.current == ArmStats("big", 20, 20, BIG_TASK * 20)
    assert decision.reason == (
        "success rate fell by more than the margin: small 80.0% of 20 at "
        "$0.001875 per success, vs big 100.0% of 20 at $0.004500 per success "
        "(margin 0.1)"
    )


def test_a_cheap_model_failing_less_than_the_margin_is_promoted():
    trial, _ = run_workload(failures=1)  # 5% of its tasks fail; margin 10%

    decision = trial.decisions[0]
    assert (decision.action, decision.model, trial.state) == (
        "promote",
        "small",
        "promoted",
    )
    assert decision.candidate == ArmStats("small", 20, 19, SMALL_TASK * 20)
    assert decision.candidate.cost_per_success == Decimal("0.03") / 19
    assert decision.reason.startswith(
        "the candidate is not worse: small 95.0% of 20 at $0.001579 per success"
    )


def test_after_a_rollback_every_thread_gets_the_current_model():
    _, router = run_workload(failures=4, after_decision=10)

    assert [d.model for d in router.decisions[-10:]] == ["big"] * 10
    assert router.decisions[-1].reason == "canary rolled back: big"


def test_after_a_promotion_every_thread_gets_the_cheap_model():
    _, router = run_workload(failures=1, after_decision=10)

    assert [d.model for d in router.decisions[-10:]] == ["small"] * 10
