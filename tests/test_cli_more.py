"""The command's plots, comparisons, outcomes and FOCUS export."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from langgraph_tokenomics import UsageRecord
from langgraph_tokenomics._cli import main
from langgraph_tokenomics._store import open_store

NOW = datetime.now(tz=UTC)


def record(run_id: str, node: str, cost: str, revision: str, age_days: int):
    return UsageRecord(
        run_id=run_id,
        node=node,
        model="gpt-4.1",
        input_tokens=1_000,
        output_tokens=100,
        input_cost=Decimal(cost) - Decimal("0.0008"),
        cache_read_cost=Decimal(0),
        cache_write_cost=Decimal(0),
        output_cost=Decimal("0.0008"),
        cost=Decimal(cost),
        tags={"revision": revision, "team": "search"},
        started_at=NOW - timedelta(days=age_days),
    )


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'spend.db'}"
    store = open_store(url)
    store.write(
        [
            record("a1", "planner", "0.0028", "old", 10),
            record("a2", "writer", "0.0028", "old", 10),
            record("b1", "planner", "0.0028", "new", 1),
            record("b2", "writer", "0.0128", "new", 1),
        ]
    )
    store.close()
    return url


def test_compare_two_revisions_by_tag(ledger, capsys):
    code = main(
        [
            "report",
            "--store",
            ledger,
            "--compare",
            "revision=old",
            "revision=new",
            "--format",
            "csv",
        ]
    )

    assert code == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [(r["key"], r["cost_change"]) for r in rows] == [
        ("writer", "0.0100"),
        ("planner", "0.0000"),
    ]


def test_compare_two_periods(ledger, capsys):
    assert (
        main(
            [
                "report",
                "--store",
                ledger,
                "--compare",
                "30d..7d",
                "7d..",
                "--by",
                "team",
                "--format",
                "json",
            ]
        )
        == 0
    )

    out = capsys.readouterr().out
    assert '"cost_before": "0.0056"' in out
    assert '"cost_after": "0.0156"' in out


def test_compare_rejects_a_side_it_cannot_read(ledger, capsys):
    assert main(["report", "--store", ledger, "--compare", "old", "new"]) == 2
    assert capsys.readouterr().err == (
        "langgraph-tokenomics: error: --compare 'old' is neither a period "
        "START..END nor a tag KEY=VALUE\n"
    )


def test_plot_writes_a_png(ledger, tmp_path):
    path = tmp_path / "spend.png"

    assert main(["report", "--store", ledger, "--plot", str(path)]) == 0

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_outcome_is_kept_in_the_store(ledger, capsys):
    code = main(
        [
            "outcome",
            "thread-7",
            "--store",
            ledger,
            "--value",
            "12.50",
            "--label",
            "ticket solved",
        ]
    )

    assert code == 0
    assert capsys.readouterr().out == "marked thread-7 as success\n"
    store = open_store(ledger)
    [outcome] = store.outcomes()
    store.close()
    assert (outcome.run_or_thread_id, outcome.success, outcome.value) == (
        "thread-7",
        True,
        Decimal("12.50"),
    )


def test_export_focus_rows_sum_to_the_ledger(ledger, tmp_path, capsys):
    path = tmp_path / "focus.csv"

    assert main(["export", "--store", ledger, "--focus", str(path)]) == 0

    assert capsys.readouterr().out == f"wrote 8 FOCUS rows for 4 calls to {path}\n"
    with path.open() as file:
        billed = sum(Decimal(row["BilledCost"]) for row in csv.DictReader(file))
    assert billed == Decimal("0.0212")


def test_a_plot_into_a_missing_folder_is_one_line(ledger, tmp_path, capsys):
    path = tmp_path / "nope" / "spend.png"

    assert main(["report", "--store", ledger, "--plot", str(path)]) == 2

    assert capsys.readouterr().err == (
        f"langgraph-tokenomics: error: cannot write '{path}': "
        "No such file or directory\n"
    )


def test_a_sqlite_url_naming_a_folder_is_refused(tmp_path, capsys):
    assert main(["report", "--store", f"sqlite:///{tmp_path}"]) == 2

    assert f"'{tmp_path}' is a folder, not a database file" in capsys.readouterr().err
