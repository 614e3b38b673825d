"""Processes sharing a store share a budget: together they never overshoot."""

from __future__ import annotations

import multiprocessing
from decimal import Decimal
from pathlib import Path

import pytest

from langgraph_tokenomics._store import open_store

pytest_plugins = ["tests.postgres"]

LIMIT = Decimal("0.50")
CALL_COST = Decimal("0.033")  # 10,000 prompt tokens at $3/M + 200 output at $15/M


def run_graphs(url: str, worker: int, results) -> None:
    """One process: run a one-node graph in a loop until the budget refuses."""
    from langchain_core.messages import HumanMessage
    from langgraph.graph import START, MessagesState, StateGraph

    from langgraph_tokenomics import (
        Budget,
        BudgetExceededError,
        ModelPrice,
        PriceBook,
        TokenomicsCallbackHandler,
    )
    from tests.fakes import ScriptedChatModel, WordCounter, reply

    model = ScriptedChatModel(replies=[reply(input_tokens=10_000, output_tokens=200)])
    graph = StateGraph(MessagesState)
    graph.add_node(
        "work",
        lambda s: {"messages": [model.invoke(s["messages"], max_tokens=200)]},
    )
    graph.add_edge(START, "work")
    app = graph.compile()
    prices = PriceBook(
        overrides={"scripted-model": ModelPrice(input=Decimal(3), output=Decimal(15))},
        use_genai_prices=False,
    )
    budget = Budget(limit_usd=LIMIT, scope="global", name="shared-team-budget")
    prompt = [HumanMessage(" ".join(["w"] * 10_000))]
    calls = 0
    with TokenomicsCallbackHandler(
        prices=prices, budgets=[budget], store=url, counter=WordCounter()
    ) as spend:
        for _ in range(100):
            try:
                app.invoke({"messages": prompt}, {"callbacks": [spend]})
            except BudgetExceededError:
                break
            calls += 1
    results.put((worker, calls))


def spend_of_processes(url: str, processes: int = 2) -> tuple[int, Decimal]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [
        context.Process(target=run_graphs, args=(url, n, results))
        for n in range(processes)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    calls = sum(results.get(timeout=5)[1] for _ in workers)
    store = open_store(url)
    try:
        total = sum((r.cost for r in store.read() if r.cost is not None), Decimal(0))
        assert len(store.read()) == calls
    finally:
        store.close()
    return calls, total


@pytest.mark.slow
def test_two_processes_on_one_sqlite_file_stay_within_the_budget(tmp_path: Path):
    calls, total = spend_of_processes(f"sqlite:///{tmp_path / 'ledger.db'}")

    # each call is estimated and charged at exactly $0.033: 15 fit in $0.50
    assert calls == 15
    assert total == CALL_COST * 15 <= LIMIT


@pytest.mark.slow
@pytest.mark.postgres
def test_two_processes_on_one_postgres_database_stay_within_the_budget(
    postgres_url: str,
):
    calls, total = spend_of_processes(postgres_url)

    assert calls == 15
    assert total == CALL_COST * 15 <= LIMIT
