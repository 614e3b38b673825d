"""The ``langgraph-tokenomics`` command: spend and budgets from a ledger store.

::

    langgraph-tokenomics report --store sqlite:///spend.db --by tool --since 7d
    langgraph-tokenomics report --store sqlite:///spend.db --plot spend.png
    langgraph-tokenomics report --store sqlite:///spend.db --compare 14d..7d 7d..
    langgraph-tokenomics report --store sqlite:///x.db --compare revision=a1 revision=b2
    langgraph-tokenomics budgets --store postgresql://ledger@db/tokenomics
    langgraph-tokenomics outcome RUN_OR_THREAD_ID --store sqlite:///spend.db
    langgraph-tokenomics export --store sqlite:///spend.db --focus focus.csv

Errors are one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import re
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, NoReturn, TextIO

from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from ._errors import TokenomicsError
from ._records import UsageRecord
from ._report import Breakdown, BreakdownRow, check_grouping
from ._store import BudgetBalance, SQLBudgetBackend, SQLStore, open_store

__all__ = ["main"]

PROG = "langgraph-tokenomics"
_FORMATS = ("table", "csv", "json")
_DURATION = re.compile(r"(\d+)([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TABLE_WIDTH = 100  # when stdout is not a terminal: stable output for files
_BUDGET_COLUMNS = ("budget", "limit", "spent", "reserved", "left")


class _UsageError(Exception):
    """A bad command line."""


class _Parser(argparse.ArgumentParser):
    """Reports a bad command line as an exception, so it prints as one line."""

    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command.

    Args:
        argv: The arguments after the program name; ``sys.argv[1:]`` if None.

    Returns:
        0 on success, 2 on an error (explained in one line on stderr).
    """
    try:
        args = _parser().parse_args(argv)
        args.command(args, sys.stdout)
    except (_UsageError, TokenomicsError) as error:
        return _fail(str(error))
    except SQLAlchemyError as error:
        return _fail(f"the store failed: {_one_line(error)}")
    except BrokenPipeError:  # e.g. `... --format json | head`
        sys.stderr.close()
        return 0
    except OSError as error:
        return _fail(f"cannot write {error.filename!r}: {error.strerror}")
    return 0


def _parser() -> _Parser:
    parser = _Parser(prog=PROG, description="What LangGraph agents spent.")
    commands = parser.add_subparsers(
        title="commands", required=True, metavar="{report,budgets,outcome,export}"
    )

    report = commands.add_parser("report", help="spend grouped by one attribute")
    _add_store(report)
    report.add_argument(
        "--by",
        default="node",
        metavar="NAME",
        help="node, node_path, tool, model, provider, thread, run, day, or a "
        "tag such as agent or team (default: node)",
    )
    report.add_argument("--since", metavar="WHEN", help="7d, 24h, 30m or a date")
    report.add_argument("--until", metavar="WHEN", help="same forms as --since")
    report.add_argument(
        "--plot",
        metavar="FILE",
        help="also draw the charts to FILE (.png or .svg; needs the plot extra)",
    )
    report.add_argument(
        "--compare",
        nargs=2,
        metavar=("BEFORE", "AFTER"),
        help="compare two sets of calls, each a period START..END (e.g. 14d..7d, "
        "7d..) or a tag KEY=VALUE (e.g. revision=a1b2c3)",
    )
    _add_format(report)
    report.set_defaults(command=_report)

    outcome = commands.add_parser("outcome", help="mark how a run or thread ended")
    outcome.add_argument("id", metavar="RUN_OR_THREAD_ID")
    _add_store(outcome)
    outcome.add_argument("--failure", action="store_true", help="it failed")
    outcome.add_argument("--value", help="what it was worth, e.g. 12.50")
    outcome.add_argument("--label", help="a short label, e.g. 'ticket solved'")
    outcome.set_defaults(command=_outcome)

    export = commands.add_parser("export", help="export the ledger for FinOps tools")
    _add_store(export)
    export.add_argument(
        "--focus", required=True, metavar="FILE", help="FOCUS CSV to write"
    )
    export.add_argument("--since", metavar="WHEN", help="7d, 24h, 30m or a date")
    export.add_argument("--until", metavar="WHEN", help="same forms as --since")
    export.add_argument("--billing-account-id", metavar="ID")
    export.add_argument("--billing-account-name", metavar="NAME")
    export.set_defaults(command=_export)

    budgets = commands.add_parser("budgets", help="each budget's spend and room")
    _add_store(budgets)
    _add_format(budgets)
    budgets.set_defaults(command=_budgets)
    return parser


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        required=True,
        metavar="URL",
        help="sqlite:///PATH or postgresql://USER@HOST/DB",
    )


def _add_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=_FORMATS, default="table")


# -- report -----------------------------------------------------------------------


def _report(args: argparse.Namespace, out: TextIO) -> None:
    now = datetime.now(tz=UTC)
    since = parse_when(args.since, now, "--since")
    until = parse_when(args.until, now, "--until")
    with _open(args.store) as store:
        records = store.read(since=since, until=until)
    check_grouping(records, args.by)
    if args.compare:
        _compare(records, args, now, out)
        return
    breakdown = Breakdown(records, by=args.by)
    if args.plot:
        _plot(records, args.plot, by=args.by)

    if args.format == "table":
        _print_table(breakdown, out)
    else:
        columns = ["by", *(field.name for field in dataclasses.fields(BreakdownRow))]
        _WRITERS[args.format](breakdown.to_rows(), columns, out)


