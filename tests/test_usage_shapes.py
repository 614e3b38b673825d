"""Every usage shape a provider or LangChain sends, priced to the exact Decimal."""

from __future__ import annotations

from decimal import Decimal

import pytest

from langgraph_tokenomics import ModelPrice, PriceBook, TokenUsage
from langgraph_tokenomics._usage import usage_from_metadata, usage_from_raw

SONNET_LIKE = ModelPrice(
    input=Decimal("3"),
    output=Decimal("15"),
    cache_read=Decimal("0.30"),
    cache_write=Decimal("3.75"),
    cache_write_1h=Decimal("6"),
)
PRICES = PriceBook(
    overrides={
        "claude-test": SONNET_LIKE,
        "gpt-test": ModelPrice(input=Decimal("1.25"), output=Decimal("10")),
        "gemini-test": ModelPrice(input=Decimal("1"), output=Decimal("2")),
    },
    use_genai_prices=False,
)


def cost(model: str, usage: TokenUsage) -> Decimal:
    priced = PRICES.cost(model, usage)
    assert priced is not None
    return priced.total


def test_anthropic_cache_write_is_not_billed_again_as_input():
    usage = usage_from_raw(
        {
            "input_tokens": 3,
            "cache_creation_input_tokens": 12304,
            "cache_read_input_tokens": 0,
            "output_tokens": 550,
        }
    )
    assert usage is not None
    assert usage.uncached_input_tokens == 3
    assert cost("claude-test", usage) == Decimal("0.054399")


def test_anthropic_normalized_and_raw_shapes_cost_the_same():
    normalized = usage_from_metadata(
        {
            "input_tokens": 1200,
            "output_tokens": 50,
            "total_tokens": 1250,
            "input_token_details": {"cache_read": 1000},
        }
    )
    raw = usage_from_raw(
        {"input_tokens": 200, "cache_read_input_tokens": 1000, "output_tokens": 50}
    )
    assert raw == normalized
    assert cost("claude-test", normalized) == Decimal("0.00165")


def test_openai_responses_reasoning_is_part_of_output():
    usage = usage_from_raw(
        {
            "input_tokens": 22118,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": 1970,
            "output_tokens_details": {"reasoning_tokens": 956},
            "total_tokens": 24088,
        }
    )
    assert usage == TokenUsage(
        input_tokens=22118, output_tokens=1970, reasoning_tokens=956
    )
    assert cost("gpt-test", usage) == Decimal("0.0473475")


def test_gemini_thoughts_outside_output_are_added_once():
    outside = usage_from_metadata(
        {
            "input_tokens": 324,
            "output_tokens": 1364,
            "total_tokens": 2183,
            "output_token_details": {"reasoning": 495},
        }
    )
    inside = usage_from_metadata(
        {
            "input_tokens": 324,
            "output_tokens": 1859,
            "total_tokens": 2183,
            "output_token_details": {"reasoning": 495},
        }
    )
    assert outside.output_tokens == inside.output_tokens == 1859
    assert cost("gemini-test", outside) == Decimal("0.004042")


def test_gemini_raw_usage_bills_thoughts_and_tool_prompt():
    usage = usage_from_raw(
        {
            "promptTokenCount": 300,
            "toolUsePromptTokenCount": 24,
            "candidatesTokenCount": 1364,
            "thoughtsTokenCount": 495,
            "cachedContentTokenCount": 100,
            "totalTokenCount": 2183,
        }
    )
    assert usage == TokenUsage(
        input_tokens=324,
        cache_read_tokens=100,
        output_tokens=1859,
        reasoning_tokens=495,
    )


def test_langchain_anthropic_ttl_keys_replace_cache_creation():
    usage = usage_from_metadata(
        {
            "input_tokens": 5000,
            "output_tokens": 10,
            "total_tokens": 5010,
            "input_token_details": {
                "cache_read": 1000,
                "cache_creation": 0,
                "ephemeral_5m_input_tokens": 2000,
                "ephemeral_1h_input_tokens": 1500,
            },
        }
    )
    assert usage.cache_write_5m_tokens == 2000
    assert usage.cache_write_1h_tokens == 1500
    assert usage.uncached_input_tokens == 500
    # 500*3 + 1000*0.30 + 2000*3.75 + 1500*6 + 10*15, per million
    assert cost("claude-test", usage) == Decimal("0.01845")


def test_openai_priority_tier_keys_are_read():
    usage = usage_from_metadata(
        {
            "input_tokens": 2000,
            "output_tokens": 300,
            "total_tokens": 2300,
            "input_token_details": {"priority_cache_read": 1500, "priority": 500},
            "output_token_details": {"priority_reasoning": 100, "priority": 200},
        }
    )
    assert usage == TokenUsage(
        input_tokens=2000,
        cache_read_tokens=1500,
        output_tokens=300,
        reasoning_tokens=100,
        service_tier="priority",
    )


def test_openai_chat_completions_raw_usage():
    usage = usage_from_raw(
        {
            "prompt_tokens": 2048,
            "completion_tokens": 100,
            "prompt_tokens_details": {"cached_tokens": 1920},
            "completion_tokens_details": {"reasoning_tokens": 64},
        }
    )
    assert usage == TokenUsage(
        input_tokens=2048,
        cache_read_tokens=1920,
        output_tokens=100,
        reasoning_tokens=64,
    )


def test_bedrock_converse_usage_adds_cache_to_the_prompt():
    usage = usage_from_raw(
        {
            "inputTokens": 10,
            "outputTokens": 20,
            "totalTokens": 4030,
            "cacheReadInputTokens": 3000,
            "cacheWriteInputTokens": 1000,
        }
    )
    assert usage == TokenUsage(
        input_tokens=4010,
        cache_read_tokens=3000,
        cache_write_5m_tokens=1000,
        output_tokens=20,
    )


def test_unknown_raw_shape_is_none():
    assert usage_from_raw({"tokens": 5}) is None


@pytest.mark.parametrize(
    ("usage", "parts"),
    [
        (
            TokenUsage(input_tokens=1000, cache_read_tokens=600, output_tokens=10),
            ("0.0012", "0.00018", "0", "0.00015"),
        ),
        (
            TokenUsage(input_tokens=1000, cache_write_1h_tokens=1000, output_tokens=0),
            ("0", "0", "0.006", "0"),
        ),
    ],
)
def test_cost_parts_sum_to_total(usage, parts):
    priced = PRICES.cost("claude-test", usage)
    assert priced is not None
    actual = (priced.input, priced.cache_read, priced.cache_write, priced.output)
    assert actual == tuple(Decimal(part) for part in parts)
    assert priced.total == sum(actual)
