"""Comparing two sets of calls: which groups got costlier, by how much, and why."""

from __future__ import annotations

from decimal import Decimal

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from langgraph_tokenomics import UsageRecord
from langgraph_tokenomics._plot import (
    SpendComparison,
    plot_comparison,
    save_report_plot,
)


def call(
    node: str,
    *,
    prompt: int,
    read: int = 0,
    output: int = 10,
    costs: tuple[str, str, str, str] | None,
    model: str = "m",
) -> UsageRecord:
    parts: list[Decimal | None] = [None] * 4
    if costs is not None:
        parts = [Decimal(part) for part in costs]
    return UsageRecord(
        run_id=f"{node}-{prompt}",
        node=node,
        model=model,
        input_tokens=prompt,
        cache_read_tokens=read,
        output_tokens=output,
        input_cost=parts[0],
        cache_read_cost=parts[1],
        cache_write_cost=parts[2],
        output_cost=parts[3],
        cost=None if costs is None else sum(map(Decimal, costs), Decimal(0)),
    )


BEFORE = [
    *[call("agent", prompt=1000, read=800, costs=("1", "1", "0", "2"))] * 2,
    call("writer", prompt=500, costs=("2", "0", "0", "3")),
    call("summarizer", prompt=100, costs=("0.5", "0", "0", "0.5")),
]
AFTER = [
    *[call("agent", prompt=2000, read=200, costs=("3", "0.5", "0", "2"), model="m2")]
    * 3,
    call("writer", prompt=500, costs=("2", "0", "0", "3")),
    call("critic", prompt=300, costs=("1", "0", "0", "1")),
]


@pytest.fixture(autouse=True)
def no_pyplot_figures_left():
    yield
    plt.close("all")


@pytest.fixture
def comparison() -> SpendComparison:
    return SpendComparison(BEFORE, AFTER)


def test_rows_come_most_increased_first(comparison):
    changes = [(row.key, row.cost_change) for row in comparison]
    assert changes == [
        ("agent", Decimal("8.5")),
        ("critic", Decimal(2)),
        ("writer", Decimal(0)),
        ("summarizer", Decimal(-1)),
    ]


def test_the_changes_sum_to_the_totals_change(comparison):
    assert comparison.total_change == Decimal("9.5")
    assert sum(row.cost_change for row in comparison) == comparison.total_change


def test_why_a_group_got_costlier(comparison):
    assert comparison.row("agent").reasons == (
        "calls 2 → 3",
        "prompt 1,000 → 2,000 tokens/call",
        "cache hits 80% → 10%",
        "model m → m2",
    )


def test_the_change_splits_exactly_by_token_kind(comparison):
    row = comparison.row("agent")
    assert row.kind_cost_change == {
        "input": Decimal(7),
        "cache_read": Decimal("-0.5"),
        "cache_write": Decimal(0),
        "output": Decimal(2),
    }
    assert sum(row.kind_cost_change.values()) == row.cost_change


def test_an_unchanged_group_has_no_reasons(comparison):
    assert comparison.row("writer").reasons == ()


def test_groups_on_one_side_only_are_new_or_gone(comparison):
    new, gone = comparison.row("critic"), comparison.row("summarizer")
    assert (new.reasons, new.before) == (("new",), None)
    assert (gone.reasons, gone.after) == (("gone",), None)


def test_unpriced_calls_after_are_named_not_counted_as_zero():
    after = [*BEFORE[:2], call("agent", prompt=1000, read=800, costs=None)]
    row = SpendComparison(BEFORE[:2], after).row("agent")
    assert row.reasons == ("calls 2 → 3", "1 unpriced")
    assert row.cost_change == Decimal(0)


def test_the_table_reads_row_by_row(comparison):
    lines = [line.rstrip() for line in str(comparison).splitlines()]
    assert lines[0].strip() == "LLM spend by node: before and after"
    assert lines[2:] == [
        " node             before        after       change   why",
        " " + "─" * 118,
        " agent         $8.000000   $16.500000   +$8.500000   calls 2 → 3; prompt "
        "1,000 → 2,000 tokens/call; cache hits 80% →",
        "                                                     10%; model m → m2",
        " critic        $0.000000    $2.000000   +$2.000000   new",
        " writer        $5.000000    $5.000000    $0.000000",
        " summarizer    $1.000000    $0.000000   -$1.000000   gone",
        "",
        " total        $14.000000   $23.500000   +$9.500000",
        "",
    ]


def test_the_chart_pairs_before_and_after_bars_by_kind(comparison):
    ax = plot_comparison(comparison, ax=Figure().add_subplot())
    assert len(ax.patches) == 4 * 2 * 4
    assert [text.get_text() for text in ax.texts] == [
        "+$8.500000",
        "+$2.000000",
        "$0.000000",
        "-$1.000000",
    ]


def test_the_report_gains_a_comparison_chart_with_a_baseline(tmp_path):
    figure = save_report_plot(AFTER, tmp_path / "report.png", baseline=BEFORE)
    assert len(figure.axes) == 4
    assert len(figure.axes[3].patches) == 32
