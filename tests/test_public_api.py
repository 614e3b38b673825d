"""The exported names are the public API, and the contract names stay importable."""

from __future__ import annotations

import importlib

import pytest

PUBLIC = {
    "langgraph_tokenomics": {
        "Breakdown",
        "BreakdownRow",
        "Budget",
        "BudgetExceededError",
        "BudgetSoftLimitWarning",
        "CallCost",
        "CallRequest",
        "ConfigurationError",
        "EstimatedUsageWarning",
        "ModelPrice",
        "PriceBook",
        "SoftLimitEvent",
        "StoreUnavailableError",
        "TokenCounter",
        "TokenUsage",
        "TokenizerFallbackWarning",
        "TokenomicsCallbackHandler",
        "TokenomicsError",
        "TokenomicsWarning",
        "UnpricedModelWarning",
        "UsageRecord",
        "ArmStats",
        "Canary",
        "CanaryDecision",
        "CostAnomaly",
        "CostAnomalyError",
        "CostAnomalyGuard",
        "CostAnomalyWarning",
        "GuardrailError",
        "GuardrailWarning",
        "PromptGrowthError",
        "Quota",
        "QuotaExceededError",
        "QuotaGuard",
        "RunawayEvent",
        "RunawayGuard",
        "RunawayLoopError",
        "RunawayWarning",
        "CallGuard",
        "ToolCallEvent",
        "OutcomeReport",
        "OutcomeReportRow",
        "mark_outcome",
        "outcome_report",
        "Outcome",
        "Router",
        "RoutingDecision",
        "RoutingPolicy",
        "RoutingRule",
        "TokenomicsRuntimeError",
        "OTelRecordListener",
        "export_otel_spans",
        "focus_rows",
        "langfuse_cost_details",
        "langfuse_usage_details",
        "langsmith_usage",
        "record_otel_metrics",
        "write_focus_csv",
        "ComparisonRow",
        "SpendComparison",
        "plot_cache_hit_rate",
        "plot_comparison",
        "plot_context_growth",
        "plot_cost_by_node",
        "save_report_plot",
        "SpendProgress",
        "CacheReport",
        "ToolCosts",
        "ToolCostRow",
    },
    "langgraph_tokenomics.callbacks": {"TokenomicsCallbackHandler"},
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC))
def test_all_lists_exactly_the_public_names(module_name):
    module = importlib.import_module(module_name)
    assert set(module.__all__) == PUBLIC[module_name]
    for name in module.__all__:
        assert getattr(module, name) is not None


def test_contract_names_import():
    from langgraph_tokenomics import (  # noqa: F401
        Budget,
        BudgetExceededError,
        ModelPrice,
        PriceBook,
        TokenomicsCallbackHandler,
        UsageRecord,
    )
    from langgraph_tokenomics.middleware import trim_messages_safe  # noqa: F401


def test_usage_record_has_the_contract_fields():
    from langgraph_tokenomics import UsageRecord

    fields = set(UsageRecord.__dataclass_fields__)
    assert {
        "run_id",
        "thread_id",
        "node",
        "node_path",
        "tool",
        "model",
        "input_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cost",
        "estimated",
        "tags",
    } <= fields


def test_budget_error_carries_limit_spent_estimate_scope():
    from decimal import Decimal

    from langgraph_tokenomics import BudgetExceededError

    error = BudgetExceededError(
        scope="team=search",
        limit=Decimal("5"),
        spent=Decimal("4.9"),
        estimate=Decimal("0.2"),
    )
    assert (error.scope, error.limit, error.spent, error.estimate) == (
        "team=search",
        Decimal("5"),
        Decimal("4.9"),
        Decimal("0.2"),
    )
    assert str(error) == (
        "budget for team=search exceeded: limit $5.00, spent $4.90, "
        "next call estimated at $0.20"
    )
