"""Exports of recorded calls to the tools platform and FinOps teams already use.

- OpenTelemetry: one span per model call with the GenAI semantic-convention
  attributes, and counters of tokens and cost. Needs the ``otel`` extra
  (``opentelemetry-sdk``, or any OpenTelemetry API provider); the API is
  imported only when one of these functions is called.
- FinOps FOCUS: the ledger as a FOCUS 1.x cost-and-usage CSV, one row per
  call and token kind. Standard library only.
- LangSmith and Langfuse: our computed costs in the usage shapes those tools
  read, as plain dicts.

Our own span attributes, all optional (omitted when the record has no value):

=============================  ================================================
``tokenomics.node``            innermost LangGraph node of the call
``tokenomics.node_path``       nodes through subgraphs, outermost first
``tokenomics.thread_id``       LangGraph ``thread_id``
``tokenomics.run_id``          LangChain run id of the model call
``tokenomics.root_run_id``     run id of the graph invocation
``tokenomics.step``            LangGraph superstep
``tokenomics.tags.<key>``      each attribution tag (agent, team, workflow...)
``tokenomics.cost.amount``     total cost as an exact decimal string
``tokenomics.cost.currency``   ``"USD"``
``tokenomics.cost.<kind>``     cost of ``input`` (uncached), ``cache_read``,
                               ``cache_write`` and ``output`` tokens
``tokenomics.price_source``    where the price came from
``tokenomics.priced``          ``False`` when the model had no known price
                               (the cost attributes are then absent)
``tokenomics.estimated``       ``True`` when tokens were counted locally
``tokenomics.service_tier``    ``"priority"`` or ``"flex"`` when billed so
=============================  ================================================
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, Inexact, localcontext
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ._records import UsageRecord

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import Tracer, TracerProvider

__all__ = [
    "FOCUS_COLUMNS",
    "TOKEN_KINDS",
    "OTelRecordListener",
    "TokenKind",
    "export_otel_spans",
    "focus_rows",
    "langfuse_cost_details",
    "langfuse_usage_details",
    "langsmith_usage",
    "otel_span_attributes",
    "record_otel_metrics",
    "write_focus_csv",
]

logger = logging.getLogger(__name__)

_INSTRUMENTATION_NAME = "langgraph_tokenomics"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PER_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class TokenKind:
    """One disjoint, separately priced part of a call's tokens.

    Attributes:
        name: Machine name: ``input`` (uncached), ``cache_read``,
            ``cache_write`` or ``output``.
        label: Human name, e.g. ``"cache read"``.
        tokens_field: The `UsageRecord` attribute holding its tokens.
        cost_field: The `UsageRecord` attribute holding its cost.
    """

    name: str
    label: str
    tokens_field: str
    cost_field: str

    def tokens(self, record: UsageRecord) -> int:
        """The record's tokens of this kind."""
        return int(getattr(record, self.tokens_field))

    def cost(self, record: UsageRecord) -> Decimal | None:
        """The record's cost of this kind; ``None`` when unpriced."""
        if record.cost is None:
            return None
        cost: Decimal = getattr(record, self.cost_field)
        return cost


TOKEN_KINDS: tuple[TokenKind, ...] = (
    TokenKind("input", "uncached input", "uncached_input_tokens", "input_cost"),
    TokenKind("cache_read", "cache read", "cache_read_tokens", "cache_read_cost"),
    TokenKind("cache_write", "cache write", "cache_write_tokens", "cache_write_cost"),
    TokenKind("output", "output", "output_tokens", "output_cost"),
)
"""The four token kinds; their tokens sum to the call's, their costs to its cost."""


# -- OpenTelemetry --------------------------------------------------------------

# LangChain's ls_provider -> the GenAI semantic conventions' gen_ai.provider.name
_OTEL_PROVIDERS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "google_genai": "gcp.gen_ai",
    "google_vertexai": "gcp.vertex_ai",
    "google": "gcp.gen_ai",
    "bedrock": "aws.bedrock",
    "amazon_bedrock": "aws.bedrock",
    "mistralai": "mistral_ai",
    "xai": "x_ai",
    "deepseek": "deepseek",
    "groq": "groq",
    "cohere": "cohere",
    "perplexity": "perplexity",
    "ibm": "ibm.watsonx.ai",
}
_TOKEN_BUCKETS = [4**power for power in range(14)]  # the conventions' advice


