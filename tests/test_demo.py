"""The demo on real clients: records equal what the local provider billed."""

from __future__ import annotations

from decimal import Decimal

import pytest

from langgraph_tokenomics import TokenomicsCallbackHandler

from .examples import load_research_agent

# USD per million tokens: input, output, cache read, 5-minute cache write
RATES = {
    "claude-sonnet-4-6": ("3", "15", "0.30", "3.75"),
    "gpt-5.4": ("2.50", "15", "0.25", "2.50"),
    "gpt-5.4-mini": ("0.75", "4.50", "0.075", "0.75"),
    "gpt-5.4-nano": ("0.20", "1.25", "0.02", "0.20"),
}


@pytest.fixture(scope="module")
def demo():
    module = load_research_agent()
    handler = TokenomicsCallbackHandler(tags={"team": "analytics"})
    server = module.run_local(handler)
    return handler, server


def expected_cost(call) -> Decimal:
    rate_in, rate_out, rate_read, rate_write = (Decimal(r) for r in RATES[call.model])
    writes = call.cache_write_5m_tokens
    uncached = call.input_tokens - call.cache_read_tokens - writes
    return (
        uncached * rate_in
        + call.cache_read_tokens * rate_read
        + writes * rate_write
        + call.output_tokens * rate_out
    ) / 1_000_000


def test_one_record_per_served_call_with_the_servers_counts(demo):
    handler, server = demo
    records = handler.records
    assert len(records) == len(server.calls) == 9
    for record, call in zip(records, server.calls, strict=True):
        assert record.model == call.model
        assert record.input_tokens == call.input_tokens
        assert record.cache_read_tokens == call.cache_read_tokens
        assert record.cache_write_tokens == (
            call.cache_write_5m_tokens + call.cache_write_1h_tokens
        )
        assert record.output_tokens == call.output_tokens
        assert record.reasoning_tokens == call.reasoning_tokens
        assert record.estimated is False


def test_costs_match_the_providers_price_sheets(demo):
    handler, server = demo
    for record, call in zip(handler.records, server.calls, strict=True):
        assert record.cost == expected_cost(call)
    assert handler.total_cost == sum(expected_cost(call) for call in server.calls)


def test_the_researcher_reads_its_cached_prefix(demo):
    handler, _ = demo
    researcher = handler.breakdown(by="node_path").row("researcher / model")
    assert researcher.calls == 6
    assert researcher.cache_read_tokens > 0
    assert researcher.cache_write_tokens > 0


def test_calls_are_attributed_to_nodes_tools_and_streamed_writer(demo):
    handler, _ = demo
    by_node = {row.key: row.calls for row in handler.breakdown(by="node_path")}
    assert by_node == {
        "planner": 1,
        "researcher / model": 6,
        "researcher / tools": 1,
        "writer": 1,
    }
    [summary] = [r for r in handler.records if r.tool is not None]
    assert (summary.tool, summary.model) == ("summarize", "gpt-5.4-nano")
    assert {r.thread_id for r in handler.records} == {"demo-1"}
    assert {r.tags["workflow"] for r in handler.records} == {"research-brief"}


def test_tool_costs_charge_carried_results_to_their_tool(demo):
    handler, _ = demo
    tools = {row.tool: row for row in handler.tool_costs()}
    assert set(tools) == {"search", "calculator", "summarize"}
    assert tools["summarize"].calls_inside == 1
    assert tools["search"].carried_tokens > tools["calculator"].carried_tokens > 0


def test_demo_main_prints_the_breakdowns(capsys, tmp_path):
    module = load_research_agent()

    assert module.main([]) == 0

    out = capsys.readouterr().out
    assert "LLM spend by node" in out
    assert "researcher" in out and "planner" in out
    assert "Tool costs" in out
    assert out.rstrip().endswith("over 9 calls")


@pytest.mark.parametrize("api", ["openai-chat", "openai-responses", "anthropic"])
def test_a_provider_response_without_usage_is_estimated(api):
    from langchain_anthropic import ChatAnthropic
    from langchain_openai import ChatOpenAI

    from langgraph_tokenomics import EstimatedUsageWarning
    from langgraph_tokenomics.local_provider import LocalProviderServer, Reply

    with LocalProviderServer(
        lambda request: Reply("five words of reply here", omit_usage=True)
    ) as server:
        if api == "anthropic":
            model = ChatAnthropic(
                model="claude-sonnet-4-6",
                base_url=server.anthropic_base_url,
                api_key="local",
                max_retries=0,
            )
        else:
            model = ChatOpenAI(
                model="gpt-5.4",
                base_url=server.openai_base_url,
                api_key="local",
                max_retries=0,
                use_responses_api=api == "openai-responses",
            )
        spend = TokenomicsCallbackHandler()
        model.invoke("How much?", config={"callbacks": [spend]})

    with pytest.warns(EstimatedUsageWarning, match="returned no usage"):
        [record] = spend.records
    assert record.estimated is True
    assert record.output_tokens == server.calls[0].output_tokens
    assert record.input_tokens > 0 and record.cost is not None and record.cost > 0


def test_cache_report_sets_prediction_against_reported_reads(demo):
    handler, _ = demo
    report = {row["key"]: row for row in handler.cache_report(by="node_path").to_rows()}
    researcher = report["researcher / model"]
    assert researcher["predicted_cache_tokens"] >= researcher["cache_read_tokens"] > 0
    saved = sum(
        r.cache_savings
        for r in handler.records
        if r.node_path == ("researcher", "model")
    )
    assert researcher["cache_savings"] == saved > 0
    assert report["planner"]["predicted_cache_tokens"] == 0


def test_no_prompt_or_completion_text_is_kept_in_records(demo):
    module = load_research_agent()
    handler, _ = demo
    texts = [module.QUESTION[:40], module._BRIEF[:40], module._FINDINGS[:40]]
    for record in handler.records:
        dumped = repr(record)
        assert not any(text in dumped for text in texts)
