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
from ._counting import TokenCounter
from ._errors import (
    BudgetExceededError,
    ConfigurationError,
    EstimatedUsageWarning,
    StoreUnavailableError,
    TokenizerFallbackWarning,
    TokenomicsError,
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
from ._usage import TokenUsage
from .callbacks import TokenomicsCallbackHandler

__all__ = [
    "Breakdown",
    "BreakdownRow",
    "Budget",
    "BudgetExceededError",
    "BudgetSoftLimitWarning",
    "CacheReport",
    "CallCost",
    "CallRequest",
    "ComparisonRow",
    "ConfigurationError",
    "EstimatedUsageWarning",
    "ModelPrice",
    "OTelRecordListener",
    "PriceBook",
    "SoftLimitEvent",
    "SpendComparison",
    "SpendProgress",
    "StoreUnavailableError",
    "TokenCounter",
    "TokenUsage",
    "TokenizerFallbackWarning",
    "TokenomicsCallbackHandler",
    "TokenomicsError",
    "TokenomicsWarning",
    "ToolCostRow",
    "ToolCosts",
    "UnpricedModelWarning",
    "UsageRecord",
    "export_otel_spans",
    "focus_rows",
    "langfuse_cost_details",
    "langfuse_usage_details",
    "langsmith_usage",
    "plot_cache_hit_rate",
    "plot_comparison",
    "plot_context_growth",
    "plot_cost_by_node",
    "record_otel_metrics",
    "save_report_plot",
    "write_focus_csv",
]
