"""Quotas per tag value: calls, tokens and dollars per UTC day or month."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from langgraph_tokenomics import (
    CallRequest,
    ConfigurationError,
    ModelPrice,
    PriceBook,
    TokenomicsCallbackHandler,
    UsageRecord,
)
from langgraph_tokenomics._guardrails import Quota, QuotaExceededError, QuotaGuard

from .fakes import ScriptedChatModel, reply


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 23, 59, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def ask(guard: QuotaGuard, user: str, tokens: int = 10) -> None:
    guard.before_call(CallRequest(run_id="r", input_tokens=tokens, tags={"user": user}))


def test_the_call_past_a_calls_quota_is_refused():
    guard = QuotaGuard([Quota(tag="user", limit_calls=2)], now=Clock())
    ask(guard, "alice")
    ask(guard, "alice")

    with pytest.raises(QuotaExceededError) as raised:
        ask(guard, "alice")

    assert str(raised.value) == (
        "quota for user=alice (day 2026-05-01) is used up: 2 of 2 calls"
    )


def test_each_tag_value_has_its_own_quota():
    guard = QuotaGuard([Quota(tag="user", limit_calls=1)], now=Clock())
    ask(guard, "alice")

    ask(guard, "bob")


def test_calls_without_the_tag_are_not_counted():
    guard = QuotaGuard([Quota(tag="user", limit_calls=0)], now=Clock())

    guard.before_call(CallRequest(run_id="r", tags={"team": "search"}))


def test_a_new_day_starts_a_new_window():
    clock = Clock()
    guard = QuotaGuard([Quota(tag="user", limit_calls=1)], now=clock)
    ask(guard, "alice")
    clock.now = datetime(2026, 5, 2, 0, 0, tzinfo=UTC)

    ask(guard, "alice")

    assert guard.used(guard.quotas[0], "alice") == 1


def test_a_token_quota_refuses_a_prompt_that_would_pass_it():
    guard = QuotaGuard(
        [Quota(tag="team", limit_tokens=1_000, window="month", name="search")],
        now=Clock(),
    )
    guard.after_call(
        UsageRecord(run_id="r", input_tokens=700, output_tokens=100, tags={"team": "s"})
    )

    with pytest.raises(QuotaExceededError) as raised:
        guard.before_call(CallRequest(run_id="r", input_tokens=201, tags={"team": "s"}))

    assert str(raised.value) == (
        "quota 'search' for team=s (month 2026-05) refused a call of 201 prompt "
        "tokens: 800 of 1,000 tokens used"
    )


def test_a_dollar_quota_refuses_once_spent():
    guard = QuotaGuard([Quota(tag="user", limit_usd=Decimal("0.05"))], now=Clock())
    spent = UsageRecord(run_id="r", cost=Decimal("0.06"), tags={"user": "alice"})
    guard.after_call(spent)

    with pytest.raises(QuotaExceededError, match=r"used up: \$0.06 of \$0.05 spent"):
        ask(guard, "alice")


def test_a_quota_needs_exactly_one_limit():
    with pytest.raises(ConfigurationError, match="exactly one of limit_calls"):
        Quota(tag="user", limit_calls=1, limit_tokens=1)


def test_the_handler_refuses_before_the_provider_is_called():
    prices = PriceBook(
        overrides={"m": ModelPrice(input=Decimal("1"), output=Decimal("1"))},
        use_genai_prices=False,
    )
    model = ScriptedChatModel(
        model_name="m", replies=[reply(model="m", input_tokens=5, output_tokens=5)]
    )
    quota = QuotaGuard([Quota(tag="user", limit_calls=1)])
    spend = TokenomicsCallbackHandler(prices=prices, guards=[quota])
    config: Any = {"callbacks": [spend], "metadata": {"user": "alice"}}
    model.invoke("hi", config)

    with pytest.raises(QuotaExceededError, match="user=alice"):
        model.invoke("hi again", config)

    assert len(model.seen) == 1
