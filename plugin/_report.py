"""Breakdowns of spend: grouped rows that render in a terminal and in Jupyter."""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from ._errors import ConfigurationError
from ._records import UsageRecord

__all__ = ["Breakdown", "BreakdownRow", "group_key"]

_NONE_LABEL = "(none)"
_BUILTIN_KEYS: dict[str, Callable[[UsageRecord], Hashable]] = {
    "node": lambda r: r.node,
    "node_path": lambda r: " / ".join(r.node_path) or None,
    "tool": lambda r: r.tool,
    "model": lambda r: r.model,
    "provider": lambda r: r.provider,
    "thread": lambda r: r.thread_id,
    "run": lambda r: r.root_run_id,
    "day": lambda r: r.started_at.date().isoformat() if r.started_at else None,
}


@dataclass(frozen=True, slots=True)
class BreakdownRow:
    """Spend of one group of calls.

    Attributes:
        key: The group's value (``None`` for calls without one, e.g. calls
            made outside any tool when grouping by tool).
        calls: Number of model calls.
        input_tokens: Whole prompts, cache included.
        uncached_input_tokens: Prompt tokens billed at the input rate.
        cache_read_tokens: Prompt tokens read from cache.
        cache_write_tokens: Prompt tokens written to cache.
        output_tokens: Output, reasoning included.
        reasoning_tokens: The reasoning part of output.
        cost: Dollars of the priced calls.
        unpriced_calls: Calls with no known price (not in ``cost``).
        estimated_calls: Calls whose usage was counted locally.
        share: This group's fraction of the breakdown's total cost.
        cache_hit_share: Fraction of input tokens read from cache.
    """

    key: Hashable
    calls: int
    input_tokens: int
    uncached_input_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost: Decimal
    unpriced_calls: int
    estimated_calls: int
    share: float
    cache_hit_share: float


def group_key(by: str) -> Callable[[UsageRecord], Hashable]:
    """The function that reads the grouping value ``by`` from a record.

    ``by`` is a built-in grouping (node, node_path, tool, model, provider,
    thread, run, day) or the name of a tag (agent, team, workflow, user...).
    """
    if not by or not isinstance(by, str):
        raise ConfigurationError(f"breakdown 'by' must be a name, got {by!r}")
    return _BUILTIN_KEYS.get(by) or (lambda record: record.tags.get(by))


class Breakdown(Sequence[BreakdownRow]):
    """Spend grouped by one attribute, most expensive first.

    Iterate it for rows, call ``to_rows()`` for plain dicts (pandas), print it
    for a terminal table; Jupyter shows it as an HTML table.
    """

    def __init__(self, records: Iterable[UsageRecord], *, by: str = "node") -> None:
        self.by = by
        key_of = group_key(by)
        self._records = list(records)
        groups: dict[Hashable, list[UsageRecord]] = {}
        for record in self._records:
            groups.setdefault(key_of(record), []).append(record)
        self.total_cost = sum(
            (r.cost for rs in groups.values() for r in rs if r.cost is not None),
            Decimal(0),
        )
        rows = [self._row(key, rs) for key, rs in groups.items()]
        self._rows = sorted(rows, key=lambda row: (-row.cost, -row.calls, str(row.key)))

    def _row(self, key: Hashable, records: list[UsageRecord]) -> BreakdownRow:
        cost = sum((r.cost for r in records if r.cost is not None), Decimal(0))
        input_tokens = sum(r.input_tokens for r in records)
        cache_read = sum(r.cache_read_tokens for r in records)
        return BreakdownRow(
            key=key,
            calls=len(records),
            input_tokens=input_tokens,
            uncached_input_tokens=sum(r.uncached_input_tokens for r in records),
            cache_read_tokens=cache_read,
            cache_write_tokens=sum(r.cache_write_tokens for r in records),
            output_tokens=sum(r.output_tokens for r in records),
            reasoning_tokens=sum(r.reasoning_tokens for r in records),
            cost=cost,
            unpriced_calls=sum(r.cost is None for r in records),
            estimated_calls=sum(r.estimated for r in records),
            share=float(cost / self.total_cost) if self.total_cost else 0.0,
            cache_hit_share=cache_read / input_tokens if input_tokens else 0.0,
        )

    def __getitem__(self, index: Any) -> Any:
        return self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[BreakdownRow]:
        return iter(self._rows)

    def row(self, key: Hashable) -> BreakdownRow:
        """The row of one group; ``KeyError`` if no call had that value."""
        for row in self._rows:
            if row.key == key:
                return row
        raise KeyError(key)

    def to_rows(self) -> list[dict[str, Any]]:
        """Plain dicts, one per group, for ``pandas.DataFrame(...)``."""
        return [{"by": self.by, **asdict(row)} for row in self._rows]

    def __rich__(self) -> Table:
        table = Table(title=f"LLM spend by {self.by}", show_footer=True)
        totals = self._totals()
        for header, justify, footer in _columns(self.by, totals):
            table.add_column(header, justify=justify, footer=footer)
        for row in self._rows:
            table.add_row(*_cells(row))
        return table

    def __str__(self) -> str:
        buffer = io.StringIO()
        console = Console(file=buffer, width=140, color_system=None)
        console.print(self)
        return buffer.getvalue()

    def _repr_html_(self) -> str:
        totals = self._totals()
        columns = _columns(self.by, totals)
        head = "".join(f"<th>{html.escape(c[0])}</th>" for c in columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td>{html.escape(c)}</td>" for c in _cells(row))
            + "</tr>"
            for row in self._rows
        )
        foot = "".join(f"<th>{html.escape(c[2])}</th>" for c in columns)
        return (
            '<table class="tokenomics-breakdown">'
            f"<caption>LLM spend by {html.escape(self.by)}</caption>"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>"
            f"<tfoot><tr>{foot}</tr></tfoot></table>"
        )

    def _totals(self) -> BreakdownRow:
        return self._row("total", self._records)


def _columns(by: str, totals: BreakdownRow) -> list[tuple[str, str, str]]:
    cells = _cells(totals)
    headers = [
        (by, "left"),
        ("calls", "right"),
        ("input", "right"),
        ("cache read", "right"),
        ("cache write", "right"),
        ("output", "right"),
        ("reasoning", "right"),
        ("cost (USD)", "right"),
        ("share", "right"),
        ("cache hit", "right"),
    ]
    return [(h, j, c) for (h, j), c in zip(headers, cells, strict=True)]


def _cells(row: BreakdownRow) -> list[str]:
    cost = f"{row.cost:.6f}"
    if row.unpriced_calls:
        cost += f" (+{row.unpriced_calls} unpriced)"
    if row.estimated_calls:
        cost += f" ({row.estimated_calls} est.)"
    return [
        _NONE_LABEL if row.key is None else str(row.key),
        f"{row.calls:,}",
        f"{row.uncached_input_tokens:,}",
        f"{row.cache_read_tokens:,}",
        f"{row.cache_write_tokens:,}",
        f"{row.output_tokens:,}",
        f"{row.reasoning_tokens:,}",
        cost,
        f"{row.share:.1%}",
        f"{row.cache_hit_share:.1%}",
    ]
