"""Charts of spend: cost by token kind, prompt growth, cache hit rate, and
comparisons of two sets of calls (two periods, two revisions of an agent).

matplotlib is imported only inside the drawing functions (install the
``plot`` extra); nothing else in the package imports it, and
`SpendComparison` needs none. Each ``plot_*`` function draws on the Axes it
is given, or on a new pyplot figure (so notebooks show it inline), and
returns the Axes. `save_report_plot` draws on one figure with the Agg
canvas, without touching pyplot's state.
"""

from __future__ import annotations

import io
import os
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console
from rich.table import Table

from ._errors import ConfigurationError
from ._export import TOKEN_KINDS, TokenKind
from ._records import UsageRecord
from ._report import Breakdown, BreakdownRow, group_key

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "KIND_COLORS",
    "ComparisonRow",
    "SpendComparison",
    "plot_cache_hit_rate",
    "plot_comparison",
    "plot_context_growth",
    "plot_cost_by_node",
    "save_report_plot",
]

KIND_COLORS: dict[str, str] = {
    "input": "#4c72b0",
    "cache_read": "#55a868",
    "cache_write": "#dd8452",
    "output": "#c44e52",
}
"""Bar colour of each token kind (by `TokenKind.name`)."""

_FORMATS = {".png": "png", ".svg": "svg"}
_NONE_LABEL = "(none)"
_NOTABLE_CHANGE = 0.10  # relative change of calls, prompt or output per call
_NOTABLE_CACHE_CHANGE = 0.05  # change of the cache hit share, in points


def plot_cost_by_node(
    records: Sequence[UsageRecord], *, by: str = "node", ax: Axes | None = None
) -> Axes:
    """Stacked bars: each group's cost split by token kind, costliest first.

    One bar per group and kind (uncached input, cache read, cache write,
    output), so the Axes holds ``groups x 4`` bar patches. A group with
    unpriced calls says so in its label; their cost is unknown, not 0.

    Args:
        records: The calls, e.g. ``handler.records``.
        by: A `Breakdown` grouping: node, node_path, tool, model, a tag...
        ax: Where to draw; a new figure when ``None``.
    """
    _require_matplotlib()
    ax = ax if ax is not None else _new_axes()
    groups = _groups(records, by)
    positions = list(range(len(groups)))
    bottoms = [0.0] * len(groups)
    for kind in TOKEN_KINDS:
        heights = [float(_kind_cost(group, kind)) for _, group in groups]
        ax.bar(
            positions,
            heights,
            bottom=bottoms,
            color=KIND_COLORS[kind.name],
            label=kind.label,
        )
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]

    ax.set_xticks(positions, [_cost_label(key, group) for key, group in groups])
    ax.set_ylabel("USD")
    ax.set_title(f"LLM cost by {by} and token kind")
    ax.legend()
    return ax


def plot_context_growth(
    records: Sequence[UsageRecord], *, by: str = "node", ax: Axes | None = None
) -> Axes:
    """Lines: the prompt size (input tokens) of each call, in order, per group.

    Args:
        records: The calls, e.g. ``handler.records``.
        by: A `Breakdown` grouping: node, node_path, tool, model, a tag...
        ax: Where to draw; a new figure when ``None``.
    """
    _require_matplotlib()
    from matplotlib.ticker import MaxNLocator

    ax = ax if ax is not None else _new_axes()
    for key, group in _groups(records, by):
        calls = _in_start_order(group)
        turns = range(1, len(calls) + 1)
        prompts = [call.input_tokens for call in calls]
        ax.plot(turns, prompts, marker="o", label=_label(key))

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(f"call within its {by}")
    ax.set_ylabel("prompt tokens")
    ax.set_title(f"Prompt size per call by {by}")
    ax.legend()
    return ax


