"""Budgets in a store: the protocol, its in-memory twin, and several processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_tokenomics import ConfigurationError, StoreUnavailableError
from langgraph_tokenomics._budget import Claim, MemoryBudgetBackend, Refusal
from langgraph_tokenomics._store import BudgetBalance, SQLBudgetBackend, open_store

pytest_plugins = ["tests.postgres"]

LIMIT = Decimal("1.00")
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A UTC clock that moves only when told."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store several processes can share."""
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_database"))
    url = f"sqlite:///{tmp_path / 'budgets.db'}"
    open_store(url).close()  # created once, before the processes race
    return url


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def clock_and_budgets(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Clock, SQLBudgetBackend]]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'budgets.db'}"
    else:
        url = "memory"
    clock = Clock()
    backend = SQLBudgetBackend(url, now=clock)
    yield clock, backend
    backend.close()


def claim(amount: str, key: str = "team=search", limit: Decimal = LIMIT) -> Claim:
    return Claim(key=key, limit=limit, amount=Decimal(amount))


# -- the protocol -----------------------------------------------------------------


def test_a_claim_that_fits_is_held_until_settled(
    clock_and_budgets: tuple[Clock, SQLBudgetBackend],
) -> None:
    _, budgets = clock_and_budgets

    reservation = budgets.try_reserve([claim("0.40")], ttl_seconds=60)
    held = budgets.reserved("team=search")
    budgets.settle(str(reservation), {"team=search": Decimal("0.35")})

    assert isinstance(reservation, str)
    assert held == Decimal("0.40")
    assert budgets.spent("team=search") == Decimal("0.35")
    assert budgets.reserved("team=search") == 0


def test_the_first_claim_that_does_not_fit_refuses_them_all(
    clock_and_budgets: tuple[Clock, SQLBudgetBackend],
) -> None:
    _, budgets = clock_and_budgets
    first = budgets.try_reserve([claim("0.50", key="run")], ttl_seconds=60)
    budgets.settle(str(first), {"run": Decimal("0.54")})
    budgets.try_reserve([claim("0.30", key="team")], ttl_seconds=60)

    refusal = budgets.try_reserve(
        [claim("0.10", key="global"), claim("0.555", key="run"), claim("0.9", "team")],
        ttl_seconds=60,
    )

    assert refusal == Refusal(
        key="run",
        limit=LIMIT,
        spent=Decimal("0.54"),
        reserved=Decimal(0),
        amount=Decimal("0.555"),
    )
    assert budgets.reserved("global") == 0


def test_reserved_amounts_count_against_the_limit(
    clock_and_budgets: tuple[Clock, SQLBudgetBackend],
) -> None:
    _, budgets = clock_and_budgets
    budgets.try_reserve([claim("0.60")], ttl_seconds=60)

    refusal = budgets.try_reserve([claim("0.41")], ttl_seconds=60)
    fits = budgets.try_reserve([claim("0.40")], ttl_seconds=60)

    assert refusal == Refusal(
        "team=search", LIMIT, Decimal(0), Decimal("0.60"), Decimal("0.41")
    )
    assert isinstance(fits, str)
    assert budgets.reserved("team=search") == LIMIT


def test_two_claims_on_one_key_count_together(
    clock_and_budgets: tuple[Clock, SQLBudgetBackend],
) -> None:
    _, budgets = clock_and_budgets

    refusal = budgets.try_reserve([claim("0.60"), claim("0.60")], ttl_seconds=60)

    assert refusal == Refusal(
        "team=search", LIMIT, Decimal(0), Decimal("0.60"), Decimal("0.60")
    )


def test_settle_and_release_are_idempotent(
    clock_and_budgets: tuple[Clock, SQLBudgetBackend],
) -> None:
    _, budgets = clock_and_budgets
    settled = str(budgets.try_reserve([claim("0.2")], ttl_seconds=60))
    released = str(budgets.try_reserve([claim("0.3")], ttl_seconds=60))

    for _ in range(2):
        budgets.settle(settled, {"team=search": Decimal("0.1")})
        budgets.release(released)
    budgets.settle(released, {"team=search": Decimal("0.3")})
    budgets.release(settled)

    assert budgets.spent("team=search") == Decimal("0.1")
    assert budgets.reserved("team=search") == 0


def test_a_key_absent_from_the_actuals_adds_nothing(
    clock_and_budgets: tuple[Clock, SQLBudgetBackend],
) -> None:
    _, budgets = clock_and_budgets
    both = budgets.try_reserve([claim("0.2", "a"), claim("0.2", "b")], ttl_seconds=60)

    budgets.settle(str(both), {"a": Decimal("0.15")})

    assert budgets.balances() == [
        BudgetBalance("a", Decimal("0.15"), Decimal(0), LIMIT),
        BudgetBalance("b", Decimal(0), Decimal(0), LIMIT),
    ]
    assert budgets.keys() == ["a", "b"]


