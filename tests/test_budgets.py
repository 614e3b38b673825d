"""Budgets refuse a call before it is sent, never after the money is spent."""

from __future__ import annotations

import contextlib
import operator
import re
import threading
from decimal import Decimal
from typing import Annotated, TypedDict

import pytest
from langchain_core.messages import HumanMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.types import Command, Send

from langgraph_tokenomics import (
    Budget,
    BudgetExceededError,
    BudgetSoftLimitWarning,
    ConfigurationError,
    ModelPrice,
    PriceBook,
    TokenomicsCallbackHandler,
)

from .fakes import ScriptedChatModel, WordCounter, reply

PRICES = PriceBook(
    overrides={"scripted-model": ModelPrice(input=Decimal("3"), output=Decimal("15"))},
    use_genai_prices=False,
)


def words(count: int) -> list[HumanMessage]:
    return [HumanMessage(" ".join(["w"] * count))]


def spend_handler(*budgets: Budget) -> TokenomicsCallbackHandler:
    return TokenomicsCallbackHandler(
        prices=PRICES, budgets=list(budgets), counter=WordCounter()
    )


def looping_graph(model: ScriptedChatModel, prompt_sizes: list[int]):
    """One node that calls the model once per prompt size, in order."""

    def call(state: MessagesState):
        size = prompt_sizes[len(model.seen)]
        return {"messages": [model.invoke(words(size), max_tokens=1000)]}

    def again(state: MessagesState) -> str:
        return "call" if len(model.seen) < len(prompt_sizes) else "__end__"

    graph = StateGraph(MessagesState)
    graph.add_node("call", call)
    graph.add_edge(START, "call")
    graph.add_conditional_edges("call", again)
    return graph.compile()


def test_the_call_that_would_overspend_is_refused_before_it_is_sent():
    sizes = [50_000, 120_000, 180_000, 1_000]
    model = ScriptedChatModel(
        replies=[reply(input_tokens=n, output_tokens=1000) for n in sizes]
    )
    spend = spend_handler(Budget(limit_usd=Decimal("1.00")))

    with pytest.raises(BudgetExceededError) as refused:
        looping_graph(model, sizes).invoke(
            {"messages": []}, {"callbacks": [spend], "recursion_limit": 50}
        )

    assert len(model.seen) == 2  # the third call never reached the provider
    assert [r.cost for r in spend.records] == [Decimal("0.165"), Decimal("0.375")]
    error = refused.value
    assert (error.limit, error.spent, error.estimate) == (
        Decimal("1.00"),
        Decimal("0.540"),
        Decimal("0.555"),
    )
    assert error.scope.startswith("run ")
    assert re.fullmatch(
        r"budget for run \S+ exceeded: limit \$1\.00, spent \$0\.54, "
        r"next call estimated at \$0\.555",
        str(error),
    )


def test_small_calls_under_the_limit_are_not_stopped():
    model = ScriptedChatModel(replies=[reply(input_tokens=100, output_tokens=100)])
    prices = PriceBook(
        overrides={"scripted-model": ModelPrice(input=Decimal(5), output=Decimal(5))},
        use_genai_prices=False,
    )
    spend = TokenomicsCallbackHandler(
        prices=prices,
        budgets=[Budget(limit_usd=Decimal("1.00"))],
        counter=WordCounter(),
    )

    looping_graph(model, [100] * 10).invoke({"messages": []}, {"callbacks": [spend]})

    assert [r.cost for r in spend.records] == [Decimal("0.001")] * 10
    assert spend.total_cost == Decimal("0.010")


class FanOut(TypedDict):
    branches: int
    done: Annotated[list[int], operator.add]


def test_parallel_send_branches_cannot_pass_the_check_together():
    model = ScriptedChatModel(replies=[reply(input_tokens=90_000, output_tokens=1000)])
    started = threading.Barrier(8, timeout=5)

    def branch(state):
        with contextlib.suppress(threading.BrokenBarrierError):
            started.wait()
        model.invoke(words(90_000), max_tokens=1000)
        return {"done": [1]}

    graph = StateGraph(FanOut)
    graph.add_node("fan", lambda s: {})
    graph.add_node("branch", branch)
    graph.add_edge(START, "fan")
    graph.add_conditional_edges(
        "fan", lambda s: [Send("branch", {"branches": i}) for i in range(8)]
    )
    # each call is estimated at $0.285; three fit in $1.00, a fourth does not
    spend = spend_handler(Budget(limit_usd=Decimal("1.00")))

    with pytest.raises(BudgetExceededError):
        graph.compile().invoke(
            {"branches": 8, "done": []},
            {"callbacks": [spend], "max_concurrency": 8},
        )

    assert len(model.seen) == 3
    assert spend.total_cost == Decimal("0.855")