def plot_cache_hit_rate(
    records: Sequence[UsageRecord], *, by: str = "node", ax: Axes | None = None
) -> Axes:
    """Bars: the share of each group's prompt tokens read from cache.

    Args:
        records: The calls, e.g. ``handler.records``.
        by: A `Breakdown` grouping: node, node_path, tool, model, a tag...
        ax: Where to draw; a new figure when ``None``.
    """
    _require_matplotlib()
    ax = ax if ax is not None else _new_axes()
    rows = list(Breakdown(records, by=by))
    positions = list(range(len(rows)))
    shares = [row.cache_hit_share * 100 for row in rows]
    bars = ax.bar(positions, shares, color=KIND_COLORS["cache_read"])
    ax.bar_label(bars, fmt="%.0f%%")

    ax.set_xticks(positions, [_label(row.key) for row in rows])
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of prompt tokens read from cache")
    ax.set_title(f"Cache hit rate by {by}")
    return ax


def save_report_plot(
    records: Sequence[UsageRecord],
    path: str | os.PathLike[str],
    *,
    by: str = "node",
    baseline: Sequence[UsageRecord] | None = None,
) -> Figure:
    """Draw the charts on one figure and write it to a PNG or SVG file.

    The format follows the file's suffix (``.png`` or ``.svg``). The charts:
    cost by token kind, prompt size per call and cache hit rate of
    ``records``; with a ``baseline`` (an earlier period or revision), a
    fourth chart compares the two (see `plot_comparison`).

    Returns:
        The figure, e.g. to inspect its Axes.

    Raises:
        ConfigurationError: The suffix is neither ``.png`` nor ``.svg``.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _FORMATS:
        raise ConfigurationError(
            f"report plot file must end in .png or .svg, got {os.fspath(path)!r}"
        )
    _require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    charts = 3 if baseline is None else 4
    figure = Figure(figsize=(10, 13 / 3 * charts), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(charts, 1)
    plot_cost_by_node(records, by=by, ax=axes[0])
    plot_context_growth(records, by=by, ax=axes[1])
    plot_cache_hit_rate(records, by=by, ax=axes[2])
    if baseline is not None:
        plot_comparison(SpendComparison(baseline, records, by=by), ax=axes[3])
    figure.savefig(path, format=_FORMATS[suffix], dpi=100)
    return figure


# -- comparisons --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One group's spend in two sets of calls, and what changed.

    Attributes:
        key: The group's value (a node, a model, a tag value...).
        before: The group's spend before; ``None`` if it had no calls.
        after: The group's spend after; ``None`` if it had no calls.
        before_costs: Dollars before, by token kind (`TokenKind.name`).
        after_costs: Dollars after, by token kind.
        reasons: What changed, in this order: ``"new"`` or ``"gone"``; else
            calls, prompt tokens per call, cache hit share, output tokens per
            call and models, each when it changed notably (10% for counts,
            5 points for the cache hit share, any change of model); and the
            unpriced calls after, whose cost is unknown.
    """

    key: Hashable
    before: BreakdownRow | None
    after: BreakdownRow | None
    before_costs: Mapping[str, Decimal]
    after_costs: Mapping[str, Decimal]
    reasons: tuple[str, ...]

    @property
    def cost_change(self) -> Decimal:
        """Dollars after minus before (priced calls only)."""
        return _cost(self.after) - _cost(self.before)

    @property
    def kind_cost_change(self) -> dict[str, Decimal]:
        """The cost change by token kind; it sums to `cost_change` exactly."""
        return {
            kind.name: self.after_costs[kind.name] - self.before_costs[kind.name]
            for kind in TOKEN_KINDS
        }


