"""LangSmith and Langfuse payloads: our costs in the shapes those tools read."""

from __future__ import annotations

from decimal import Decimal
from typing import get_type_hints

from langsmith import schemas

from langgraph_tokenomics import UsageRecord
from langgraph_tokenomics._export import (
    langfuse_cost_details,
    langfuse_usage_details,
    langsmith_usage,
)

RESEARCHER = UsageRecord(
    run_id="run-2",
    model="claude-sonnet-4-6",
    provider="anthropic",
    input_tokens=1537,
    cache_read_tokens=1495,
    cache_write_tokens=42,
    output_tokens=159,
    reasoning_tokens=40,
    input_cost=Decimal(0),
    cache_read_cost=Decimal("0.0004485"),
    cache_write_cost=Decimal("0.0001575"),
    output_cost=Decimal("0.002385"),
    cost=Decimal("0.0029910"),
)
PLANNER = UsageRecord(
    run_id="run-1",
    model="gpt-5.4-mini",
    provider="openai",
    input_tokens=54,
    output_tokens=236,
    input_cost=Decimal("0.0000405"),
    cache_read_cost=Decimal(0),
    cache_write_cost=Decimal(0),
    output_cost=Decimal("0.001062"),
    cost=Decimal("0.0011025"),
)
UNPRICED = UsageRecord(
    run_id="run-4", model="my-llama", input_tokens=300, output_tokens=20
)


def test_langsmith_usage_of_a_cached_call():
    assert langsmith_usage(RESEARCHER) == {
        "input_tokens": 1537,
        "output_tokens": 159,
        "total_tokens": 1696,
        "input_token_details": {"cache_read": 1495, "cache_creation": 42},
        "output_token_details": {"reasoning": 40},
        "input_cost": 0.000606,
        "output_cost": 0.002385,
        "total_cost": 0.002991,
        "input_cost_details": {"cache_read": 0.0004485, "cache_creation": 0.0001575},
    }


def test_langsmith_input_cost_covers_the_whole_prompt():
    usage = langsmith_usage(PLANNER)
    assert usage["input_cost"] == 0.0000405
    assert usage["input_cost"] + usage["output_cost"] == usage["total_cost"]


def test_langsmith_usage_of_an_unpriced_call_has_tokens_and_no_cost():
    assert langsmith_usage(UNPRICED) == {
        "input_tokens": 300,
        "output_tokens": 20,
        "total_tokens": 320,
        "input_token_details": {"cache_read": 0, "cache_creation": 0},
        "output_token_details": {"reasoning": 0},
    }


def test_langsmith_keys_are_langsmiths_own():
    usage = langsmith_usage(RESEARCHER)
    assert set(usage) <= set(get_type_hints(schemas.UsageMetadata))
    assert set(usage["input_cost_details"]) <= set(
        get_type_hints(schemas.InputCostDetails)
    )
    assert set(usage["input_token_details"]) <= set(
        get_type_hints(schemas.InputTokenDetails)
    )


def test_langfuse_usage_details_split_the_prompt():
    assert langfuse_usage_details(RESEARCHER) == {
        "input": 0,
        "input_cache_read": 1495,
        "input_cache_creation": 42,
        "output": 159,
        "total": 1696,
    }


def test_langfuse_cost_details_per_usage_type_and_total():
    assert langfuse_cost_details(RESEARCHER) == {
        "input": 0.0,
        "input_cache_read": 0.0004485,
        "input_cache_creation": 0.0001575,
        "output": 0.002385,
        "total": 0.002991,
    }


def test_langfuse_cost_details_use_the_usage_details_keys():
    costs = langfuse_cost_details(PLANNER)
    assert set(costs) == set(langfuse_usage_details(PLANNER))


def test_langfuse_cost_details_of_an_unpriced_call_are_empty():
    assert langfuse_cost_details(UNPRICED) == {}
