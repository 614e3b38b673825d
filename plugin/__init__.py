"""Attribute, budget and cut what LangGraph agents spend on model calls.

Add one handler to a graph's run config and every model call is measured,
priced and attributed to the node, subgraph path, tool, model, thread and
tags that caused it::

    from langgraph_tokenomics import TokenomicsCallbackHandler

    handler = TokenomicsCallbackHandler(tags={"team": "research"})
    graph.invoke(inputs, config={"callbacks": [handler]})
    print(handler.breakdown(by="node"))
"""

from ._budget import Budget, BudgetSoftLimitWarning, SoftLimitEvent
from ._canary import ArmStats, Canary, CanaryDecision
from ._counting import TokenCounter
from ._errors import (
    BudgetExceededError,
    ConfigurationError,
    EstimatedUsageWarning,
    StoreUnavailableError,
    TokenizerFallbackWarning,
    TokenomicsError,
    TokenomicsRuntimeError,
    TokenomicsWarning,
    UnpricedModelWarning,
)
from ._export import (
    OTelRecordListener,
    export_otel_spans,
    focus_rows,
    langfuse_cost_details,
    langfuse_usage_details,
    langsmith_usage,
    record_otel_metrics,
    write_focus_csv,
)
from ._guardrails import (
    CostAnomaly,
    CostAnomalyError,
    CostAnomalyGuard,
    CostAnomalyWarning,
    GuardrailError,
    GuardrailWarning,
    PromptGrowthError,
    Quota,
    QuotaExceededError,
    QuotaGuard,
    RunawayEvent,
    RunawayGuard,
    RunawayLoopError,
    RunawayWarning,
)
from ._guards import CallGuard, ToolCallEvent
from ._outcomes import OutcomeReport, OutcomeReportRow, mark_outcome, outcome_report
from ._plot import (
    ComparisonRow,
    SpendComparison,
    plot_cache_hit_rate,
    plot_comparison,
    plot_context_growth,
    plot_cost_by_node,
    save_report_plot,
)
from ._prices import CallCost, ModelPrice, PriceBook
from ._progress import SpendProgress
from ._records import CallRequest, UsageRecord
from ._report import Breakdown, BreakdownRow, CacheReport, ToolCostRow, ToolCosts
from ._routing import Router, RoutingDecision, RoutingPolicy, RoutingRule
from ._store import Outcome
from ._usage import TokenUsage
from .callbacks import TokenomicsCallbackHandler

__all__ = [
    "ArmStats",
    "Breakdown",
    "BreakdownRow",
    "Budget",
    "BudgetExceededError",
    "BudgetSoftLimitWarning",
    "CacheReport",
    "CallCost",
    "CallGuard",
    "CallRequest",
    "Canary",
    "CanaryDecision",
    "ComparisonRow",
    "ConfigurationError",
    "CostAnomaly",
    "CostAnomalyError",
    "CostAnomalyGuard",
    "CostAnomalyWarning",
    "EstimatedUsageWarning",
    "GuardrailError",
    "GuardrailWarning",
    "ModelPrice",
    "OTelRecordListener",
    "Outcome",
    "OutcomeReport",
    "OutcomeReportRow",
    "PriceBook",
    "PromptGrowthError",
    "Quota",
    "QuotaExceededError",
    "QuotaGuard",
    "Router",
    "RoutingDecision",
    "RoutingPolicy",
    "RoutingRule",
    "RunawayEvent",
    "RunawayGuard",
    "RunawayLoopError",
    "RunawayWarning",
    "SoftLimitEvent",
    "SpendComparison",
    "SpendProgress",
    "StoreUnavailableError",
    "TokenCounter",
    "TokenUsage",
    "TokenizerFallbackWarning",
    "TokenomicsCallbackHandler",
    "TokenomicsError",
    "TokenomicsRuntimeError",
    "TokenomicsWarning",
    "ToolCallEvent",
    "ToolCostRow",
    "ToolCosts",
    "UnpricedModelWarning",
    "UsageRecord",
    "export_otel_spans",
    "focus_rows",
    "langfuse_cost_details",
    "langfuse_usage_details",
    "langsmith_usage",
    "mark_outcome",
    "outcome_report",
    "plot_cache_hit_rate",
    "plot_comparison",
    "plot_context_growth",
    "plot_cost_by_node",
    "record_otel_metrics",
    "save_report_plot",
    "write_focus_csv",
]