def test_token_budget_counts_prompt_and_output():
    model = ScriptedChatModel(replies=[reply(input_tokens=400, output_tokens=100)])
    spend = spend_handler(Budget(limit_tokens=1400, scope="thread"))
    config = {"callbacks": [spend], "configurable": {"thread_id": "t"}}

    with pytest.raises(
        BudgetExceededError,
        match="limit 1,400 tokens, spent 1,000 tokens, next call estimated at 500",
    ):
        looping_graph(model, [400, 400, 400]).invoke({"messages": []}, config)

    assert len(model.seen) == 2


def test_a_failed_call_releases_its_reservation():
    class Failing(ScriptedChatModel):
        def _generate(self, *args, **kwargs):
            raise ConnectionError("provider down")

    budget = Budget(limit_usd=Decimal("0.01"), scope="global")
    spend = spend_handler(budget)
    failing = Failing(replies=[reply()])

    with pytest.raises(ConnectionError):
        failing.invoke(words(1000), max_tokens=10, config={"callbacks": [spend]})

    [key] = spend.budgets.backend.keys() or ["none"]
    assert spend.budgets.backend.reserved(key) == Decimal(0)


def test_tag_scoped_budget_covers_only_its_team():
    model = ScriptedChatModel(replies=[reply(input_tokens=1000, output_tokens=0)])
    spend = spend_handler(Budget(limit_usd=Decimal("0.004"), scope="team=search"))

    for _ in range(3):  # another team is not limited
        model.invoke(
            words(1000),
            config={"callbacks": [spend], "metadata": {"team": "growth"}},
            max_tokens=1,
        )
    model.invoke(
        words(1000),
        config={"callbacks": [spend], "metadata": {"team": "search"}},
        max_tokens=1,
    )
    with pytest.raises(BudgetExceededError, match="budget for team=search exceeded"):
        model.invoke(
            words(1000),
            config={"callbacks": [spend], "metadata": {"team": "search"}},
            max_tokens=1,
        )


def test_soft_limit_warns_once_and_calls_the_hook():
    events = []
    model = ScriptedChatModel(replies=[reply(input_tokens=1000, output_tokens=0)])
    budget = Budget(
        limit_usd=Decimal("1"),
        scope="global",
        soft_limit=0.005,
        on_soft_limit=events.append,
    )
    spend = spend_handler(budget)

    with pytest.warns(BudgetSoftLimitWarning, match="passed its soft limit"):
        for _ in range(3):
            model.invoke(words(1000), max_tokens=1, config={"callbacks": [spend]})

    assert len(events) == 1
    assert (events[0].spent, events[0].soft_limit) == (
        Decimal("0.006"),
        Decimal("0.005"),
    )


def test_interrupt_asks_a_person_and_resumes_without_repaying():
    sizes = [50_000, 120_000, 180_000]
    model = ScriptedChatModel(
        replies=[reply(input_tokens=n, output_tokens=1000) for n in sizes]
    )
    spend = spend_handler(
        Budget(limit_usd=Decimal("1.00"), scope="thread", action="interrupt")
    )
    graph = StateGraph(MessagesState)
    for index, size in enumerate(sizes):
        graph.add_node(
            f"step{index}",
            lambda s, size=size: {
                "messages": [model.invoke(words(size), max_tokens=1000)]
            },
        )
    graph.add_edge(START, "step0")
    graph.add_edge("step0", "step1")
    graph.add_edge("step1", "step2")
    app = graph.compile(checkpointer=InMemorySaver())
    config = {"callbacks": [spend], "configurable": {"thread_id": "t-9"}}

    paused = app.invoke({"messages": []}, config)
    [pending] = paused["__interrupt__"]
    assert pending.value["reason"] == "budget_exceeded"
    assert pending.value["spent"] == "0.540"
    assert len(model.seen) == 2

    app.invoke(Command(resume={"approve": True, "add": "0.50"}), config)

    assert len(model.seen) == 3  # steps 0 and 1 were not paid for again
    assert spend.total_cost == Decimal("1.095")


def test_budget_misconfiguration_is_refused_at_construction():
    with pytest.raises(
        ConfigurationError, match="exactly one of limit_usd and limit_tokens"
    ):
        Budget()
    with pytest.raises(ConfigurationError, match="Budget scope 'team' is not one of"):
        Budget(limit_usd=Decimal("1"), scope="team")