def otel_span_attributes(record: UsageRecord) -> dict[str, Any]:
    """The span attributes of one model call: GenAI conventions and ours.

    Attributes without a value (no tool, no thread, unpriced cost) are left
    out rather than set to an empty or zero value.
    """
    provider = _otel_provider(record.provider)
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": provider,
        "gen_ai.system": provider,
        "gen_ai.request.model": record.model,
        "gen_ai.response.model": record.model,
        "gen_ai.conversation.id": record.thread_id,
        "gen_ai.usage.input_tokens": record.input_tokens,
        "gen_ai.usage.output_tokens": record.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": record.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": record.cache_write_tokens,
        "gen_ai.usage.reasoning.output_tokens": record.reasoning_tokens,
        "gen_ai.tool.name": record.tool,
        "error.type": record.error,
        "tokenomics.node": record.node,
        "tokenomics.node_path": record.node_path or None,
        "tokenomics.thread_id": record.thread_id,
        "tokenomics.run_id": record.run_id,
        "tokenomics.root_run_id": record.root_run_id,
        "tokenomics.step": record.step,
        "tokenomics.priced": record.priced,
        "tokenomics.estimated": record.estimated,
        "tokenomics.service_tier": record.service_tier,
        "tokenomics.price_source": record.price_source,
        **_cost_attributes(record),
        **{f"tokenomics.tags.{key}": value for key, value in record.tags.items()},
    }
    return {key: value for key, value in attributes.items() if value is not None}


def _cost_attributes(record: UsageRecord) -> dict[str, str]:
    if record.cost is None:
        return {}
    attributes = {
        "tokenomics.cost.amount": _decimal_text(record.cost),
        "tokenomics.cost.currency": "USD",
    }
    for kind in TOKEN_KINDS:
        cost = kind.cost(record)
        if cost is not None:
            attributes[f"tokenomics.cost.{kind.name}"] = _decimal_text(cost)
    return attributes


def _otel_provider(provider: str | None) -> str | None:
    if provider is None:
        return None
    return _OTEL_PROVIDERS.get(provider.lower(), provider)


def export_otel_spans(
    records: Iterable[UsageRecord], tracer_provider: TracerProvider | None = None
) -> int:
    """Emit one ``chat`` span per record, timed by its start and end.

    Args:
        records: The calls, e.g. ``handler.records``.
        tracer_provider: Where spans go; the global provider by default.

    Returns:
        The number of spans emitted. Spans are children of the context
        current when this is called.
    """
    tracer = _tracer(tracer_provider)
    count = 0
    for record in records:
        _emit_span(tracer, record)
        count += 1
    return count


def record_otel_metrics(
    records: Iterable[UsageRecord], meter_provider: MeterProvider | None = None
) -> int:
    """Add the records to the token and cost counters.

    Instruments (all monotonic, attributes omitted when unknown):

    - ``gen_ai.client.token.usage`` (histogram, ``{token}``): the GenAI
      conventions' metric, ``gen_ai.token.type`` ``input`` or ``output``.
    - ``tokenomics.tokens`` (counter, ``{token}``): by ``tokenomics.token.kind``
      (``input`` uncached, ``cache_read``, ``cache_write``, ``output``),
      ``tokenomics.node``, model and provider.
    - ``tokenomics.cost`` (counter, ``USD``, float): priced calls by
      ``tokenomics.node``, model and provider. Spans carry the exact amount.
    - ``tokenomics.calls`` (counter, ``{call}``): by node, model, provider and
      ``tokenomics.priced``, so unpriced calls are counted, not hidden.

    Tags are not metric attributes: values such as user ids would explode
    the series count; group spans or the FOCUS export by tag instead.

    Returns:
        The number of records added.
    """
    instruments = _Instruments(meter_provider)
    count = 0
    for record in records:
        instruments.add(record)
        count += 1
    return count


