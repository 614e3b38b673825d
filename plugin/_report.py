"""Breakdowns of spend: grouped rows that render in a terminal and in Jupyter."""

from __future__ import annotations

import html
import io
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from rich import box
from rich.console import Console
from rich.console import JustifyMethod as Justify
from rich.table import Table

from ._errors import ConfigurationError
from ._records import UsageRecord

__all__ = [
    "Breakdown",
    "BreakdownRow",
    "CacheReport",
    "ToolCostRow",
    "ToolCosts",
    "group_key",
]

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
        predicted_cache_tokens: Prompt tokens each call shared with the
            previous call from the same thread, node and model.
        cache_savings: Dollars caching saved (see `UsageRecord.cache_savings`).
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
    predicted_cache_tokens: int = 0
    cache_savings: Decimal = Decimal(0)

    @property
    def predicted_hit_share(self) -> float:
        """Fraction of input tokens that a perfect prefix cache would serve."""
        if not self.input_tokens:
            return 0.0
        return self.predicted_cache_tokens / self.input_tokens


def group_key(by: str) -> Callable[[UsageRecord], Hashable]:
    """The function that reads the grouping value ``by`` from a record.

    ``by`` is a built-in grouping (node, node_path, tool, model, provider,
    thread, run, day) or the name of a tag (agent, team, workflow, user...).
    """
    if not by or not isinstance(by, str):
        raise ConfigurationError(f"breakdown 'by' must be a name, got {by!r}")
    return _BUILTIN_KEYS.get(by) or (lambda record: record.tags.get(by))


def check_grouping(records: Sequence[UsageRecord], by: str) -> None:
    """Refuse a tag grouping that no record carries: most likely a typo.

    Raises:
        ConfigurationError: Naming the built-in groupings and the tags seen.
    """
    group_key(by)
    if by in _BUILTIN_KEYS or not records:
        return
    if any(by in record.tags for record in records):
        return
    tags = sorted({key for record in records for key in record.tags})
    raise ConfigurationError(
        f"no call has a tag {by!r}; group by one of {', '.join(_BUILTIN_KEYS)}"
        + (f" or a tag the calls carry: {', '.join(tags)}" if tags else "")
    )


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
            predicted_cache_tokens=sum(r.predicted_cache_tokens or 0 for r in records),
            cache_savings=sum(
                (r.cache_savings for r in records if r.cache_savings is not None),
                Decimal(0),
            ),
        )

    def __getitem__(self, index: Any) -> Any:
        return self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[BreakdownRow]:
        return iter(self._rows)

    def __repr__(self) -> str:
        return (
            f"<Breakdown by {self.by!r}: {len(self._rows)} groups, "
            f"{sum(row.calls for row in self._rows)} calls, ${self.total_cost}>"
        )

    def row(self, key: Hashable) -> BreakdownRow:
        """The row of one group; ``KeyError`` if no call had that value."""
        for row in self._rows:
            if row.key == key:
                return row
        raise KeyError(key)

    def to_rows(self) -> list[dict[str, Any]]:
        """Plain dicts, one per group, for ``pandas.DataFrame(...)``.

        ``cost`` is ``None`` for a group whose calls are all unpriced (never
        0), and covers only the priced calls of a group with
        ``unpriced_calls`` > 0.
        """
        return [
            {
                "by": self.by,
                **asdict(row),
                "cost": None if row.unpriced_calls == row.calls else row.cost,
            }
            for row in self._rows
        ]

    def __rich__(self) -> Table:
        table = Table(
            title=f"LLM spend by {self.by}",
            caption="tokens: input uncached, read/write from/to cache; "
            "hit = read / prompt",
            show_footer=True,
            box=box.SIMPLE_HEAD,
            padding=(0, 1),
            pad_edge=False,
        )
        totals = self._totals()
        for header, justify, footer in _columns(self.by, totals):
            table.add_column(header, justify=justify, footer=footer, no_wrap=True)
        key_width = max((len(_key_label(row.key)) for row in self._rows), default=5)
        table.columns[0].min_width = min(max(key_width, len(self.by)), 12)
        table.columns[0].no_wrap = False
        table.columns[0].overflow = "fold"
        for row in self._rows:
            table.add_row(*_cells(row))
        return table

    def __str__(self) -> str:
        return _render_text(self)

    def _repr_html_(self) -> str:
        columns = _columns(self.by, self._totals())
        body = [_cells(row) for row in self._rows]
        return _html_table(
            f"LLM spend by {self.by}",
            [column[0] for column in columns],
            body,
            footer=[column[2] for column in columns],
        )

    def _totals(self) -> BreakdownRow:
        return self._row("total", self._records)


