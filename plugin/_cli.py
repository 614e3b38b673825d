"""The ``langgraph-tokenomics`` command: spend and budgets from a ledger store.

::

    langgraph-tokenomics report --store sqlite:///spend.db --by tool --since 7d
    langgraph-tokenomics budgets --store postgresql://ledger@db/tokenomics

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
from ._report import Breakdown, BreakdownRow
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
    return 0


def _parser() -> _Parser:
    parser = _Parser(prog=PROG, description="What LangGraph agents spent.")
    commands = parser.add_subparsers(
        title="commands", required=True, metavar="{report,budgets}"
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
    _add_format(report)
    report.set_defaults(command=_report)

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
    breakdown = Breakdown(records, by=args.by)

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
