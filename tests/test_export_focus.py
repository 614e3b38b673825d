"""FOCUS export: rows checked field by field against the records."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from langgraph_tokenomics import TokenomicsCallbackHandler, UsageRecord
from langgraph_tokenomics._export import FOCUS_COLUMNS, focus_rows, write_focus_csv

from .examples import load_research_agent

PLANNER = UsageRecord(
    run_id="run-1",
    root_run_id="root-1",
    thread_id="t-1",
    node="planner",
    node_path=("planner",),
    step=1,
    model="gpt-5.4-mini",
    provider="openai",
    input_tokens=54,
    output_tokens=236,
    reasoning_tokens=180,
    input_cost=Decimal("0.0000405"),
    cache_read_cost=Decimal(0),
    cache_write_cost=Decimal(0),
    output_cost=Decimal("0.001062"),
    cost=Decimal("0.0011025"),
    price_source="genai-prices 0.2.3",
    tags={"team": "analytics", "agent": "briefs"},
    started_at=datetime(2026, 3, 31, 23, 59, 58, 250_000, tzinfo=UTC),
    ended_at=datetime(2026, 3, 31, 23, 59, 59, 900_000, tzinfo=UTC),
)
RESEARCHER = UsageRecord(
    run_id="run-2",
    root_run_id="root-1",
    thread_id="t-1",
    node="model",
    node_path=("researcher", "model"),
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
    tags={"team": "analytics"},
    started_at=datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC),
    ended_at=datetime(2026, 4, 1, 0, 0, 1, tzinfo=UTC),
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
    input_cost=Decimal("0.0000334"),
    cache_read_cost=Decimal(0),
    cache_write_cost=Decimal(0),
    output_cost=Decimal("0.000055"),
    cost=Decimal("0.0000884"),
    started_at=datetime(2026, 4, 1, 0, 0, 2, tzinfo=UTC),
    ended_at=datetime(2026, 4, 1, 0, 0, 3, tzinfo=UTC),
)
UNPRICED = UsageRecord(
    run_id="run-4",
    node="writer",
    node_path=("writer",),
    model="my-llama",
    provider="ollama",
    input_tokens=300,
    output_tokens=20,
    estimated=True,
    started_at=datetime(2026, 4, 1, 0, 0, 4, tzinfo=UTC),
    ended_at=datetime(2026, 4, 1, 0, 0, 5, tzinfo=UTC),
)
RECORDS = [PLANNER, RESEARCHER, SUMMARIZER, UNPRICED]


def rows_of(record: UsageRecord) -> dict[str, dict[str, str]]:
    return {row["x_TokenKind"]: row for row in focus_rows([record])}


def test_the_planners_input_row_field_by_field():
    assert rows_of(PLANNER)["input"] == {
        "BilledCost": "0.0000405",
        "BillingAccountId": "",
        "BillingAccountName": "",
        "BillingCurrency": "USD",
        "BillingPeriodEnd": "2026-04-01T00:00:00Z",
        "BillingPeriodStart": "2026-03-01T00:00:00Z",
        "ChargeCategory": "Usage",
        "ChargeClass": "",
        "ChargeDescription": "uncached input tokens of gpt-5.4-mini (OpenAI), planner",
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": "2026-04-01T00:00:00Z",
        "ChargePeriodStart": "2026-03-31T23:59:58Z",
        "ConsumedQuantity": "54",
        "ConsumedUnit": "Tokens",
        "ContractedCost": "0.0000405",
        "ContractedUnitPrice": "0.75",
        "EffectiveCost": "0.0000405",
        "InvoiceIssuerName": "OpenAI",
        "ListCost": "0.0000405",
        "ListUnitPrice": "0.75",
        "PricingCategory": "Standard",
        "PricingQuantity": "0.000054",
        "PricingUnit": "1000000 Tokens",
        "ProviderName": "OpenAI",
        "PublisherName": "OpenAI",
        "ResourceId": "gpt-5.4-mini",
        "ResourceName": "gpt-5.4-mini",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": "OpenAI API",
        "SkuId": "openai/gpt-5.4-mini/input",
        "SkuPriceId": "openai/gpt-5.4-mini/input/standard",
        "Tags": '{"agent": "briefs", "team": "analytics", "tokenomics/node": '
        '"planner", "tokenomics/node_path": "planner", "tokenomics/thread": "t-1"}',
        "x_TokenKind": "input",
        "x_RunId": "run-1",
        "x_PriceSource": "genai-prices 0.2.3",
        "x_Estimated": "false",
    }


def test_one_row_per_token_kind_the_call_used():
    assert list(rows_of(PLANNER)) == ["input", "output"]
    assert list(rows_of(RESEARCHER)) == ["cache_read", "cache_write", "output"]


def test_each_row_carries_its_kinds_tokens_and_cost_exactly():
    rows = rows_of(RESEARCHER)
    quantities = {kind: row["ConsumedQuantity"] for kind, row in rows.items()}
    costs = {kind: row["BilledCost"] for kind, row in rows.items()}
    assert quantities == {"cache_read": "1270", "cache_write": "225", "output": "18"}
    assert costs == {
        "cache_read": "0.000381",
        "cache_write": "0.00084375",
        "output": "0.00027",
    }


def test_unit_price_is_per_million_tokens_and_times_quantity_gives_cost():
    row = rows_of(RESEARCHER)["cache_write"]
    assert row["ListUnitPrice"] == "3.75"
    assert row["PricingQuantity"] == "0.000225"
    price, quantity = Decimal(row["ListUnitPrice"]), Decimal(row["PricingQuantity"])
    assert price * quantity == Decimal(row["ListCost"])


def test_cache_write_sku_price_names_the_ttl():
    assert rows_of(RESEARCHER)["cache_write"]["SkuPriceId"] == (
        "anthropic/claude-sonnet-4-6/cache_write/5m/standard"
    )


def test_cache_writes_of_both_ttls_without_one_exact_unit_price_leave_it_empty():
    # 1 token at $6/M (1 hour) and 6 at $3.75/M (5 minutes): $28.5/M over 7
    blended = UsageRecord(
        run_id="blend",
        model="claude-sonnet-4-6",
        provider="anthropic",
        input_tokens=7,
        cache_write_tokens=7,
        cache_write_1h_tokens=1,
        input_cost=Decimal(0),
        cache_read_cost=Decimal(0),
        cache_write_cost=Decimal("0.0000285"),
        output_cost=Decimal(0),
        cost=Decimal("0.0000285"),
    )
    row = rows_of(blended)["cache_write"]
    assert (row["ListUnitPrice"], row["SkuPriceId"]) == (
        "",
        "anthropic/claude-sonnet-4-6/cache_write/standard",
    )
    assert row["BilledCost"] == "0.0000285"


def test_a_tool_call_is_tagged_with_the_tool_and_node_path():
    tags = json.loads(rows_of(SUMMARIZER)["output"]["Tags"])
    assert tags == {
        "tokenomics/node": "tools",
        "tokenomics/node_path": "researcher/tools",
        "tokenomics/tool": "summarize",
    }


def test_unpriced_rows_have_empty_costs_never_zero():
    for row in focus_rows([UNPRICED]):
        costs = [row[column] for column in ("BilledCost", "EffectiveCost")]
        costs += [row[column] for column in ("ListCost", "ContractedCost")]
        assert costs == ["", "", "", ""]
        assert (row["ListUnitPrice"], row["ContractedUnitPrice"]) == ("", "")


def test_unpriced_and_estimated_rows_say_so_in_tags():
    tags = json.loads(focus_rows([UNPRICED])[0]["Tags"])
    assert tags["tokenomics/unpriced"] is True
    assert tags["tokenomics/estimated"] is True
    assert focus_rows([UNPRICED])[0]["x_Estimated"] == "true"


def test_an_instant_call_gets_a_one_second_charge_period():
    row = rows_of(RESEARCHER)["output"]
    assert (row["ChargePeriodStart"], row["ChargePeriodEnd"]) == (
        "2026-04-01T00:00:01Z",
        "2026-04-01T00:00:02Z",
    )


def test_tiny_costs_are_written_without_exponents():
    tiny = UsageRecord(
        run_id="tiny",
        model="m",
        provider="openai",
        output_tokens=1,
        input_cost=Decimal(0),
        cache_read_cost=Decimal(0),
        cache_write_cost=Decimal(0),
        output_cost=Decimal("1E-7"),
        cost=Decimal("1E-7"),
    )
    row = focus_rows([tiny])[0]
    assert (row["BilledCost"], row["PricingQuantity"]) == ("0.0000001", "0.000001")


def test_billing_account_is_written_when_given():
    row = focus_rows(
        [SUMMARIZER], billing_account_id="org-1", billing_account_name="Acme"
    )[0]
    assert (row["BillingAccountId"], row["BillingAccountName"]) == ("org-1", "Acme")


def test_billed_cost_sums_to_the_ledger_total():
    billed = [row["BilledCost"] for row in focus_rows(RECORDS) if row["BilledCost"]]
    total = sum((record.cost for record in RECORDS if record.cost), Decimal(0))
    assert sum(map(Decimal, billed), Decimal(0)) == total == Decimal("0.00268565")


def test_consumed_quantities_sum_to_every_records_tokens():
    consumed = sum(int(row["ConsumedQuantity"]) for row in focus_rows(RECORDS))
    assert consumed == sum(record.total_tokens for record in RECORDS) == 2334


def test_csv_file_has_the_focus_header_and_one_line_per_row(tmp_path):
    path = tmp_path / "focus.csv"
    written = write_focus_csv(RECORDS, path)
    with path.open(newline="", encoding="utf-8") as file:
        reader = csv.DictReader(file)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == FOCUS_COLUMNS
    assert written == len(rows) == 9
    assert rows == focus_rows(RECORDS)


def test_csv_can_be_written_to_an_open_file():
    buffer = io.StringIO()
    assert write_focus_csv([PLANNER], buffer) == 2
    assert buffer.getvalue().splitlines()[0] == ",".join(FOCUS_COLUMNS)


# -- the demo's ledger --------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_handler():
    handler = TokenomicsCallbackHandler(tags={"team": "analytics", "agent": "brief"})
    load_research_agent().run_local(handler)
    return handler


def test_the_demos_focus_rows_sum_to_its_total(demo_handler):
    rows = focus_rows(demo_handler.records)
    billed = sum((Decimal(row["BilledCost"]) for row in rows), Decimal(0))
    assert billed == demo_handler.total_cost == Decimal("0.02685895")


def test_the_demos_rows_sum_per_node_to_its_breakdown(demo_handler):
    billed: dict[str, Decimal] = {}
    for row in focus_rows(demo_handler.records):
        node = json.loads(row["Tags"])["tokenomics/node_path"].replace("/", " / ")
        billed[node] = billed.get(node, Decimal(0)) + Decimal(row["BilledCost"])
    breakdown = demo_handler.breakdown(by="node_path")
    assert billed == {row.key: row.cost for row in breakdown}
