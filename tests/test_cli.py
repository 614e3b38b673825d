"""The ``langgraph-tokenomics`` command, called as ``main([...])``."""

from __future__ import annotations

import importlib.metadata
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from langgraph_tokenomics import Breakdown, UsageRecord
from langgraph_tokenomics._budget import Claim
from langgraph_tokenomics._cli import main
from langgraph_tokenomics._store import SQLBudgetBackend, open_store

pytest_plugins = ["tests.postgres"]

NOW = datetime.now(tz=UTC)
RECORDS = [
    UsageRecord(
        run_id="call-1",
        node="researcher",
        tool="web_search",
        model="claude-sonnet-4-5",
        input_tokens=50_000,
        cache_read_tokens=20_000,
        output_tokens=1_000,
        cost=Decimal("0.111000"),
        tags={"team": "search"},
        started_at=NOW - timedelta(hours=1),
    ),
    UsageRecord(
        run_id="call-2",
        node="writer",
        model="gpt-4o-mini",
        input_tokens=8_000,
        output_tokens=500,
        cost=Decimal("0.001500"),
        tags={"team": "écriture"},
        started_at=NOW - timedelta(days=3),
    ),
    UsageRecord(
        run_id="call-3",
        node="writer",
        model="local-model",
        input_tokens=1_000,
        output_tokens=100,
        estimated=True,
        started_at=NOW - timedelta(days=3),
    ),
]


@pytest.fixture
def ledger(tmp_path: Path) -> str:
    """A SQLite ledger with three calls and one budget."""
    url = f"sqlite:///{tmp_path / 'spend.db'}"
    with open_store(url) as store:
        store.write(RECORDS)
        budgets = SQLBudgetBackend(store)
        key = "team-cap|team=search|2026-12"
        first = budgets.try_reserve(
            [Claim(key, Decimal("5.00"), Decimal("0.2"))], ttl_seconds=600
        )
        budgets.settle(str(first), {key: Decimal("0.111000")})
        budgets.try_reserve(
            [Claim(key, Decimal("5.00"), Decimal("0.25"))], ttl_seconds=600
        )
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- report -----------------------------------------------------------------------


def test_report_prints_the_breakdown_table(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "report", "--store", ledger)

    assert (code, err) == (0, "")
    assert out == str(Breakdown(RECORDS, by="node"))
    assert out.splitlines()[0].strip() == "LLM spend by node"


def test_report_as_csv_keeps_decimals_exact(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "report", "--store", ledger, "--by", "model", "--format", "csv"
    )

    assert code == 0
    assert out == (
        "by,key,calls,input_tokens,uncached_input_tokens,cache_read_tokens,"
        "cache_write_tokens,output_tokens,reasoning_tokens,cost,unpriced_calls,"
        "estimated_calls,share,cache_hit_share,predicted_cache_tokens,cache_savings\n"
        "model,claude-sonnet-4-5,1,50000,30000,20000,0,1000,0,0.111000,0,0,"
        "0.9866666666666667,0.4,0,0\n"
        "model,gpt-4o-mini,1,8000,8000,0,0,500,0,0.001500,0,0,"
        "0.013333333333333334,0.0,0,0\n"
        "model,local-model,1,1000,1000,0,0,100,0,,1,1,0.0,0.0,0,0\n"
    )


def test_report_as_json_by_a_tag(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "report", "--store", ledger, "--by", "team", "--format", "json"
    )

    assert code == 0
    assert out.startswith('[\n  {\n    "by": "team",\n    "key": "search",\n')
    assert '"cost": "0.111000",' in out
    assert '"key": "écriture",' in out
    assert '"key": null,' in out
    assert out.endswith("  }\n]\n")


@pytest.mark.parametrize(
    ("window", "calls"),
    [
        (["--since", "24h"], ["claude-sonnet-4-5"]),
        (["--since", "2d", "--until", "30m"], ["claude-sonnet-4-5"]),
        (["--until", "1d"], ["gpt-4o-mini", "local-model"]),
        (["--since", (NOW - timedelta(days=4)).date().isoformat()], None),
    ],
)
def test_report_since_and_until(
    ledger: str,
    capsys: pytest.CaptureFixture[str],
    window: list[str],
    calls: list[str] | None,
) -> None:
    code, out, _ = run(
        capsys, "report", "--store", ledger, "--by", "model", "--format", "csv", *window
    )

    models = [line.split(",")[1] for line in out.splitlines()[1:]]
    assert code == 0
    assert models == (calls or ["claude-sonnet-4-5", "gpt-4o-mini", "local-model"])