class OTelRecordListener:
    """Emits each record to OpenTelemetry as it lands in a handler's ledger.

    Example:
        ```python
        handler.ledger.subscribe(OTelRecordListener())
        ```

    The ledger may call it on its own thread, soon after each call ends: a
    span is then a child of whatever context is current there (none, with a
    background ledger), not of the graph's. A failure to export is logged
    and never reaches the graph run.

    Args:
        tracer_provider: Where spans go; the global provider by default.
        meter_provider: Where metrics go; the global provider by default.
        spans: Emit a span per record.
        metrics: Add each record to the counters of `record_otel_metrics`.
    """

    def __init__(
        self,
        tracer_provider: TracerProvider | None = None,
        meter_provider: MeterProvider | None = None,
        *,
        spans: bool = True,
        metrics: bool = True,
    ) -> None:
        self._tracer = _tracer(tracer_provider) if spans else None
        self._instruments = _Instruments(meter_provider) if metrics else None

    def __call__(self, record: UsageRecord) -> None:
        try:
            if self._tracer is not None:
                _emit_span(self._tracer, record)
            if self._instruments is not None:
                self._instruments.add(record)
        except Exception:
            logger.exception("could not export model call %s", record.run_id)


class _Instruments:
    """The metric instruments of one meter provider."""

    def __init__(self, meter_provider: MeterProvider | None) -> None:
        metrics = _otel_module("opentelemetry.metrics")
        provider = meter_provider or metrics.get_meter_provider()
        meter = provider.get_meter(_INSTRUMENTATION_NAME)
        self.token_usage = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Input and output tokens per model call",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self.tokens = meter.create_counter(
            "tokenomics.tokens",
            unit="{token}",
            description="Tokens by kind: uncached input, cache read and write, output",
        )
        self.cost = meter.create_counter(
            "tokenomics.cost", unit="USD", description="Cost of priced model calls"
        )
        self.calls = meter.create_counter(
            "tokenomics.calls", unit="{call}", description="Model calls"
        )

    def add(self, record: UsageRecord) -> None:
        where = _metric_attributes(record)
        semconv = {
            key: value
            for key, value in otel_span_attributes(record).items()
            if key in _SEMCONV_METRIC_KEYS
        }
        self.token_usage.record(
            record.input_tokens, {**semconv, "gen_ai.token.type": "input"}
        )
        self.token_usage.record(
            record.output_tokens, {**semconv, "gen_ai.token.type": "output"}
        )
        for kind in TOKEN_KINDS:
            self.tokens.add(
                kind.tokens(record), {**where, "tokenomics.token.kind": kind.name}
            )
        if record.cost is not None:
            self.cost.add(float(record.cost), where)
        self.calls.add(1, {**where, "tokenomics.priced": record.priced})


_SEMCONV_METRIC_KEYS = frozenset(
    {
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "error.type",
    }
)


def _metric_attributes(record: UsageRecord) -> dict[str, str]:
    attributes = {
        "tokenomics.node": record.node,
        "gen_ai.request.model": record.model,
        "gen_ai.provider.name": _otel_provider(record.provider),
    }
    return {key: value for key, value in attributes.items() if value is not None}


def _emit_span(tracer: Tracer, record: UsageRecord) -> None:
    trace = _otel_module("opentelemetry.trace")
    start = _nanoseconds(record.started_at or record.ended_at)
    end = _nanoseconds(record.ended_at or record.started_at)
    span = tracer.start_span(
        f"chat {record.model}" if record.model else "chat",
        kind=trace.SpanKind.CLIENT,
        attributes=otel_span_attributes(record),
        start_time=start,
    )
    if record.error is not None:
        span.set_status(trace.Status(trace.StatusCode.ERROR, record.error))
    span.end(end_time=end)


def _tracer(tracer_provider: TracerProvider | None) -> Tracer:
    trace = _otel_module("opentelemetry.trace")
    provider = tracer_provider or trace.get_tracer_provider()
    return provider.get_tracer(_INSTRUMENTATION_NAME)


def _nanoseconds(moment: datetime | None) -> int | None:
    if moment is None:
        return None
    return (_utc(moment) - _EPOCH) // timedelta(microseconds=1) * 1000


