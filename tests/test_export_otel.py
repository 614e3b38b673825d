"""OpenTelemetry export: spans and metrics checked field by field against records."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    HistogramDataPoint,
    InMemoryMetricReader,
    NumberDataPoint,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from langgraph_tokenomics import TokenomicsCallbackHandler, UsageRecord
from langgraph_tokenomics._export import (
    OTelRecordListener,
    export_otel_spans,
    otel_span_attributes,
    record_otel_metrics,
)
from langgraph_tokenomics._ledger import Ledger
from tests.fakes import ScriptedChatModel, WordCounter, reply

RESEARCHER = UsageRecord(
    run_id="run-2",
    root_run_id="root-1",
    thread_id="t-1",
    node="model",
    node_path=("researcher", "model"),
    step=3,
    model="claude-sonnet-4-6",
    provider="anthropic",
    input_tokens=1495,
    cache_read_tokens=1270,
    cache_write_tokens=225,
    output_tokens=18,
    input_cost=Decimal(0),
    cache_read_cost=Decimal("0.000381"),
    cache_write_cost=Decimal("0.00084375"),
    output_cost=Decimal("0.00027"),
    cost=Decimal("0.00149475"),
    price_source="genai-prices 0.2.3",
    tags={"team": "analytics", "agent": "briefs"},
    started_at=datetime(2026, 4, 1, 9, 30, 0, 123_456, tzinfo=UTC),
    ended_at=datetime(2026, 4, 1, 9, 30, 1, 654_321, tzinfo=UTC),
)
SUMMARIZER = UsageRecord(
    run_id="run-3",
    node="tools",
    node_path=("researcher", "tools"),
    tool="summarize",
    model="gpt-5.4-nano",
    provider="openai",
    input_tokens=167,
    output_tokens=44,
    reasoning_tokens=10,
    input_cost=Decimal("0.0000334"),
    cache_read_cost=Decimal(0),
    cache_write_cost=Decimal(0),
    output_cost=Decimal("0.000055"),
    cost=Decimal("0.0000884"),
    started_at=datetime(2026, 4, 1, 9, 30, 2, tzinfo=UTC),
    ended_at=datetime(2026, 4, 1, 9, 30, 3, tzinfo=UTC),
)
UNPRICED = UsageRecord(
    run_id="run-4",
    node="model",
    model="my-llama",
    provider="ollama",
    input_tokens=300,
    output_tokens=20,
    estimated=True,
    error="TimeoutError",
)
RECORDS = [RESEARCHER, SUMMARIZER, UNPRICED]


@pytest.fixture
def spans():
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture
def metrics():
    reader = InMemoryMetricReader()
    return MeterProvider(metric_readers=[reader]), reader


def points(reader: InMemoryMetricReader, name: str) -> dict[frozenset, float]:
    data = reader.get_metrics_data()
    assert data is not None
    found = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == name:
                    for point in metric.data.data_points:
                        if isinstance(point, NumberDataPoint):
                            value = point.value
                        else:
                            assert isinstance(point, HistogramDataPoint)
                            value = point.sum
                        found[frozenset((point.attributes or {}).items())] = value
    return found


def landed(ledger: Ledger) -> list[UsageRecord]:
    """Every record, once the ledger has handed each to its listeners.

    Reading the records lands those the ledger still holds, whether it hands
    them to listeners as they are added or later from a worker.
    """
    return ledger.records


def test_span_attributes_of_a_priced_call():
    assert otel_span_attributes(RESEARCHER) == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-6",
        "gen_ai.response.model": "claude-sonnet-4-6",
        "gen_ai.conversation.id": "t-1",
        "gen_ai.usage.input_tokens": 1495,
        "gen_ai.usage.output_tokens": 18,
        "gen_ai.usage.cache_read.input_tokens": 1270,
        "gen_ai.usage.cache_creation.input_tokens": 225,
        "gen_ai.usage.reasoning.output_tokens": 0,
        "tokenomics.node": "model",
        "tokenomics.node_path": ("researcher", "model"),
        "tokenomics.thread_id": "t-1",
        "tokenomics.run_id": "run-2",
        "tokenomics.root_run_id": "root-1",
        "tokenomics.step": 3,
        "tokenomics.priced": True,
        "tokenomics.estimated": False,
        "tokenomics.price_source": "genai-prices 0.2.3",
        "tokenomics.cost.amount": "0.00149475",
        "tokenomics.cost.currency": "USD",
        "tokenomics.cost.input": "0",
        "tokenomics.cost.cache_read": "0.000381",
        "tokenomics.cost.cache_write": "0.00084375",
        "tokenomics.cost.output": "0.00027",
        "tokenomics.tags.team": "analytics",
        "tokenomics.tags.agent": "briefs",
    }


def test_a_call_inside_a_tool_names_the_tool():
    assert otel_span_attributes(SUMMARIZER)["gen_ai.tool.name"] == "summarize"


def test_an_unpriced_call_has_no_cost_attributes():
    attributes = otel_span_attributes(UNPRICED)
    assert [key for key in attributes if key.startswith("tokenomics.cost")] == []
    assert (attributes["tokenomics.priced"], attributes["tokenomics.estimated"]) == (
        False,
        True,
    )


def test_one_client_span_per_record_named_after_the_model(spans):
    provider, exporter = spans
    assert export_otel_spans(RECORDS, provider) == 3
    finished = exporter.get_finished_spans()
    assert [span.name for span in finished] == [
        "chat claude-sonnet-4-6",
        "chat gpt-5.4-nano",
        "chat my-llama",
    ]
    assert {span.kind for span in finished} == {SpanKind.CLIENT}


def test_spans_carry_the_records_attributes(spans):
    provider, exporter = spans
    export_otel_spans(RECORDS, provider)
    for span, record in zip(exporter.get_finished_spans(), RECORDS, strict=True):
        assert dict(span.attributes or {}) == otel_span_attributes(record)


def test_span_times_are_the_calls_start_and_end(spans):
    provider, exporter = spans
    export_otel_spans([RESEARCHER], provider)
    span = exporter.get_finished_spans()[0]
    assert (span.start_time, span.end_time) == (
        1_775_035_800_123_456_000,
        1_775_035_801_654_321_000,
    )


def test_a_failed_call_has_an_error_status(spans):
    provider, exporter = spans
    export_otel_spans([UNPRICED], provider)
    span = exporter.get_finished_spans()[0]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None and span.attributes["error.type"] == (
        "TimeoutError"
    )


def test_cost_counter_by_node_sums_priced_calls(metrics):
    provider, reader = metrics
    record_otel_metrics(RECORDS, provider)
    assert points(reader, "tokenomics.cost") == {
        frozenset(
            {
                ("tokenomics.node", "model"),
                ("gen_ai.request.model", "claude-sonnet-4-6"),
                ("gen_ai.provider.name", "anthropic"),
            }
        ): 0.00149475,
        frozenset(
            {
                ("tokenomics.node", "tools"),
                ("gen_ai.request.model", "gpt-5.4-nano"),
                ("gen_ai.provider.name", "openai"),
            }
        ): 0.0000884,
    }


def test_token_counter_splits_by_kind(metrics):
    provider, reader = metrics
    record_otel_metrics([RESEARCHER], provider)
    by_kind = {
        dict(attributes)["tokenomics.token.kind"]: value
        for attributes, value in points(reader, "tokenomics.tokens").items()
    }
    assert by_kind == {"input": 0, "cache_read": 1270, "cache_write": 225, "output": 18}


def test_call_counter_counts_unpriced_calls_apart(metrics):
    provider, reader = metrics
    record_otel_metrics(RECORDS, provider)
    priced = {
        dict(attributes)["gen_ai.request.model"]: (
            dict(attributes)["tokenomics.priced"],
            value,
        )
        for attributes, value in points(reader, "tokenomics.calls").items()
    }
    assert priced == {
        "claude-sonnet-4-6": (True, 1),
        "gpt-5.4-nano": (True, 1),
        "my-llama": (False, 1),
    }


def test_semconv_token_usage_histogram_has_input_and_output(metrics):
    provider, reader = metrics
    record_otel_metrics([SUMMARIZER], provider)
    sums = {
        dict(attributes)["gen_ai.token.type"]: value
        for attributes, value in points(reader, "gen_ai.client.token.usage").items()
    }
    assert sums == {"input": 167, "output": 44}


def test_listener_emits_a_span_as_each_record_lands(spans, metrics):
    tracer_provider, exporter = spans
    meter_provider, reader = metrics
    ledger = Ledger()
    ledger.subscribe(OTelRecordListener(tracer_provider, meter_provider))
    ledger.add(RESEARCHER)
    landed(ledger)
    assert [span.name for span in exporter.get_finished_spans()] == [
        "chat claude-sonnet-4-6"
    ]
    ledger.add(SUMMARIZER)
    landed(ledger)
    assert len(exporter.get_finished_spans()) == 2
    assert sum(points(reader, "tokenomics.cost").values()) == 0.00149475 + 0.0000884


def test_listener_on_a_handler_emits_the_handlers_record(spans):
    tracer_provider, exporter = spans
    handler = TokenomicsCallbackHandler(counter=WordCounter())
    handler.ledger.subscribe(OTelRecordListener(tracer_provider, metrics=False))
    model = ScriptedChatModel(
        model_name="gpt-4o",
        replies=[reply(model="gpt-4o", input_tokens=12, output_tokens=3)],
    )
    model.invoke("hello", config={"callbacks": [handler]})
    landed(handler.ledger)
    (span,) = exporter.get_finished_spans()
    assert dict(span.attributes or {}) == otel_span_attributes(handler.records[0])
    assert span.attributes["gen_ai.usage.input_tokens"] == 12


class BrokenTracer:
    def start_span(self, *args, **kwargs):
        raise RuntimeError("collector is down")


def test_listener_failures_are_logged_not_raised(caplog):
    listener = OTelRecordListener(metrics=False)
    listener._tracer = BrokenTracer()  # type: ignore[assignment]
    ledger = Ledger()
    ledger.subscribe(listener)
    with caplog.at_level(logging.ERROR, logger="langgraph_tokenomics._export"):
        ledger.add(RESEARCHER)
        assert landed(ledger) == [RESEARCHER]
    assert caplog.messages == ["could not export model call run-2"]


def test_missing_opentelemetry_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.trace", None)
    with pytest.raises(ImportError, match=r"langgraph-tokenomics\[otel\]"):
        export_otel_spans([RESEARCHER])