class SpendComparison(Sequence[ComparisonRow]):
    """Two sets of calls side by side, group by group: which got costlier and why.

    Give it the calls of two periods, or of two revisions of an agent run on
    the same inputs. Rows come most increased first; every group of either
    side has a row, so the changes sum to the change of the total.

    Args:
        before: The baseline calls.
        after: The calls to compare with it.
        by: A `Breakdown` grouping: node, node_path, tool, model, a tag...
    """

    def __init__(
        self,
        before: Iterable[UsageRecord],
        after: Iterable[UsageRecord],
        *,
        by: str = "node",
    ) -> None:
        self.by = by
        before_records, after_records = list(before), list(after)
        old = Breakdown(before_records, by=by)
        new = Breakdown(after_records, by=by)
        old_members = _members(before_records, by)
        new_members = _members(after_records, by)
        keys = dict.fromkeys([*(row.key for row in new), *(row.key for row in old)])
        rows = [
            _comparison_row(
                key,
                _row_or_none(old, key),
                _row_or_none(new, key),
                old_members.get(key, []),
                new_members.get(key, []),
            )
            for key in keys
        ]
        self.total_before = old.total_cost
        self.total_after = new.total_cost
        self._rows = sorted(rows, key=lambda row: (-row.cost_change, _label(row.key)))

    @property
    def total_change(self) -> Decimal:
        """Dollars after minus before, over every group."""
        return self.total_after - self.total_before

    def __getitem__(self, index: Any) -> Any:
        return self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[ComparisonRow]:
        return iter(self._rows)

    def to_rows(self) -> list[dict[str, Any]]:
        """Plain dicts, one per group: costs before and after, change, reasons."""
        return [
            {
                "by": self.by,
                "key": row.key,
                "calls_before": row.before.calls if row.before else 0,
                "calls_after": row.after.calls if row.after else 0,
                "cost_before": _cost(row.before),
                "cost_after": _cost(row.after),
                "cost_change": row.cost_change,
                **{f"{k}_change": v for k, v in row.kind_cost_change.items()},
                "reasons": "; ".join(row.reasons),
            }
            for row in self._rows
        ]

    def row(self, key: Hashable) -> ComparisonRow:
        """The row of one group; ``KeyError`` if neither side had it."""
        for row in self._rows:
            if row.key == key:
                return row
        raise KeyError(key)

    def __rich__(self) -> Table:
        table = Table(
            title=f"LLM spend by {self.by}: before and after",
            box=box.SIMPLE_HEAD,
            pad_edge=False,
            show_footer=True,
        )
        table.add_column(self.by, footer="total")
        table.add_column("before", justify="right", footer=_usd(self.total_before))
        table.add_column("after", justify="right", footer=_usd(self.total_after))
        table.add_column(
            "change", justify="right", footer=_usd(self.total_change, sign=True)
        )
        table.add_column("why", overflow="fold")
        for row in self._rows:
            table.add_row(
                _label(row.key),
                _usd(_cost(row.before)),
                _usd(_cost(row.after)),
                _usd(row.cost_change, sign=True),
                "; ".join(row.reasons),
            )
        return table

    def __str__(self) -> str:
        buffer = io.StringIO()
        Console(file=buffer, width=120, color_system=None).print(self)
        return buffer.getvalue()


def plot_comparison(comparison: SpendComparison, *, ax: Axes | None = None) -> Axes:
    """Paired stacked bars per group: cost before (faded) and after, by token kind.

    The Axes holds ``groups x 2 x 4`` bar patches, most increased group first,
    each pair labelled with its change in dollars.
    """
    _require_matplotlib()
    ax = ax if ax is not None else _new_axes()
    rows = list(comparison)
    centers = list(range(len(rows)))
    for side, offset, alpha in (("before", -0.2, 0.45), ("after", 0.2, 1.0)):
        bottoms = [0.0] * len(rows)
        for kind in TOKEN_KINDS:
            heights = [float(_side_costs(row, side)[kind.name]) for row in rows]
            ax.bar(
                [center + offset for center in centers],
                heights,
                width=0.4,
                bottom=bottoms,
                color=KIND_COLORS[kind.name],
                alpha=alpha,
                label=kind.label if side == "after" else None,
            )
            bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
        if side == "after":
            for center, row, top in zip(centers, rows, bottoms, strict=True):
                text = _usd(row.cost_change, sign=True)
                ax.annotate(text, (center + offset, top), ha="center", va="bottom")

    ax.set_xticks(centers, [_label(row.key) for row in rows])
    ax.set_ylabel("USD")
    ax.set_title(f"LLM cost by {comparison.by}: before (faded) and after")
    ax.legend()
    return ax


def _comparison_row(
    key: Hashable,
    before: BreakdownRow | None,
    after: BreakdownRow | None,
    before_records: Sequence[UsageRecord],
    after_records: Sequence[UsageRecord],
) -> ComparisonRow:
    return ComparisonRow(
        key=key,
        before=before,
        after=after,
        before_costs={k.name: _kind_cost(before_records, k) for k in TOKEN_KINDS},
        after_costs={k.name: _kind_cost(after_records, k) for k in TOKEN_KINDS},
        reasons=_reasons(before, after, before_records, after_records),
    )