def _otel_module(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise ImportError(
            "exporting to OpenTelemetry needs opentelemetry; install the 'otel' "
            'extra: pip install "langgraph-tokenomics[otel]"',
            name=name,
        ) from error


# -- FinOps FOCUS ---------------------------------------------------------------

FOCUS_COLUMNS: tuple[str, ...] = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ResourceId",
    "ResourceName",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "Tags",
    "x_TokenKind",
    "x_RunId",
    "x_PriceSource",
    "x_Estimated",
)
"""FOCUS 1.x columns in the specification's (alphabetical) order, then ours."""

_PROVIDER_NAMES = {
    "openai": "OpenAI",
    "anthropic": "Anthropic",
    "azure": "Microsoft",
    "azure_openai": "Microsoft",
    "azure_ai": "Microsoft",
    "google_genai": "Google",
    "google_vertexai": "Google",
    "google": "Google",
    "bedrock": "AWS",
    "amazon_bedrock": "AWS",
    "mistralai": "Mistral AI",
    "xai": "xAI",
    "deepseek": "DeepSeek",
    "groq": "Groq",
    "cohere": "Cohere",
    "perplexity": "Perplexity",
}
_TAG_PREFIX = "tokenomics/"


def focus_rows(
    records: Iterable[UsageRecord],
    *,
    billing_account_id: str | None = None,
    billing_account_name: str | None = None,
) -> list[dict[str, str]]:
    """FOCUS rows of the records: one per call and token kind it used.

    Each call becomes up to four ``Usage`` rows (uncached input, cache read,
    cache write, output); a kind with no tokens has no row, since FOCUS wants
    a positive consumed quantity and such a row costs nothing. So the
    ``BilledCost`` of the rows sums to the ledger's total exactly.

    Costs are the list prices we priced at, so billed, effective, list and
    contracted cost are equal; negotiated discounts are not known here.
    Costs are exact decimal strings. A call whose model has no known price
    gets empty cost and unit-price cells and the tag ``tokenomics/unpriced``:
    never a cost of 0 (FOCUS validators will flag those rows, which is the
    point: the cost is unknown).

    Tags are a JSON object: the record's attribution tags (agent, team,
    workflow, user...) as they are, and our own attribution under the
    ``tokenomics/`` prefix FOCUS asks of generated tags: ``tokenomics/node``,
    ``tokenomics/node_path``, ``tokenomics/tool``, ``tokenomics/thread``.

    Args:
        records: The calls, e.g. ``handler.records``.
        billing_account_id: Your account with the provider (FOCUS requires
            it); empty when not given.
        billing_account_name: Its display name.
    """
    account = (billing_account_id or "", billing_account_name or "")
    return [
        _focus_row(record, kind, account)
        for record in records
        for kind in TOKEN_KINDS
        if _has_charge(record, kind)
    ]


def write_focus_csv(
    records: Iterable[UsageRecord],
    path_or_file: str | os.PathLike[str] | IO[str],
    *,
    billing_account_id: str | None = None,
    billing_account_name: str | None = None,
) -> int:
    """Write the records as a FOCUS cost-and-usage CSV; see `focus_rows`.

    Args:
        records: The calls, e.g. ``handler.records``.
        path_or_file: A path (written as UTF-8) or an open text file.
        billing_account_id: Your account with the provider.
        billing_account_name: Its display name.

    Returns:
        The number of rows written, header excluded.
    """
    rows = focus_rows(
        records,
        billing_account_id=billing_account_id,
        billing_account_name=billing_account_name,
    )
    if isinstance(path_or_file, str | os.PathLike):
        with Path(path_or_file).open("w", newline="", encoding="utf-8") as file:
            _write_rows(file, rows)
    else:
        _write_rows(path_or_file, rows)
    return len(rows)


def _write_rows(file: IO[str], rows: Sequence[Mapping[str, str]]) -> None:
    writer = csv.DictWriter(file, fieldnames=FOCUS_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)


def _has_charge(record: UsageRecord, kind: TokenKind) -> bool:
    return kind.tokens(record) > 0 or bool(kind.cost(record))