def test_expired_reservations_are_ignored_and_deleted(
    clock_and_budgets: tuple[Clock, SQLBudgetBackend],
) -> None:
    clock, budgets = clock_and_budgets
    budgets.try_reserve([claim("0.90")], ttl_seconds=30)

    clock.advance(29)
    refused = budgets.try_reserve([claim("0.20")], ttl_seconds=30)
    clock.advance(1)
    granted = budgets.try_reserve([claim("0.20")], ttl_seconds=30)

    assert isinstance(refused, Refusal)
    assert isinstance(granted, str)
    assert budgets.reserved("team=search") == Decimal("0.20")
    with budgets.store.transaction(write=False) as connection:
        rows = connection.exec_driver_sql(
            "SELECT count(*) FROM tokenomics_budget_reservations"
        ).scalar()
    assert rows == 1


def test_a_settle_after_expiry_still_spends(
    clock_and_budgets: tuple[Clock, SQLBudgetBackend],
) -> None:
    clock, budgets = clock_and_budgets
    slow_call = str(budgets.try_reserve([claim("0.50")], ttl_seconds=30))
    clock.advance(60)
    budgets.try_reserve([claim("0.10")], ttl_seconds=30)  # deletes the expired one

    budgets.settle(slow_call, {"team=search": Decimal("0.45")})

    assert budgets.spent("team=search") == Decimal("0.45")


def test_decimals_add_up_exactly(
    clock_and_budgets: tuple[Clock, SQLBudgetBackend],
) -> None:
    _, budgets = clock_and_budgets

    for _ in range(10):
        reservation = budgets.try_reserve([claim("0.1")], ttl_seconds=60)
        budgets.settle(str(reservation), {"team=search": Decimal("0.1")})

    assert budgets.spent("team=search") == Decimal("1.0")
    assert isinstance(budgets.try_reserve([claim("0")], ttl_seconds=60), str)
    assert isinstance(budgets.try_reserve([claim("0.000001")], ttl_seconds=60), Refusal)


@pytest.mark.parametrize(
    ("claims", "ttl", "message"),
    [
        (
            [claim("-0.01")],
            60,
            "a budget claim must be >= 0, got -0.01 for 'team=search'",
        ),
        ([claim("0.01")], 0, "ttl_seconds must be > 0, got 0"),
    ],
)
def test_a_bad_claim_is_a_configuration_error(
    claims: list[Claim], ttl: float, message: str
) -> None:
    budgets = SQLBudgetBackend("memory")

    with pytest.raises(ConfigurationError) as raised:
        budgets.try_reserve(claims, ttl_seconds=ttl)
    budgets.close()

    assert str(raised.value) == message


def test_an_unreachable_budget_store_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailableError, match="cannot be opened"):
        SQLBudgetBackend("postgresql://nobody@127.0.0.1:9/budgets")


# -- the in-memory twin -----------------------------------------------------------

LIMITS = {"a": Decimal("1.00"), "b": Decimal("0.50"), "c": Decimal("2")}
amounts = st.integers(0, 12).map(lambda n: Decimal(n) * Decimal("0.05"))
reserve = st.tuples(
    st.just("reserve"),
    st.dictionaries(st.sampled_from(sorted(LIMITS)), amounts, min_size=1),
)
settle = st.tuples(
    st.just("settle"), st.integers(0, 20), st.sampled_from(["0", "0.5", "1", "1.2"])
)
release = st.tuples(st.just("release"), st.integers(0, 20))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(reserve, settle, release), max_size=25))
def test_the_sql_backend_answers_as_the_memory_backend(
    operations: list[tuple[Any, ...]],
) -> None:
    twin, sql = MemoryBudgetBackend(), SQLBudgetBackend("memory")
    reservations: list[tuple[str, str, dict[str, Decimal]]] = []

    for operation in operations:
        if operation[0] == "reserve":
            claims = [Claim(k, LIMITS[k], amount) for k, amount in operation[1].items()]
            answers = [b.try_reserve(claims, ttl_seconds=600) for b in (twin, sql)]
            assert type(answers[0]) is type(answers[1])
            if isinstance(answers[0], Refusal):
                assert answers[0] == answers[1]
            else:
                reservations.append((answers[0], answers[1], operation[1]))
        elif reservations:
            twin_id, sql_id, held = reservations[operation[1] % len(reservations)]
            if operation[0] == "release":
                twin.release(twin_id)
                sql.release(sql_id)
            else:
                actuals = {k: a * Decimal(operation[2]) for k, a in held.items()}
                twin.settle(twin_id, actuals)
                sql.settle(sql_id, actuals)
        for key in LIMITS:
            assert (sql.spent(key), sql.reserved(key)) == (
                twin.spent(key),
                twin.reserved(key),
            )
    sql.close()


