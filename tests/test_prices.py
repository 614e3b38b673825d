"""Model names resolve as a user expects; unknown names are never guessed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from langgraph_tokenomics import (
    ConfigurationError,
    ModelPrice,
    PriceBook,
    TokenUsage,
    UnpricedModelWarning,
)

MILLION_EACH = TokenUsage(input_tokens=1_000_000, output_tokens=1_000_000)


@pytest.mark.parametrize(
    ("name", "model_id"),
    [
        ("gpt-4.1", "gpt-4.1"),
        ("openai:gpt-4.1", "gpt-4.1"),
        ("openai/gpt-4.1", "gpt-4.1"),
        ("gpt-4.1-2025-04-14", "gpt-4.1"),
        ("gpt-4.1-2026-01-01", "gpt-4.1"),
        ("anthropic:claude-sonnet-4-6", "claude-sonnet-4-6"),
        ("us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"),
        ("anthropic.claude-haiku-4-5-20251001-v1:0", "claude-haiku-4-5"),
        ("gpt-5.4-mini", "gpt-5.4-mini"),
        ("claude-3-5-sonnet-latest", "claude-3-5-sonnet"),
        ("claude-3-5-sonnet-v2@20241022", "claude-3-5-sonnet"),
        ("gemini-2.5-pro-preview-05-06", "gemini-2.5-pro"),
        ("gemini-2.0-flash-001", "gemini-2.0-flash"),
    ],
)
def test_names_resolve(name, model_id):
    assert PriceBook().model_id(name) == model_id


@pytest.mark.parametrize(
    "name",
    [
        "gpt-5.9-mini",
        "gpt-5-foo",
        "claude-sonnet-9",
        "claude-sonnet-4-60",
        "claude-sonnet-4-6-evil-clone",
        "claude-opus-4-1-turbo-preview",
        "claude-3-5-haiku-whatever",
        "gemini-2.5-pro-foo",
    ],
)
def test_unknown_names_are_never_priced_as_a_neighbour(name):
    prices = PriceBook()
    with pytest.warns(
        UnpricedModelWarning, match=f"no price is known for model '{name}'"
    ):
        assert prices.cost(name, MILLION_EACH) is None


def test_unpriced_warning_is_shown_once_per_model(recwarn):
    prices = PriceBook()
    prices.cost("gpt-5.9-mini", MILLION_EACH)
    prices.cost("gpt-5.9-mini", MILLION_EACH)
    assert len([w for w in recwarn if w.category is UnpricedModelWarning]) == 1


def test_genai_prices_data_for_a_known_model():
    priced = PriceBook().cost("gpt-4.1", MILLION_EACH)
    assert priced is not None
    assert (priced.input, priced.output, priced.total) == (
        Decimal("2"),
        Decimal("8"),
        Decimal("10"),
    )
    assert priced.source.startswith("genai-prices ")


def test_long_context_tier_is_decided_on_the_whole_prompt():
    prices = PriceBook()
    below = prices.cost("gpt-5.4", TokenUsage(input_tokens=272_000))
    above = prices.cost(
        "gpt-5.4", TokenUsage(input_tokens=272_001, cache_read_tokens=200_000)
    )
    assert below is not None and above is not None
    assert below.total == Decimal("0.68")  # 272,000 x $2.50
    # every token at the long-context rate: 72,001 x $5 + 200,000 x $0.50
    assert above.input == Decimal("0.360005")
    assert above.cache_read == Decimal("0.1")


def test_priority_service_tier_uses_its_rates():
    priced = PriceBook().cost(
        "gpt-5",
        TokenUsage(input_tokens=1000, output_tokens=1000, service_tier="priority"),
    )
    assert priced is not None
    assert priced.total == Decimal("0.0225")


def test_override_fields_fall_back_to_genai_prices():
    prices = PriceBook(overrides={"gpt-4.1": ModelPrice(input=Decimal("1"))})
    priced = prices.cost("openai:gpt-4.1", MILLION_EACH)
    assert priced is not None
    assert (priced.input, priced.output) == (Decimal("1"), Decimal("8"))
    assert priced.source == "override+genai-prices 0.2.3"


def test_alias_names_an_azure_deployment():
    prices = PriceBook(aliases={"prod-gpt-deployment": "gpt-4.1"})
    priced = prices.cost("prod-gpt-deployment", MILLION_EACH)
    assert priced is not None and priced.total == Decimal("10")


def test_override_for_an_unknown_model_needs_input_and_output():
    with pytest.raises(
        ConfigurationError,
        match="override for 'in-house-llm' has no output price and genai-prices "
        "does not know the model to fill it in",
    ):
        PriceBook(overrides={"in-house-llm": ModelPrice(input=Decimal("1"))})


def test_model_price_rejects_negative_amounts():
    with pytest.raises(
        ConfigurationError, match=r"ModelPrice.output must be a finite amount >= 0"
    ):
        ModelPrice(input=Decimal("1"), output=Decimal("-2"))


def test_unknown_model_cache_parts_fall_back_to_input_rate():
    prices = PriceBook(
        overrides={"in-house-llm": ModelPrice(input=Decimal("2"), output=Decimal("4"))}
    )
    priced = prices.cost(
        "in-house-llm",
        TokenUsage(
            input_tokens=3_000_000,
            cache_read_tokens=1_000_000,
            cache_write_5m_tokens=1_000_000,
        ),
    )
    assert priced is not None
    assert (priced.input, priced.cache_read, priced.cache_write) == (
        Decimal("2"),
        Decimal("2"),
        Decimal("2"),
    )
