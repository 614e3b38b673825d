"""Outcomes: marks on runs and threads, and cost per run, success and value."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from langgraph_tokenomics import (
    ConfigurationError,
    ModelPrice,
    PriceBook,
    TokenomicsCallbackHandler,
    UsageRecord,
)
from langgraph_tokenomics._ledger import Ledger
from langgraph_tokenomics._outcomes import (
    mark_outcome,
    outcome_report,
    outcome_store,
    watch_outcomes,
)

from .fakes import ScriptedChatModel, reply


def record(run: str, cost: str, agent: str, workflow: str = "daily") -> UsageRecord:
    return UsageRecord(
        run_id=f"{run}-{cost}",
        root_run_id=run,
        thread_id=f"thread-{run}",
        cost=Decimal(cost),
        tags={"agent": agent, "workflow": workflow},
    )


@pytest.fixture
def ledger() -> Ledger:
    ledger = Ledger()
    for entry in (
        record("r1", "0.01", "briefs"),
        record("r1", "0.02", "briefs"),
        record("r2", "0.01", "briefs", "weekly"),
        record("r3", "0.02", "briefs", "weekly"),
        record("r4", "0.05", "support"),
    ):
        ledger.add(entry)
    mark_outcome(ledger, "r1", success=True, value=10)
    mark_outcome(ledger, "thread-r2", success=False)  # a thread mark
    mark_outcome(ledger, "r4", success=True, value="20", label="resolved")
    return ledger


def test_cost_per_run_success_and_value_by_agent(ledger: Ledger):
    briefs = outcome_report(ledger, by="agent").row("briefs")

    assert (briefs.runs, briefs.cost, briefs.outcomes, briefs.successes) == (
        3,
        Decimal("0.06"),
        2,
        1,
    )
    assert briefs.success_rate == 0.5
    assert briefs.value == Decimal("10")
    assert briefs.cost_per_run == Decimal("0.02")
    assert briefs.cost_per_success == Decimal("0.06")
    assert briefs.cost_per_value == Decimal("0.006")


def test_the_total_counts_every_outcome_once(ledger: Ledger):
    total = outcome_report(ledger).total

    assert (total.runs, total.cost, total.outcomes, total.successes) == (
        4,
        Decimal("0.11"),
        3,
        2,
    )
    assert (total.cost_per_run, total.cost_per_success) == (
        Decimal("0.0275"),
        Decimal("0.055"),
    )


def test_groups_by_workflow(ledger: Ledger):
    report = outcome_report(ledger, by="workflow")

    assert [(row.key, row.cost, row.successes) for row in report] == [
        ("daily", Decimal("0.08"), 2),
        ("weekly", Decimal("0.03"), 0),
    ]
    assert report.row("weekly").cost_per_success is None


def test_a_later_mark_replaces_the_earlier_one(ledger: Ledger):
    mark_outcome(ledger, "r1", success=False)

    assert outcome_report(ledger).row("briefs").successes == 0
    assert len(outcome_store(ledger).outcomes()) == 3


def test_the_report_renders_as_text_html_and_rows(ledger: Ledger):
    report = outcome_report(ledger, by="agent")

    text = str(report)
    assert "Cost per outcome by agent" in text
    assert (
        " briefs       3   0.060000          2         1    50%   10.00   0.020000"
        "      0.060000    0.006000 \n"
    ) in text
    assert " total        4   0.110000          3         2    67%   30.00" in text
    assert report._repr_html_().startswith(
        '<table class="tokenomics"><caption>Cost per outcome by agent</caption>'
    )
    assert report.to_rows()[1] == {
        "by": "agent",
        "key": "support",
        "runs": 1,
        "cost": Decimal("0.05"),
        "outcomes": 1,
        "successes": 1,
        "value": Decimal("20"),
        "success_rate": 1.0,
        "cost_per_run": Decimal("0.05"),
        "cost_per_success": Decimal("0.05"),
        "cost_per_value": Decimal("0.0025"),
    }


def test_a_store_keeps_outcomes_for_a_report(ledger: Ledger):
    from langgraph_tokenomics._store import SQLStore

    with SQLStore("memory") as store:
        mark_outcome(store, "r2", success=True, value=Decimal("5"))
        report = outcome_report(ledger, outcomes=store.outcomes())

    assert report.row("briefs").successes == 1
    assert report.row("briefs").value == Decimal("5")


def test_a_store_url_is_marked_and_reported_as_the_cli_would(tmp_path: Path):
    from langgraph_tokenomics._store import open_store

    url = f"sqlite:///{tmp_path / 'spend.db'}"
    with open_store(url) as store:
        store.write([record("r1", "0.01", "briefs"), record("r2", "0.03", "ads")])

    mark_outcome(url, "r1", success=True, value="2", label="sold")
    report = outcome_report(url, by="agent")

    assert [(row.key, row.successes, row.cost_per_value) for row in report] == [
        ("ads", 0, None),
        ("briefs", 1, Decimal("0.005")),
    ]


def test_listeners_hear_each_mark(ledger: Ledger):
    heard: list[Any] = []
    watch_outcomes(ledger, heard.append)

    marked = mark_outcome(ledger, "r3", success=True, label="late")

    assert heard == [marked]
    assert (marked.run_or_thread_id, marked.success, marked.label) == (
        "r3",
        True,
        "late",
    )


def test_a_float_value_is_refused(ledger: Ledger):
    with pytest.raises(ConfigurationError, match=r"Decimal, int or str, got 0\.1"):
        mark_outcome(ledger, "r1", value=0.1)  # type: ignore[arg-type]


def test_something_without_outcomes_is_refused():
    with pytest.raises(ConfigurationError, match="outcomes need a"):
        mark_outcome(object(), "r1")


def test_marks_on_a_handler_join_its_runs():
    prices = PriceBook(
        overrides={"m": ModelPrice(input=Decimal("1"), output=Decimal("1"))},
        use_genai_prices=False,
    )
    model = ScriptedChatModel(
        model_name="m", replies=[reply(model="m", input_tokens=900, output_tokens=100)]
    )
    spend = TokenomicsCallbackHandler(prices=prices, tags={"agent": "faq"})
    for thread in ("a", "b"):
        config: Any = {"callbacks": [spend], "metadata": {"thread_id": thread}}
        model.invoke("hi", config)

    mark_outcome(spend, "a", success=True)
    mark_outcome(spend, "b", success=False)

    faq = outcome_report(spend).row("faq")
    assert (faq.cost, faq.successes, faq.cost_per_success) == (
        Decimal("0.002"),
        1,
        Decimal("0.002"),
    )
