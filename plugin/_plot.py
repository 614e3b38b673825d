"""Charts of spend: cost by token kind, prompt growth, cache hit rate.

matplotlib is imported only inside these functions (install the ``plot``
extra); nothing else in the package imports it. Each ``plot_*`` function
draws on the Axes it is given, or on a new pyplot figure (so notebooks show
it inline), and returns the Axes. `save_report_plot` draws all three on one
figure with the Agg canvas, without touching pyplot's state.
"""

from __future__ import annotations

import os
from collections.abc import Hashable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import ConfigurationError
from ._export import TOKEN_KINDS, TokenKind
from ._records import UsageRecord
from ._report import Breakdown, group_key

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "KIND_COLORS",
    "plot_cache_hit_rate",
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
) -> Figure:
    """Draw the three charts on one figure and write it to a PNG or SVG file.

    The format follows the file's suffix (``.png`` or ``.svg``).

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

    figure = Figure(figsize=(10, 13), layout="constrained")
    FigureCanvasAgg(figure)
    cost_ax, growth_ax, hit_ax = figure.subplots(3, 1)
    plot_cost_by_node(records, by=by, ax=cost_ax)
    plot_context_growth(records, by=by, ax=growth_ax)
    plot_cache_hit_rate(records, by=by, ax=hit_ax)
    figure.savefig(path, format=_FORMATS[suffix], dpi=100)
    return figure


def _groups(
    records: Sequence[UsageRecord], by: str
) -> list[tuple[Hashable, list[UsageRecord]]]:
    """The records of each group, in the breakdown's order (costliest first)."""
    key_of = group_key(by)
    members: dict[Hashable, list[UsageRecord]] = {}
    for record in records:
        members.setdefault(key_of(record), []).append(record)
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