def test_async_streaming_calls_are_refused_before_they_are_sent():
    import asyncio

    sizes = [50_000, 120_000, 180_000]
    model = ScriptedChatModel(
        replies=[reply(input_tokens=n, output_tokens=1000) for n in sizes]
    )
    spend = spend_handler(Budget(limit_usd=Decimal("1.00"), scope="global"))
    config = {"callbacks": [spend]}

    async def stream_all() -> None:
        for size in sizes:
            async for _ in model.astream(words(size), config, max_tokens=1000):
                pass

    with pytest.raises(BudgetExceededError, match=r"next call estimated at \$0.555"):
        asyncio.run(stream_all())

    assert len(model.seen) == 2
    assert spend.total_cost == Decimal("0.540")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"limit_usd": Decimal("NaN")},
            "Budget limit_usd must be finite, got Decimal('NaN')",
        ),
        ({"limit_usd": "abc"}, "Budget limit_usd must be a number, got 'abc'"),
        ({"limit_tokens": 1.5}, "Budget limit_tokens must be a whole number, got 1.5"),
        (
            {"limit_usd": 1, "scope": None},
            "Budget scope must be a string such as 'run', got None",
        ),
        (
            {"limit_usd": 1, "on_soft_limit": 5},
            "Budget on_soft_limit must be callable, got 5",
        ),
        (
            {"limit_usd": 1, "soft_limit": Decimal("5")},
            "Budget soft_limit as an amount must be > 0 and at most the limit 1, "
            "got 5; give a float such as 0.8 for a fraction",
        ),
    ],
)
def test_bad_budget_options_are_named(options, message):
    with pytest.raises(ConfigurationError) as refused:
        Budget(**options)
    assert str(refused.value) == message


def test_a_single_budget_instead_of_a_list_is_refused():
    with pytest.raises(ConfigurationError, match="budgets must be a list of Budget"):
        TokenomicsCallbackHandler(budgets=Budget(limit_usd=Decimal(1)))


def test_raising_a_limit_keeps_what_was_spent(tmp_path):
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    model = ScriptedChatModel(replies=[reply(input_tokens=1000, output_tokens=0)])

    def spend_with(limit: str) -> TokenomicsCallbackHandler:
        return TokenomicsCallbackHandler(
            prices=PRICES,
            counter=WordCounter(),
            store=url,
            budgets=[Budget(limit_usd=Decimal(limit), scope="team=search")],
        )

    config = {"metadata": {"team": "search"}}
    with spend_with("0.004") as first:
        model.invoke(words(1000), max_tokens=1, config={**config, "callbacks": [first]})
    # a higher limit for the same scope keeps the $0.003 already spent
    with (
        spend_with("0.005") as second,
        pytest.raises(BudgetExceededError, match=r"limit \$0.005, spent \$0.003,"),
    ):
        model.invoke(
            words(1000), max_tokens=1, config={**config, "callbacks": [second]}
        )


def test_a_failing_soft_limit_hook_does_not_stop_the_run(caplog):
    def broken(event):
        raise ZeroDivisionError

    model = ScriptedChatModel(replies=[reply(input_tokens=1000, output_tokens=0)])
    budget = Budget(
        limit_usd=Decimal("1"), scope="global", soft_limit=0.001, on_soft_limit=broken
    )
    spend = spend_handler(budget)

    with pytest.warns(BudgetSoftLimitWarning):
        model.invoke(words(1000), max_tokens=1, config={"callbacks": [spend]})
        model.invoke(words(1000), max_tokens=1, config={"callbacks": [spend]})

    assert len(model.seen) == 2
    assert "on_soft_limit hook of global/usd/all failed" in caplog.text


def test_unpriced_models_are_allowed_loudly_not_counted_as_zero():
    from langgraph_tokenomics import UnpricedModelWarning

    model = ScriptedChatModel(
        model_name="prod-gpt-deployment",
        replies=[
            reply(input_tokens=1000, output_tokens=0, model="prod-gpt-deployment")
        ],
    )
    spend = spend_handler(Budget(limit_usd=Decimal("0.01"), scope="global"))

    with pytest.warns(UnpricedModelWarning) as caught:
        model.invoke(words(1000), max_tokens=1, config={"callbacks": [spend]})

    messages = [str(warning.message) for warning in caught]
    assert any("cannot be counted in dollars" in message for message in messages)
    assert len(model.seen) == 1
