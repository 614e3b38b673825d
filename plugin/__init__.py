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
from ._prices import CallCost, ModelPrice, PriceBook
from ._records import CallRequest, UsageRecord
from ._report import Breakdown, BreakdownRow
from ._usage import TokenUsage
from .callbacks import TokenomicsCallbackHandler

__all__ = [
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
]