def test_report_from_postgres(
    postgres_database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_store(postgres_database) as store:
        store.write(RECORDS)

    code, out, _ = run(
        capsys,
        "report",
        "--store",
        postgres_database,
        "--by",
        "tool",
        "--format",
        "csv",
    )

    assert code == 0
    assert [line.split(",")[1:4] for line in out.splitlines()[1:]] == [
        ["web_search", "1", "50000"],
        ["", "2", "9000"],
    ]


# -- budgets ----------------------------------------------------------------------


def test_budgets_shows_spend_reservations_and_what_is_left(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "budgets", "--store", ledger)

    assert (code, err) == (0, "")
    assert out.split()[:2] == ["Budgets", "in"]
    assert out.splitlines()[-4:] == [
        " budget                         limit      spent   reserved       left ",
        " ───────────────────────────────────────────────────────────────────── ",
        " team-cap|team=search|2026-12    5.00   0.111000       0.25   4.639000 ",
        "                                                                       ",
    ]


def test_budgets_as_csv_and_json(
    ledger: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, csv_out, _ = run(capsys, "budgets", "--store", ledger, "--format", "csv")
    _, json_out, _ = run(capsys, "budgets", "--store", ledger, "--format", "json")

    assert csv_out == (
        "budget,limit,spent,reserved,left\n"
        "team-cap|team=search|2026-12,5.00,0.111000,0.25,4.639000\n"
    )
    assert json_out == (
        "[\n  {\n"
        '    "budget": "team-cap|team=search|2026-12",\n'
        '    "limit": "5.00",\n'
        '    "spent": "0.111000",\n'
        '    "reserved": "0.25",\n'
        '    "left": "4.639000"\n'
        "  }\n]\n"
    )


# -- errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "the following arguments are required: {report,budgets,outcome,export}"),
        (["report"], "the following arguments are required: --store"),
        (["report", "--store", "memory", "--since", "last week"],
         "--since 'last week' is neither a duration such as 7d, 24h or 30m nor a "
         "date such as 2026-12-01"),
        (["report", "--store", "memory", "--by", ""],
         "breakdown 'by' must be a name, got ''"),
        (["budgets", "--store", "mysql://db/x"],
         "store URL 'mysql://db/x' is not valid ('mysql' is not a supported "
         "database); use 'memory', 'sqlite:///PATH' or "
         "'postgresql://USER:PASSWORD@HOST:PORT/DATABASE'"),
    ],
)  # fmt: skip
def test_errors_are_one_line_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, *argv)

    assert (code, out) == (2, "")
    assert err == f"langgraph-tokenomics: error: {message}\n"


@pytest.mark.parametrize(
    ("argv", "start"),
    [
        (["spend", "--store", "x"],
         "argument {report,budgets,outcome,export}: invalid choice: 'spend'"),
        (["report", "--store", "memory", "--format", "xml"],
         "argument --format: invalid choice: 'xml'"),
    ],
)  # fmt: skip
def test_a_bad_choice_names_it(
    argv: list[str], start: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, *argv)  # argparse words the choices per version

    assert code == 2
    assert err.startswith(f"langgraph-tokenomics: error: {start} (choose from ")
    assert err.count("\n") == 1


def test_a_missing_ledger_file_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'typo.db'}"

    code, _, err = run(capsys, "report", "--store", url)

    assert code == 2
    assert err == (
        f"langgraph-tokenomics: error: store {url}: no ledger file at "
        f"{tmp_path / 'typo.db'}\n"
    )
    assert not (tmp_path / "typo.db").exists()


def test_an_unreachable_server_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "report", "--store", "postgresql://me:pw@127.0.0.1:9/x")

    assert code == 2
    assert err.startswith(
        "langgraph-tokenomics: error: store postgresql://me:***@127.0.0.1:9/x "
        "cannot be opened: "
    )
    assert err.count("\n") == 1


def test_the_console_script_runs_main(ledger: str) -> None:
    [script] = [
        entry
        for entry in importlib.metadata.entry_points(group="console_scripts")
        if entry.name == "langgraph-tokenomics"
    ]
    assert script.value == "langgraph_tokenomics._cli:main"
    command = shutil.which("langgraph-tokenomics")
    if command is None:
        pytest.skip("the console script is not on PATH")

    done = subprocess.run(
        [command, "budgets", "--store", ledger, "--format", "csv"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    failed = subprocess.run([command, "report"], capture_output=True, text=True)

    assert (done.returncode, done.stdout.splitlines()[0]) == (
        0,
        "budget,limit,spent,reserved,left",
    )
    assert failed.returncode == 2