def _columns(by: str, totals: BreakdownRow) -> list[tuple[str, Justify, str]]:
    cells = _cells(totals)
    headers: list[tuple[str, Justify]] = [
        (by, "left"),
        ("calls", "right"),
        ("input", "right"),
        ("read", "right"),
        ("write", "right"),
        ("output", "right"),
        ("USD", "right"),
        ("share", "right"),
        ("hit", "right"),
    ]
    return [(h, j, c) for (h, j), c in zip(headers, cells, strict=True)]


def _cells(row: BreakdownRow) -> list[str]:
    cost = f"{row.cost:.6f}"
    if row.unpriced_calls:
        cost += f" +{row.unpriced_calls} unpriced"
    if row.estimated_calls:
        cost += f" ({row.estimated_calls} est.)"
    return [
        _key_label(row.key),
        f"{row.calls:,}",
        f"{row.uncached_input_tokens:,}",
        f"{row.cache_read_tokens:,}",
        f"{row.cache_write_tokens:,}",
        f"{row.output_tokens:,}",
        cost,
        f"{row.share:.1%}",
        f"{row.cache_hit_share:.0%}",
    ]


def _key_label(key: Hashable) -> str:
    return _NONE_LABEL if key is None else str(key)


@dataclass(frozen=True, slots=True)
class ToolCostRow:
    """What one tool cost across a set of calls.

    Attributes:
        tool: The tool's name.
        calls_inside: Model calls made while the tool ran (e.g. a summarizer).
        cost_inside: Dollars of those calls.
        definition_tokens: Tokens of the tool's definition, summed over every
            call that was sent it.
        definition_cost: Those tokens at each call's average prompt rate.
        carried_tokens: Tokens of the tool's earlier results re-sent in later
            prompts.
        carried_cost: Those tokens at each call's average prompt rate.
    """

    tool: str
    calls_inside: int
    cost_inside: Decimal
    definition_tokens: int
    definition_cost: Decimal
    carried_tokens: int
    carried_cost: Decimal

    @property
    def total_cost(self) -> Decimal:
        """Inside calls, definitions and carried results together."""
        return self.cost_inside + self.definition_cost + self.carried_cost


class ToolCosts(Sequence[ToolCostRow]):
    """Per tool: calls it made, and prompt tokens its definition and results took.

    Definition and carried-result tokens are part of the prompts of the calls
    that sent them (and so of the node breakdown); here they are charged back
    to the tool at each call's average prompt rate (prompt cost / prompt
    tokens), so cache discounts carry over.
    """

    def __init__(self, records: Iterable[UsageRecord]) -> None:
        totals: dict[str, list[Any]] = {}

        def entry(name: str) -> list[Any]:
            return totals.setdefault(
                name, [0, Decimal(0), 0, Decimal(0), 0, Decimal(0)]
            )

        for record in records:
            rate = _prompt_rate(record)
            if record.tool is not None:
                inside = entry(record.tool)
                inside[0] += 1
                inside[1] += record.cost or Decimal(0)
            for name, tokens in record.tool_definition_tokens.items():
                entry(name)[2] += tokens
                entry(name)[3] += tokens * rate
            for name, tokens in record.carried_tool_tokens.items():
                entry(name)[4] += tokens
                entry(name)[5] += tokens * rate
        rows = [ToolCostRow(name, *values) for name, values in totals.items()]
        self._rows = sorted(rows, key=lambda row: (-row.total_cost, row.tool))

    def __getitem__(self, index: Any) -> Any:
        return self._rows[index]

    def __len__(self) -> int:
        return len(self._rows)

    def to_rows(self) -> list[dict[str, Any]]:
        """Plain dicts, one per tool."""
        return [{**asdict(row), "total_cost": row.total_cost} for row in self._rows]

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        headers = [
            "tool",
            "calls in",
            "USD in",
            "def tok",
            "def USD",
            "carried",
            "car USD",
        ]
        body = [
            [
                row.tool,
                f"{row.calls_inside:,}",
                f"{row.cost_inside:.6f}",
                f"{row.definition_tokens:,}",
                f"{row.definition_cost:.6f}",
                f"{row.carried_tokens:,}",
                f"{row.carried_cost:.6f}",
            ]
            for row in self._rows
        ]
        return headers, body

    def __rich__(self) -> Table:
        headers, body = self._cells()
        return cells_table(
            "Tool costs",
            headers,
            body,
            caption="in: model calls made inside the tool; def: its definition "
            "sent with calls; carried: its results re-sent",
        )

    def __str__(self) -> str:
        return _render_text(self)

    def _repr_html_(self) -> str:
        headers, body = self._cells()
        return _html_table("Tool costs", headers, body, footer=None)