def _reasons(
    before: BreakdownRow | None,
    after: BreakdownRow | None,
    before_records: Sequence[UsageRecord],
    after_records: Sequence[UsageRecord],
) -> tuple[str, ...]:
    if before is None:
        return ("new",)
    if after is None:
        return ("gone",)
    reasons = []
    if _notable(before.calls, after.calls):
        reasons.append(f"calls {before.calls:,} → {after.calls:,}")
    prompts = (before.input_tokens / before.calls, after.input_tokens / after.calls)
    if _notable(*prompts):
        reasons.append(f"prompt {prompts[0]:,.0f} → {prompts[1]:,.0f} tokens/call")
    hits = (before.cache_hit_share, after.cache_hit_share)
    if abs(hits[1] - hits[0]) >= _NOTABLE_CACHE_CHANGE:
        reasons.append(f"cache hits {hits[0]:.0%} → {hits[1]:.0%}")
    outputs = (before.output_tokens / before.calls, after.output_tokens / after.calls)
    if _notable(*outputs):
        reasons.append(f"output {outputs[0]:,.0f} → {outputs[1]:,.0f} tokens/call")
    models = (_models(before_records), _models(after_records))
    if models[0] != models[1]:
        reasons.append(f"model {models[0]} → {models[1]}")
    if after.unpriced_calls:
        reasons.append(f"{after.unpriced_calls} unpriced")
    return tuple(reasons)


def _notable(before: float, after: float) -> bool:
    if before == 0:
        return after != 0
    return abs(after - before) / before >= _NOTABLE_CHANGE


def _models(records: Sequence[UsageRecord]) -> str:
    return ", ".join(sorted({record.model or "(unknown)" for record in records}))


def _members(
    records: Sequence[UsageRecord], by: str
) -> dict[Hashable, list[UsageRecord]]:
    key_of = group_key(by)
    members: dict[Hashable, list[UsageRecord]] = {}
    for record in records:
        members.setdefault(key_of(record), []).append(record)
    return members


def _row_or_none(breakdown: Breakdown, key: Hashable) -> BreakdownRow | None:
    try:
        return breakdown.row(key)
    except KeyError:
        return None


def _side_costs(row: ComparisonRow, side: str) -> Mapping[str, Decimal]:
    return row.before_costs if side == "before" else row.after_costs


def _cost(row: BreakdownRow | None) -> Decimal:
    return row.cost if row is not None else Decimal(0)


def _usd(amount: Decimal, *, sign: bool = False) -> str:
    text = f"${abs(amount):.6f}"
    if amount < 0:
        return f"-{text}"
    return f"+{text}" if sign and amount > 0 else text


def _groups(
    records: Sequence[UsageRecord], by: str
) -> list[tuple[Hashable, list[UsageRecord]]]:
    """The records of each group, in the breakdown's order (costliest first)."""
    members = _members(records, by)
    return [(row.key, members[row.key]) for row in Breakdown(records, by=by)]


def _kind_cost(records: Sequence[UsageRecord], kind: TokenKind) -> Decimal:
    costs = (kind.cost(record) for record in records)
    return sum((cost for cost in costs if cost is not None), Decimal(0))


def _in_start_order(records: list[UsageRecord]) -> list[UsageRecord]:
    if all(record.started_at is not None for record in records):
        return sorted(records, key=lambda record: record.started_at)  # type: ignore[arg-type, return-value]
    return records


def _cost_label(key: Hashable, records: Sequence[UsageRecord]) -> str:
    unpriced = sum(record.cost is None for record in records)
    label = _label(key)
    return f"{label}\n(+{unpriced} unpriced)" if unpriced else label


def _label(key: Hashable) -> str:
    return _NONE_LABEL if key is None else str(key)


def _new_axes() -> Axes:
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=(8, 4.5), layout="constrained")
    return ax


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "plotting needs matplotlib; install the 'plot' extra: "
            'pip install "langgraph-tokenomics[plot]"',
            name="matplotlib",
        ) from error