def parse_when(text: str | None, now: datetime, option: str) -> datetime | None:
    """A moment from ``7d``/``24h``/``30m`` (before ``now``) or an ISO date/time.

    A date or time without a zone is in UTC.
    """
    if text is None:
        return None
    duration = _DURATION.fullmatch(text.strip())
    if duration:
        amount, unit = duration.groups()
        return now - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise _UsageError(
            f"{option} {text!r} is neither a duration such as 7d, 24h or 30m "
            "nor a date such as 2026-12-01"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _compare(
    records: Sequence[UsageRecord],
    args: argparse.Namespace,
    now: datetime,
    out: TextIO,
) -> None:
    from ._plot import SpendComparison

    before, after = (_selection(records, text, now) for text in args.compare)
    comparison = SpendComparison(before, after, by=args.by)
    if args.plot:
        _plot(after, args.plot, by=args.by, baseline=before)
    if args.format == "table":
        _print_table(comparison, out)
    else:
        rows = comparison.to_rows()
        _WRITERS[args.format](rows, list(rows[0]) if rows else [], out)


def _selection(
    records: Sequence[UsageRecord], text: str, now: datetime
) -> list[UsageRecord]:
    """The records of one side of ``--compare``: a period or a tag value."""
    if ".." in text:
        start_text, _, end_text = text.partition("..")
        start = parse_when(start_text or None, now, "--compare")
        end = parse_when(end_text or None, now, "--compare")
        return [r for r in records if _within(r, start, end)]
    key, sep, value = text.partition("=")
    if not (sep and key):
        raise _UsageError(
            f"--compare {text!r} is neither a period START..END nor a tag KEY=VALUE"
        )
    return [r for r in records if r.tags.get(key) == value]


def _within(record: UsageRecord, start: datetime | None, end: datetime | None) -> bool:
    moment = record.started_at or record.ended_at
    if moment is None:
        return False
    return (start is None or moment >= start) and (end is None or moment < end)


def _plot(records: Sequence[UsageRecord], path: str, **options: Any) -> None:
    from ._plot import save_report_plot

    try:
        save_report_plot(records, path, **options)
    except ImportError as error:
        raise _UsageError(str(error)) from None


# -- outcomes and exports ---------------------------------------------------------


def _outcome(args: argparse.Namespace, out: TextIO) -> None:
    from ._outcomes import mark_outcome

    value = _decimal(args.value, "--value") if args.value is not None else None
    with _open(args.store) as store:
        mark_outcome(
            store, args.id, success=not args.failure, value=value, label=args.label
        )
    verdict = "failure" if args.failure else "success"
    out.write(f"marked {args.id} as {verdict}\n")


def _decimal(text: str, option: str) -> Decimal:
    try:
        return Decimal(text)
    except ArithmeticError:
        raise _UsageError(f"{option} {text!r} is not a number") from None


def _export(args: argparse.Namespace, out: TextIO) -> None:
    from ._export import write_focus_csv

    now = datetime.now(tz=UTC)
    since = parse_when(args.since, now, "--since")
    until = parse_when(args.until, now, "--until")
    with _open(args.store) as store:
        records = store.read(since=since, until=until)
    rows = write_focus_csv(
        records,
        args.focus,
        billing_account_id=args.billing_account_id,
        billing_account_name=args.billing_account_name,
    )
    out.write(f"wrote {rows} FOCUS rows for {len(records)} calls to {args.focus}\n")


# -- budgets ----------------------------------------------------------------------


def _budgets(args: argparse.Namespace, out: TextIO) -> None:
    with _open(args.store) as store:
        balances = SQLBudgetBackend(store).balances()

    if args.format == "table":
        _print_table(_budget_table(balances, store.url), out)
        return
    rows = [
        dict(zip(_BUDGET_COLUMNS, _budget_values(balance), strict=True))
        for balance in balances
    ]
    _WRITERS[args.format](rows, list(_BUDGET_COLUMNS), out)


def _budget_values(balance: BudgetBalance) -> tuple[Any, ...]:
    return (balance.key, balance.limit, balance.spent, balance.reserved, balance.left)


def _budget_table(balances: Sequence[BudgetBalance], url: str) -> Table:
    table = Table(
        title=f"Budgets in {url}", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False
    )
    table.add_column("budget", overflow="fold")
    for column in _BUDGET_COLUMNS[1:]:
        table.add_column(column, justify="right", no_wrap=True)
    for balance in balances:
        values = _budget_values(balance)
        table.add_row(values[0], *("-" if v is None else str(v) for v in values[1:]))
    return table


# -- output -----------------------------------------------------------------------


def _open(url: str) -> SQLStore:
    return open_store(url, create=False)


def _print_table(renderable: Any, out: TextIO) -> None:
    terminal = out.isatty()
    console = Console(
        file=out,
        width=None if terminal else _TABLE_WIDTH,
        color_system="auto" if terminal else None,
    )
    console.print(renderable)


def _write_csv(rows: list[dict[str, Any]], columns: list[str], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)  # a Decimal is written as its exact text


def _write_json(rows: list[dict[str, Any]], columns: list[str], out: TextIO) -> None:
    json.dump(rows, out, indent=2, ensure_ascii=False, default=_exact)
    out.write("\n")


def _exact(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_WRITERS: dict[str, Callable[[list[dict[str, Any]], list[str], TextIO], None]] = {
    "csv": _write_csv,
    "json": _write_json,
}


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def _one_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    return " ".join(str(cause).split())