def _prompt_rate(record: UsageRecord) -> Decimal:
    parts = [record.input_cost, record.cache_read_cost, record.cache_write_cost]
    known = [part for part in parts if part is not None]
    if not record.input_tokens or len(known) < len(parts):
        return Decimal(0)
    return sum(known, Decimal(0)) / record.input_tokens


def cells_table(
    title: str,
    headers: Sequence[str],
    body: Sequence[Sequence[str]],
    *,
    caption: str | None = None,
    footer: Sequence[str] | None = None,
) -> Table:
    """A compact rich table: first column left and folding, the rest right."""
    table = Table(
        title=title,
        caption=caption,
        show_footer=footer is not None,
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for index, header in enumerate(headers):
        table.add_column(
            header,
            justify="left" if index == 0 else "right",
            footer=footer[index] if footer is not None else "",
            no_wrap=index > 0,
        )
    table.columns[0].min_width = min(12, max(len(h) for h in headers[:1]) or 1)
    table.columns[0].overflow = "fold"
    for cells in body:
        table.add_row(*cells)
    return table


def _render_text(renderable: Any) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=100, color_system=None).print(renderable)
    return buffer.getvalue()


def _html_table(
    caption: str, headers: list[str], body: list[list[str]], footer: list[str] | None
) -> str:
    head = "".join(f"<th>{html.escape(cell)}</th>" for cell in headers)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in cells) + "</tr>"
        for cells in body
    )
    foot = ""
    if footer is not None:
        cells = "".join(f"<th>{html.escape(cell)}</th>" for cell in footer)
        foot = f"<tfoot><tr>{cells}</tr></tfoot>"
    return (
        '<table class="tokenomics">'
        f"<caption>{html.escape(caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody>{foot}</table>"
    )


class CacheReport:
    """Per group: predicted cacheable prefix against the cache reads reported.

    The prediction is the prefix each call shared with the previous call from
    the same thread, node and model; a hit rate well below it points at a
    prefix the provider did not cache (volatile content, a missing
    breakpoint, a prompt under the provider's minimum, an expired entry).
    """

    def __init__(self, records: Iterable[UsageRecord], *, by: str = "node") -> None:
        self.by = by
        self.rows = list(Breakdown(records, by=by))

    def to_rows(self) -> list[dict[str, Any]]:
        """Plain dicts, one per group."""
        return [
            {
                "by": self.by,
                "key": row.key,
                "calls": row.calls,
                "input_tokens": row.input_tokens,
                "predicted_cache_tokens": row.predicted_cache_tokens,
                "cache_read_tokens": row.cache_read_tokens,
                "cache_write_tokens": row.cache_write_tokens,
                "predicted_hit_share": row.predicted_hit_share,
                "cache_hit_share": row.cache_hit_share,
                "cache_savings": row.cache_savings,
            }
            for row in self.rows
        ]

    def _cells(self) -> tuple[list[str], list[list[str]]]:
        headers = [
            self.by,
            "calls",
            "prompt",
            "pred",
            "read",
            "write",
            "pred%",
            "hit%",
            "saved $",
        ]
        body = [
            [
                _key_label(row.key),
                f"{row.calls:,}",
                f"{row.input_tokens:,}",
                f"{row.predicted_cache_tokens:,}",
                f"{row.cache_read_tokens:,}",
                f"{row.cache_write_tokens:,}",
                f"{row.predicted_hit_share:.0%}",
                f"{row.cache_hit_share:.0%}",
                f"{row.cache_savings:.6f}",
            ]
            for row in self.rows
        ]
        return headers, body

    def __rich__(self) -> Table:
        headers, body = self._cells()
        return cells_table(
            f"Prompt cache by {self.by}",
            headers,
            body,
            caption="pred: prefix shared with the previous call; "
            "saved: cost uncached - cost",
        )

    def __str__(self) -> str:
        return _render_text(self)

    def _repr_html_(self) -> str:
        headers, body = self._cells()
        return _html_table(f"Prompt cache by {self.by}", headers, body, footer=None)
