"""`langgraph_tokenomics.middleware` exports exactly its public names."""

from __future__ import annotations

import langgraph_tokenomics.middleware as middleware

PUBLIC = {
    "MAX_BREAKPOINTS",
    "SUMMARY_PROMPT",
    "SUMMARY_TEMPLATE",
    "AnthropicCacheLayout",
    "BudgetGuardMiddleware",
    "CacheBreakpoint",
    "CacheLayoutMiddleware",
    "CacheLayoutReport",
    "CacheLayoutWarning",
    "CallScope",
    "ContextTrimMiddleware",
    "HysteresisTrim",
    "HysteresisTrimmer",
    "InvalidHistoryError",
    "ModelCall",
    "RoutedChatModel",
    "RoutingMiddleware",
    "ShapedChatModel",
    "TokenizerFallbackWarning",
    "TrimCut",
    "TrimSummarizer",
    "VolatileSpan",
    "VolatileSpanTracker",
    "VolatileSplit",
    "anthropic_min_cacheable_tokens",
    "canonical_json",
    "clear_old_tool_results",
    "context_window",
    "count_message_tokens",
    "count_text_tokens",
    "count_tokens",
    "cut_cost",
    "find_volatile_spans",
    "layout_anthropic_request",
    "prompt_cache_key",
    "route_model",
    "shape_model",
    "stable_tool_order",
    "trim_messages_safe",
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(middleware.__all__) == PUBLIC


def test_every_exported_name_resolves() -> None:
    missing = [name for name in middleware.__all__ if not hasattr(middleware, name)]

    assert missing == []


def test_the_tokenizer_warning_is_the_core_one() -> None:
    import langgraph_tokenomics

    assert (
        middleware.TokenizerFallbackWarning
        is langgraph_tokenomics.TokenizerFallbackWarning
    )