# -- several processes ------------------------------------------------------------

ESTIMATE = Decimal("0.010")
ROUNDS = 150  # one process alone settles 0.96 of the 1.00: only together they fill it


def spend_in_a_loop(
    url: str, rounds: int, ready: Any, start: Any, results: Any
) -> None:
    """In a child process: reserve, 'call', settle at or below the estimate."""
    budgets = SQLBudgetBackend(url)
    ready.put(os.getpid())
    start.wait(60)
    granted = refused = 0
    spent = Decimal(0)
    for number in range(rounds):
        reservation = budgets.try_reserve(
            [Claim("global", LIMIT, ESTIMATE)], ttl_seconds=60
        )
        if isinstance(reservation, Refusal):
            refused += 1
            continue
        granted += 1
        time.sleep(0.0005)  # the call, while the reservation is held
        if number % 7 == 0:  # the call failed
            budgets.release(reservation)
            continue
        actual = ESTIMATE if number % 2 else ESTIMATE / 2
        budgets.settle(reservation, {"global": actual})
        spent += actual
    results.put((granted, refused, str(spent)))
    budgets.close()


def test_two_processes_never_overspend_a_shared_budget(shared_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    ready, results, start = context.Queue(), context.Queue(), context.Event()
    children = [
        context.Process(
            target=spend_in_a_loop, args=(shared_url, ROUNDS, ready, start, results)
        )
        for _ in range(2)
    ]
    for child in children:
        child.start()
    for _ in children:
        ready.get(timeout=60)

    start.set()
    outcomes = [results.get(timeout=120) for _ in children]
    for child in children:
        child.join(30)

    budgets = SQLBudgetBackend(shared_url)
    spent, reserved = budgets.spent("global"), budgets.reserved("global")
    budgets.close()
    assert spent == sum(Decimal(total) for _, _, total in outcomes)
    assert spent <= LIMIT
    assert reserved == 0
    assert all(granted > 0 for granted, _, _ in outcomes)
    assert sum(refused for _, refused, _ in outcomes) > 0
    assert [child.exitcode for child in children] == [0, 0]


HELD_TTL = 3.0


def hold_a_reservation_and_hang(url: str, ready: Any) -> None:
    """In a child process: reserve the whole budget, then wait to be killed."""
    budgets = SQLBudgetBackend(url)
    reservation = budgets.try_reserve(
        [Claim("global", LIMIT, LIMIT)], ttl_seconds=HELD_TTL
    )
    ready.put(isinstance(reservation, str))
    time.sleep(300)


def test_a_killed_process_reservation_expires_after_its_ttl(shared_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    ready = context.Queue()
    child = context.Process(
        target=hold_a_reservation_and_hang, args=(shared_url, ready)
    )
    budgets = SQLBudgetBackend(shared_url)
    child.start()
    assert ready.get(timeout=60) is True
    held_since = time.monotonic()

    os.kill(child.pid, signal.SIGKILL)  # type: ignore[arg-type]
    child.join(30)
    while_held = budgets.try_reserve([Claim("global", LIMIT, ESTIMATE)], ttl_seconds=60)
    time.sleep(max(0.0, held_since + HELD_TTL + 0.2 - time.monotonic()))
    after_ttl = budgets.try_reserve([Claim("global", LIMIT, LIMIT)], ttl_seconds=60)

    assert child.exitcode == -signal.SIGKILL
    assert isinstance(while_held, Refusal)
    assert while_held.reserved == LIMIT
    assert isinstance(after_ttl, str)
    assert budgets.reserved("global") == LIMIT
    assert budgets.spent("global") == 0
    budgets.close()


def test_a_balance_shows_the_last_limit_and_what_is_left(
    clock_and_budgets: tuple[Clock, SQLBudgetBackend],
) -> None:
    _, budgets = clock_and_budgets
    first = budgets.try_reserve([claim("0.50")], ttl_seconds=60)
    budgets.settle(str(first), {"team=search": Decimal("0.60")})
    budgets.try_reserve([claim("0.30", limit=Decimal("2.00"))], ttl_seconds=60)
    late = budgets.try_reserve([claim("0.1", key="other")], ttl_seconds=60)
    budgets.settle("never-reserved", {"settled-only": Decimal("0.2")})
    budgets.release(str(late))

    [other, settled_only, search] = budgets.balances()

    assert search == BudgetBalance(
        "team=search", Decimal("0.60"), Decimal("0.30"), Decimal("2.00")
    )
    assert search.left == Decimal("1.10")
    assert other.left == LIMIT
    assert (settled_only.limit, settled_only.left) == (None, None)
