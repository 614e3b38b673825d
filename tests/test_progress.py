"""The live spend bar: what it counts, when it draws, and that it never breaks a run."""

from __future__ import annotations

import io
import logging
from decimal import Decimal

import pytest
from rich.console import Console

from langgraph_tokenomics import Budget, TokenomicsCallbackHandler, UsageRecord
from langgraph_tokenomics._progress import SpendProgress
from tests.fakes import ScriptedChatModel, WordCounter, reply

RUN_BUDGET = Budget(limit_usd=Decimal("2.00"), scope="run")


def record(
    run: str, cost: str | None, *, node: str = "agent", tokens: int = 100
) -> UsageRecord:
    return UsageRecord(
        run_id=f"call-{run}-{cost}",
        root_run_id=run,
        node=node,
        node_path=(node,),
        model="gpt-4o",
        input_tokens=tokens,
        output_tokens=10,
        cost=Decimal(cost) if cost is not None else None,
    )


def terminal() -> Console:
    return Console(
        file=io.StringIO(), force_terminal=True, width=100, color_system=None
    )


def output(console: Console) -> str:
    return console.file.getvalue()  # type: ignore[attr-defined]


def handler_with(*budgets: Budget) -> TokenomicsCallbackHandler:
    return TokenomicsCallbackHandler(counter=WordCounter(), budgets=list(budgets))


def test_off_when_the_console_is_not_interactive():
    console = Console(file=io.StringIO())
    progress = SpendProgress(handler_with(RUN_BUDGET), console=console)
    assert progress.enabled is False


def test_draws_nothing_when_off_but_still_counts():
    console = Console(file=io.StringIO())
    handler = handler_with(RUN_BUDGET)
    with SpendProgress(handler, console=console) as progress:
        handler.ledger.add(record("r1", "0.25"))
    assert output(console) == ""
    assert progress.spent == Decimal("0.25")


def test_on_in_a_terminal():
    assert SpendProgress(handler_with(), console=terminal()).enabled is True


def test_the_handlers_first_budget_is_shown_by_default():
    second = Budget(limit_usd=Decimal(5), scope="global")
    progress = SpendProgress(handler_with(RUN_BUDGET, second), console=terminal())
    assert progress.budget is RUN_BUDGET


def test_the_terminal_bar_shows_spend_against_the_limit():
    console = terminal()
    handler = handler_with(RUN_BUDGET)
    with SpendProgress(handler, console=console):
        handler.ledger.add(record("r1", "0.25"))
        handler.ledger.add(record("r1", "0.5"))
    assert "budget run" in output(console)
    assert "$0.750000 / $2.00  38%" in output(console)


def test_a_run_budget_shows_the_run_that_spent_most():
    handler = handler_with(RUN_BUDGET)
    with SpendProgress(handler, console=terminal()) as progress:
        handler.ledger.add(record("r1", "0.25"))
        handler.ledger.add(record("r2", "0.5"))
        handler.ledger.add(record("r1", "0.125"))
    assert progress.spent == Decimal("0.5")


def test_a_node_budget_counts_only_that_nodes_calls():
    budget = Budget(limit_usd=Decimal(1), scope="node:researcher")
    handler = handler_with()
    with SpendProgress(handler, budget, console=terminal()) as progress:
        handler.ledger.add(record("r1", "0.25", node="researcher"))
        handler.ledger.add(record("r1", "0.5", node="writer"))
    assert progress.spent == Decimal("0.25")


def test_a_token_budget_counts_tokens():
    budget = Budget(limit_tokens=10_000, scope="run")
    console = terminal()
    handler = handler_with()
    with SpendProgress(handler, budget, console=console) as progress:
        handler.ledger.add(record("r1", "0.25", tokens=1503))
    assert progress.spent == Decimal(1513)
    assert "1,513 / 10,000 tokens" in output(console)


def test_without_a_budget_the_total_spend_is_shown():
    console = terminal()
    handler = handler_with()
    with SpendProgress(handler, console=console) as progress:
        handler.ledger.add(record("r1", "0.25"))
        handler.ledger.add(record("r2", "0.5"))
    assert progress.limit is None
    assert "LLM spend" in output(console) and "$0.750000" in output(console)


def test_unpriced_calls_are_counted_apart_not_as_zero():
    console = terminal()
    handler = handler_with(RUN_BUDGET)
    with SpendProgress(handler, console=console) as progress:
        handler.ledger.add(record("r1", "0.25"))
        handler.ledger.add(record("r1", None))
    assert (progress.spent, progress.unpriced_calls) == (Decimal("0.25"), 1)
    assert "$0.250000 / $2.00 +1 unpriced" in output(console)


def test_calls_after_the_bar_closes_are_not_counted():
    handler = handler_with(RUN_BUDGET)
    with SpendProgress(handler, console=terminal()) as progress:
        handler.ledger.add(record("r1", "0.25"))
    handler.ledger.add(record("r1", "0.5"))
    assert progress.spent == Decimal("0.25")


class BrokenView:
    def start(self, *args):
        pass

    def update(self, *args):
        raise RuntimeError("terminal went away")

    def stop(self):
        pass


def test_a_failing_bar_is_logged_and_the_call_still_recorded(caplog, monkeypatch):
    handler = handler_with(RUN_BUDGET)
    monkeypatch.setattr(SpendProgress, "_make_view", lambda self: BrokenView())
    logs = caplog.at_level(logging.ERROR, logger="langgraph_tokenomics._progress")
    with logs, SpendProgress(handler, console=terminal()):
        handler.ledger.add(record("r1", "0.25"))
    assert caplog.messages == ["could not update the spend bar for call-r1-0.25"]
    assert len(handler.records) == 1


@pytest.mark.parametrize("enabled", [True, False])
def test_enabled_can_be_forced(enabled):
    console = terminal() if not enabled else Console(file=io.StringIO())
    progress = SpendProgress(handler_with(), console=console, enabled=enabled)
    assert progress.enabled is enabled


def test_a_budgeted_model_call_moves_the_bar():
    console = terminal()
    handler = handler_with(Budget(limit_usd=Decimal(1), scope="run"))
    model = ScriptedChatModel(
        model_name="gpt-4o",
        replies=[reply(model="gpt-4o", input_tokens=1000, output_tokens=100)],
    )
    with SpendProgress(handler, console=console) as progress:
        model.invoke("hello", config={"callbacks": [handler]})
    assert progress.spent == handler.total_cost == Decimal("0.0035")
    assert "$0.003500 / $1.00" in output(console)