def _focus_row(
    record: UsageRecord, kind: TokenKind, account: tuple[str, str]
) -> dict[str, str]:
    tokens = kind.tokens(record)
    cost = _decimal_text(kind.cost(record))
    provider = _provider_name(record.provider)
    model = record.model or ""
    charge_start, charge_end = _charge_period(record)
    billing_start, billing_end = _billing_period(charge_start)
    unit_price = _unit_price(kind.cost(record), tokens)
    return {
        "BilledCost": cost,
        "BillingAccountId": account[0],
        "BillingAccountName": account[1],
        "BillingCurrency": "USD",
        "BillingPeriodEnd": _focus_time(billing_end),
        "BillingPeriodStart": _focus_time(billing_start),
        "ChargeCategory": "Usage",
        "ChargeClass": "",
        "ChargeDescription": _charge_description(record, kind, provider),
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": _focus_time(charge_end),
        "ChargePeriodStart": _focus_time(charge_start),
        "ConsumedQuantity": str(tokens),
        "ConsumedUnit": "Tokens",
        "ContractedCost": cost,
        "ContractedUnitPrice": unit_price,
        "EffectiveCost": cost,
        "InvoiceIssuerName": provider,
        "ListCost": cost,
        "ListUnitPrice": unit_price,
        "PricingCategory": "Standard",
        "PricingQuantity": _decimal_text(Decimal(tokens) / _PER_MILLION),
        "PricingUnit": "1000000 Tokens",
        "ProviderName": provider,
        "PublisherName": provider,
        "ResourceId": model,
        "ResourceName": model,
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": f"{provider} API",
        "SkuId": _sku_id(record, kind),
        "SkuPriceId": _sku_price_id(record, kind),
        "Tags": json.dumps(_focus_tags(record), sort_keys=True, ensure_ascii=False),
        "x_TokenKind": kind.name,
        "x_RunId": record.run_id,
        "x_PriceSource": record.price_source or "",
        "x_Estimated": "true" if record.estimated else "false",
    }


def _provider_name(provider: str | None) -> str:
    if not provider:
        return "unknown"
    return _PROVIDER_NAMES.get(provider.lower(), provider)


def _charge_description(record: UsageRecord, kind: TokenKind, provider: str) -> str:
    where = " / ".join(record.node_path) or record.node or "outside any node"
    model = record.model or "an unknown model"
    return f"{kind.label} tokens of {model} ({provider}), {where}"


def _sku_id(record: UsageRecord, kind: TokenKind) -> str:
    return f"{record.provider or 'unknown'}/{record.model or 'unknown'}/{kind.name}"


def _sku_price_id(record: UsageRecord, kind: TokenKind) -> str:
    price = _sku_id(record, kind)
    if kind.name == "cache_write":
        if record.cache_write_1h_tokens == record.cache_write_tokens:
            price += "/1h"
        elif record.cache_write_1h_tokens == 0:
            price += "/5m"
    return f"{price}/{record.service_tier or 'standard'}"


def _unit_price(cost: Decimal | None, tokens: int) -> str:
    """USD per million tokens, when one price explains the whole cost.

    A blend (cache writes of both TTLs in one call) has no single unit price,
    and FOCUS requires unit price x quantity == cost, so it is left empty.
    """
    if cost is None or tokens == 0:
        return ""
    with localcontext() as context:
        context.traps[Inexact] = True
        try:
            price = cost * _PER_MILLION / tokens
        except Inexact:
            return ""
    return _decimal_text(price.normalize())


def _focus_tags(record: UsageRecord) -> dict[str, Any]:
    ours: dict[str, Any] = {
        "node": record.node,
        "node_path": "/".join(record.node_path) or None,
        "tool": record.tool,
        "thread": record.thread_id,
        "unpriced": True if record.cost is None else None,
        "estimated": True if record.estimated else None,
    }
    tags: dict[str, Any] = dict(record.tags)
    tags.update(
        {_TAG_PREFIX + key: value for key, value in ours.items() if value is not None}
    )
    return tags


