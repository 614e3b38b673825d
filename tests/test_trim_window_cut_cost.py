"""`cut_cost`: what a cut of the trimmed window costs in cache writes."""

from __future__ import annotations

from decimal import Decimal

import pytest

from langgraph_tokenomics import ModelPrice, PriceBook, UnpricedModelWarning
from langgraph_tokenomics.middleware import TrimCut, cut_cost


def cut(tokens_after: int, pinned: int, summary: int = 0) -> TrimCut:
    return TrimCut(
        at=40,
        first_kept=20,
        tokens_before=60_000,
        tokens_after=tokens_after,
        pinned_tokens=pinned,
        summary_tokens=summary,
    )


def test_a_sonnet_cut_costs_the_write_minus_the_read() -> None:
    assert cut_cost(cut(12_000, 2_000), "claude-sonnet-4-6") == Decimal("0.0345")


def test_a_million_rewritten_tokens_cost_the_rate_difference() -> None:
    million = cut(1_002_000, 2_000)
    prices = PriceBook(
        overrides={
            "house": ModelPrice(
                input=Decimal("3"),
                output=Decimal("15"),
                cache_read=Decimal("0.30"),
                cache_write=Decimal("3.75"),
            )
        },
        use_genai_prices=False,
    )

    assert cut_cost(million, "house", prices=prices) == Decimal("3.45")


def test_the_summary_is_written_with_the_window() -> None:
    summarized = cut(12_000, 2_000, summary=500)

    assert cut_cost(summarized, "claude-sonnet-4-6") == Decimal("0.036225")


def test_a_provider_name_prefix_is_understood() -> None:
    assert cut_cost(cut(12_000, 2_000), "anthropic:claude-sonnet-4-6") == Decimal(
        "0.0345"
    )


def test_without_cache_writes_the_rewrite_is_billed_as_input() -> None:
    assert cut_cost(cut(12_000, 2_000), "gpt-5.4") == Decimal("0.0225")


def test_a_cut_that_rewrites_nothing_costs_nothing() -> None:
    assert cut_cost(cut(2_000, 2_000), "claude-sonnet-4-6") == Decimal(0)


def test_an_unpriced_model_has_no_cut_cost() -> None:
    prices = PriceBook(use_genai_prices=False)

    with pytest.warns(UnpricedModelWarning, match="'in-house-model'"):
        cost = cut_cost(cut(12_000, 2_000), "in-house-model", prices=prices)

    assert cost is None