def _charge_period(record: UsageRecord) -> tuple[datetime | None, datetime | None]:
    started = record.started_at or record.ended_at
    ended = record.ended_at or record.started_at
    if started is None or ended is None:
        return None, None
    start = _utc(started).replace(microsecond=0)
    end = _utc(ended)
    if end.microsecond:  # FOCUS times are whole seconds; the end is exclusive
        end = end.replace(microsecond=0) + timedelta(seconds=1)
    return start, max(end, start + timedelta(seconds=1))


def _billing_period(
    charge_start: datetime | None,
) -> tuple[datetime | None, datetime | None]:
    if charge_start is None:
        return None, None
    start = charge_start.replace(day=1, hour=0, minute=0, second=0)
    next_month = (start + timedelta(days=32)).replace(day=1)
    return start, next_month


def _focus_time(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else ""


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _decimal_text(amount: Decimal | None) -> str:
    """Fixed-point text: FOCUS and our attributes allow no exponents."""
    return "" if amount is None else format(amount, "f")


# -- LangSmith and Langfuse -------------------------------------------------------


def langsmith_usage(record: UsageRecord) -> dict[str, Any]:
    """The call's usage with our costs, as LangSmith reads a run's usage_metadata.

    LangSmith takes costs sent with a run over the ones it derives from its
    own price table. Put the result on the model call's run, e.g.
    ``run_tree.set(usage_metadata=langsmith_usage(record))``.

    ``input_cost`` is the whole prompt's cost (cache reads and writes
    included, as ``input_tokens`` includes them), broken down in
    ``input_cost_details``. Costs are floats, as LangSmith's schema has them;
    an unpriced call carries tokens only, never a cost of 0.
    """
    usage: dict[str, Any] = {
        "input_tokens": record.input_tokens,
        "output_tokens": record.output_tokens,
        "total_tokens": record.total_tokens,
        "input_token_details": {
            "cache_read": record.cache_read_tokens,
            "cache_creation": record.cache_write_tokens,
        },
        "output_token_details": {"reasoning": record.reasoning_tokens},
    }
    if record.cost is None:
        return usage
    prompt_costs = _costs(
        (record.input_cost, record.cache_read_cost, record.cache_write_cost)
    )
    usage.update(
        input_cost=float(sum(prompt_costs, Decimal(0))),
        output_cost=float(record.output_cost or 0),
        total_cost=float(record.cost),
        input_cost_details={
            "cache_read": float(prompt_costs[1]),
            "cache_creation": float(prompt_costs[2]),
        },
    )
    return usage


def langfuse_usage_details(record: UsageRecord) -> dict[str, int]:
    """The call's tokens as a Langfuse generation's ``usage_details``.

    Keys match the ones Langfuse's LangChain integration sends, with the
    cache parts taken out of ``input`` so the parts add up to ``total``.
    """
    return {
        "input": record.uncached_input_tokens,
        "input_cache_read": record.cache_read_tokens,
        "input_cache_creation": record.cache_write_tokens,
        "output": record.output_tokens,
        "total": record.total_tokens,
    }


def langfuse_cost_details(record: UsageRecord) -> dict[str, float]:
    """Our costs as a Langfuse generation's ``cost_details`` (USD floats).

    Keyed like `langfuse_usage_details`, with ``total``; Langfuse prefers
    ingested costs to the ones it infers. Example:
    ``generation.update(usage_details=langfuse_usage_details(record),
    cost_details=langfuse_cost_details(record))``.

    An unpriced call gives ``{}``: Langfuse may infer a cost, and we never
    claim 0.
    """
    if record.cost is None:
        return {}
    input_cost, read_cost, write_cost, output_cost = _costs(
        (
            record.input_cost,
            record.cache_read_cost,
            record.cache_write_cost,
            record.output_cost,
        ),
    )
    return {
        "input": float(input_cost),
        "input_cache_read": float(read_cost),
        "input_cache_creation": float(write_cost),
        "output": float(output_cost),
        "total": float(record.cost),
    }


def _costs(parts: tuple[Decimal | None, ...]) -> tuple[Decimal, ...]:
    """The cost parts of a priced record (a priced record has every part)."""
    return tuple(Decimal(0) if part is None else part for part in parts)
