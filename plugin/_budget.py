"""Budgets: limits in dollars or tokens, checked before each model call.

Before a call is sent its cost is estimated and reserved in every budget that
covers it; the call is refused when spent + reserved + estimate would pass a
hard limit. After the call the reservation settles at the actual cost, or is
released if the call failed. A backend makes the check-and-reserve atomic:
in memory for one process, in SQLite or Postgres across processes.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import warnings
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from ._errors import (
    BudgetExceededError,
    ConfigurationError,
    TokenomicsWarning,
    UnpricedModelWarning,
)
from ._prices import PriceBook
from ._records import CallRequest, UsageRecord

__all__ = [
    "Budget",
    "BudgetBackend",
    "BudgetBook",
    "BudgetSoftLimitWarning",
    "Claim",
    "MemoryBudgetBackend",
    "Refusal",
    "SoftLimitEvent",
]

logger = logging.getLogger(__name__)

Action = Literal["raise", "interrupt", "end"]
_SCOPE_KINDS = ("run", "thread", "global", "node")
_DEFAULT_OUTPUT_ESTIMATE = 1024
_OUTPUT_HISTORY = 20
_RESERVATION_TTL_SECONDS = 600.0


class BudgetSoftLimitWarning(TokenomicsWarning):
    """A budget passed its soft limit; calls go on."""


@dataclass(frozen=True, slots=True)
class SoftLimitEvent:
    """What a soft-limit hook receives."""

    budget: Budget
    scope_value: str
    spent: Decimal
    soft_limit: Decimal


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """A spending limit on a scope of model calls.

    The hard limit is checked BEFORE each call: the call's estimated cost
    (its counted prompt, tool definitions included, plus its ``max_tokens`` or
    the output its node used before) is reserved, and the call is refused if
    spent + reserved + estimate would pass the limit. The actual cost settles
    after the call, so what was refused is never billed and what ran is
    billed in full (a call may end above its estimate).

    Attributes:
        limit_usd: Hard limit in USD. Exactly one of ``limit_usd`` and
            ``limit_tokens`` is set.
        limit_tokens: Hard limit in tokens (prompt + output).
        scope: Which calls share the limit: ``"run"`` (each graph
            invocation), ``"thread"`` (each ``thread_id``), ``"global"``,
            ``"node:NAME"`` (calls made in node NAME, at any depth), or a tag
            ``"KEY=VALUE"`` such as ``"team=search"``.
        window: ``None`` (forever), ``"day"`` or ``"month"``, in UTC.
        soft_limit: A fraction of the limit as a float (``0.8``) or an
            amount as a ``Decimal`` or int (``Decimal("5")``) at which a
            warning is shown once per scope and ``on_soft_limit`` is called;
            calls go on.
        on_soft_limit: Called with a `SoftLimitEvent` when the soft limit is
            first passed.
        action: What a refusal does: ``"raise"`` a `BudgetExceededError`,
            ``"interrupt"`` the graph for a person to approve more (needs a
            checkpointer), or ``"end"`` the agent with a final message
            (``create_agent`` middleware).
        unpriced: For a call whose model has no known price before it is
            sent: ``"allow"`` it and settle after (with a warning) or
            ``"refuse"`` it.
        name: A stable name; processes sharing a store share a budget by name.
    """

    limit_usd: Decimal | None = None
    limit_tokens: int | None = None
    scope: str = "run"
    window: Literal["day", "month"] | None = None
    soft_limit: Decimal | float | None = None
    on_soft_limit: Callable[[SoftLimitEvent], Any] | None = field(
        default=None, compare=False
    )
    action: Action = "raise"
    unpriced: Literal["allow", "refuse"] = "allow"
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.limit_usd is None) == (self.limit_tokens is None):
            raise ConfigurationError(
                "Budget needs exactly one of limit_usd and limit_tokens"
            )
        if self.limit_usd is not None:
            object.__setattr__(self, "limit_usd", _amount(self.limit_usd, "limit_usd"))
        elif isinstance(self.limit_tokens, bool) or not isinstance(
            self.limit_tokens, int
        ):
            raise ConfigurationError(
                f"Budget limit_tokens must be a whole number, got {self.limit_tokens!r}"
            )
        if self.limit < 0:
            raise ConfigurationError(f"Budget limit must be >= 0, got {self.limit}")
        if not isinstance(self.scope, str):
            raise ConfigurationError(
                f"Budget scope must be a string such as 'run', got {self.scope!r}"
            )
        _parse_scope(self.scope)
        if self.on_soft_limit is not None and not callable(self.on_soft_limit):
            raise ConfigurationError(
                f"Budget on_soft_limit must be callable, got {self.on_soft_limit!r}"
            )
        if self.window not in (None, "day", "month"):
            raise ConfigurationError(
                f"Budget window must be None, 'day' or 'month', got {self.window!r}"
            )
        if self.action not in ("raise", "interrupt", "end"):
            raise ConfigurationError(
                "Budget action must be 'raise', 'interrupt' or 'end', "
                f"got {self.action!r}"
            )
        if self.unpriced not in ("allow", "refuse"):
            raise ConfigurationError(
                f"Budget unpriced must be 'allow' or 'refuse', got {self.unpriced!r}"
            )
        self.soft_amount()  # validates

    @property
    def unit(self) -> str:
        """``"usd"`` or ``"tokens"``."""
        return "usd" if self.limit_usd is not None else "tokens"

    @property
    def limit(self) -> Decimal:
        """The hard limit in the budget's unit."""
        value = self.limit_usd if self.limit_usd is not None else self.limit_tokens
        return Decimal(str(value))

    @property
    def id(self) -> str:
        """A stable id: the name, or ``scope/unit/window`` (not the limit, so
        raising a limit keeps what was spent)."""
        if self.name:
            return self.name
        return f"{self.scope}/{self.unit}/{self.window or 'all'}"

    def soft_amount(self) -> Decimal | None:
        """The soft limit as an amount in the budget's unit.

        A float is a fraction of the limit (``0.8``); a ``Decimal`` or an int is
        an amount in the budget's unit, at most the limit.
        """
        if self.soft_limit is None:
            return None
        if isinstance(self.soft_limit, float):
            fraction = Decimal(str(self.soft_limit))
            if not 0 < fraction <= 1:
                raise ConfigurationError(
                    f"Budget soft_limit as a fraction must be in (0, 1], got {fraction}"
                )
            return fraction * self.limit
        soft = _amount(self.soft_limit, "soft_limit")
        if not 0 < soft <= self.limit:
            raise ConfigurationError(
                f"Budget soft_limit as an amount must be > 0 and at most the limit "
                f"{self.limit}, got {soft}; give a float such as 0.8 for a fraction"
            )
        return soft

    def scope_value(self, request: CallRequest) -> str | None:
        """The scope value ``request`` is charged to, or ``None`` if not covered."""
        kind, argument = _parse_scope(self.scope)
        if kind == "global":
            return "*"
        if kind == "run":
            return request.root_run_id or request.run_id
        if kind == "thread":
            return request.thread_id
        if kind == "node":
            covered = request.node == argument or argument in request.node_path
            return argument if covered else None
        key, _, value = argument.partition("=")
        return argument if request.tags.get(key) == value else None

    def window_label(self, now: datetime) -> str:
        """The window the moment ``now`` falls in, e.g. ``"2026-12"``."""
        if self.window == "day":
            return now.strftime("%Y-%m-%d")
        if self.window == "month":
            return now.strftime("%Y-%m")
        return "all"

    def describe_scope(self, scope_value: str) -> str:
        """A human name of one scope instance, for messages."""
        kind, _ = _parse_scope(self.scope)
        if kind in ("run", "thread"):
            return f"{kind} {scope_value}"
        return "all calls" if kind == "global" else scope_value


def _amount(value: Any, name: str) -> Decimal:
    """A finite Decimal from a Decimal, an int, a float or a numeric string."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise ConfigurationError(f"Budget {name} must be a number, got {value!r}")
    try:
        amount = Decimal(str(value).strip())
    except ArithmeticError:
        raise ConfigurationError(
            f"Budget {name} must be a number, got {value!r}"
        ) from None
    if not amount.is_finite():
        raise ConfigurationError(f"Budget {name} must be finite, got {value!r}")
    return amount


def _parse_scope(scope: str) -> tuple[str, str]:
    if scope in ("run", "thread", "global"):
        return scope, ""
    kind, _, argument = scope.partition(":")
    if kind == "node" and argument:
        return "node", argument
    key, sep, value = scope.partition("=")
    if sep and key and value:
        return "tag", scope
    raise ConfigurationError(
        f"Budget scope {scope!r} is not one of 'run', 'thread', 'global', "
        "'node:NAME' or 'KEY=VALUE'"
    )


@dataclass(frozen=True, slots=True)
class Claim:
    """An amount to reserve against one budget key."""

    key: str
    limit: Decimal
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a reservation was refused: the first claim that did not fit."""

    key: str
    limit: Decimal
    spent: Decimal
    reserved: Decimal
    amount: Decimal


class BudgetBackend(Protocol):
    """Atomic check-and-reserve of budget claims."""

    def try_reserve(
        self, claims: Sequence[Claim], *, ttl_seconds: float
    ) -> str | Refusal:
        """Reserve every claim, or none and say which one did not fit."""

    def settle(self, reservation_id: str, actuals: Mapping[str, Decimal]) -> None:
        """Drop the reservation and add the actual amounts to spent."""

    def release(self, reservation_id: str) -> None:
        """Drop the reservation without spending."""

    def spent(self, key: str) -> Decimal:
        """What settled under ``key``."""

    def reserved(self, key: str) -> Decimal:
        """What calls in flight hold under ``key``."""

    def keys(self) -> list[str]:
        """Every key with spend or reservations."""


class MemoryBudgetBackend:
    """Budget state of one process, guarded by a lock."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._spent: dict[str, Decimal] = {}
        self._held: dict[str, tuple[float, dict[str, Decimal]]] = {}
        self._lock = threading.Lock()
        self._clock = clock

    def try_reserve(
        self, claims: Sequence[Claim], *, ttl_seconds: float
    ) -> str | Refusal:
        with self._lock:
            self._expire()
            for claim in claims:
                spent = self._spent.get(claim.key, Decimal(0))
                reserved = self._reserved(claim.key)
                if spent + reserved + claim.amount > claim.limit:
                    return Refusal(
                        claim.key, claim.limit, spent, reserved, claim.amount
                    )
            reservation_id = uuid.uuid4().hex
            amounts = {claim.key: claim.amount for claim in claims}
            self._held[reservation_id] = (self._clock() + ttl_seconds, amounts)
            return reservation_id

    def settle(self, reservation_id: str, actuals: Mapping[str, Decimal]) -> None:
        with self._lock:
            _, amounts = self._held.pop(reservation_id, (0.0, {}))
            for key in amounts:
                added = actuals.get(key, Decimal(0))
                self._spent[key] = self._spent.get(key, Decimal(0)) + added

    def release(self, reservation_id: str) -> None:
        with self._lock:
            self._held.pop(reservation_id, None)

    def spent(self, key: str) -> Decimal:
        return self._spent.get(key, Decimal(0))

    def reserved(self, key: str) -> Decimal:
        with self._lock:
            return self._reserved(key)

    def keys(self) -> list[str]:
        with self._lock:
            held = {key for _, amounts in self._held.values() for key in amounts}
            return sorted(held | set(self._spent))

    def _reserved(self, key: str) -> Decimal:
        return sum(
            (amounts.get(key, Decimal(0)) for _, amounts in self._held.values()),
            Decimal(0),
        )

    def _expire(self) -> None:
        now = self._clock()
        for reservation_id, (expires, _) in list(self._held.items()):
            if expires <= now:
                del self._held[reservation_id]


@dataclass(slots=True)
class Reservation:
    """Claims held for one call in flight."""

    backend_id: str
    keys: dict[str, Budget]


class BudgetBook:
    """The budgets of one handler: estimates, reserves, settles.

    Args:
        budgets: The budgets; several may cover one call, and the first that
            does not fit refuses it.
        prices: Prices for estimates and actual costs.
        backend: Where spend and reservations live; in memory by default.
        clock: UTC clock for windows.
    """

    def __init__(
        self,
        budgets: Sequence[Budget],
        *,
        prices: PriceBook,
        backend: BudgetBackend | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(tz=UTC),
        reservation_ttl: float = _RESERVATION_TTL_SECONDS,
    ) -> None:
        for budget in budgets:
            if not isinstance(budget, Budget):
                raise ConfigurationError(
                    f"budgets must be a list of Budget objects, got {budget!r}"
                )
        self.budgets = list(budgets)
        self.prices = prices
        self.backend: BudgetBackend = backend or MemoryBudgetBackend()
        self._now = now
        self._ttl = reservation_ttl
        self._outputs: dict[str | None, deque[int]] = {}
        self._soft_warned: set[str] = set()
        self._unpriced_warned: set[str] = set()
        self._grants: dict[str, Decimal] = {}
        self._lock = threading.Lock()

    def grant(self, key: str, amount: Decimal) -> None:
        """Raise the limit of one scope instance (a person approved more)."""
        with self._lock:
            self._grants[key] = self._grants.get(key, Decimal(0)) + amount

    def reserve(self, request: CallRequest) -> Reservation | None:
        """Reserve the call's estimate in every budget that covers it.

        Raises:
            BudgetExceededError: A hard limit would be passed; nothing is held.
        """
        covering = self._covering(request)
        if not covering:
            return None
        output = self.output_estimate(request)
        usd = self.prices.estimate(
            request.model,
            input_tokens=request.input_tokens,
            output_tokens=output,
            provider=request.provider,
        )
        claims = self._claims(request, covering, usd, request.input_tokens + output)
        result = self.backend.try_reserve(claims, ttl_seconds=self._ttl)
        if isinstance(result, Refusal):
            raise self._refusal_error(result, covering)
        return Reservation(result, {claim.key: covering[claim.key] for claim in claims})

    def settle(self, reservation: Reservation | None, record: UsageRecord) -> None:
        """Charge the call's actual cost and tokens; learn its output size."""
        self._learn_output(record)
        if reservation is None:
            return
        actuals = {
            key: (record.cost or Decimal(0))
            if budget.unit == "usd"
            else Decimal(record.total_tokens)
            for key, budget in reservation.keys.items()
        }
        self.backend.settle(reservation.backend_id, actuals)
        self._check_soft_limits(reservation)

    def release(self, reservation: Reservation | None) -> None:
        """Drop a failed call's reservation."""
        if reservation is not None:
            self.backend.release(reservation.backend_id)

    def output_estimate(self, request: CallRequest) -> int:
        """Output tokens to expect: the node's recent peak, capped by max_tokens."""
        history = self._outputs.get(request.node)
        learned = max(history) if history else None
        if learned is not None and request.max_tokens is not None:
            return min(learned, request.max_tokens)
        if learned is not None:
            return learned
        return request.max_tokens or _DEFAULT_OUTPUT_ESTIMATE

    def status(self) -> list[dict[str, Any]]:
        """Each budget key: its limit, spent and reserved, for reports."""
        rows = []
        for key in self.backend.keys():  # noqa: SIM118 (a method, not a dict)
            rows.append(
                {
                    "key": key,
                    "spent": self.backend.spent(key),
                    "reserved": self.backend.reserved(key),
                }
            )
        return rows

    def _covering(self, request: CallRequest) -> dict[str, Budget]:
        window_now = self._now()
        covering: dict[str, Budget] = {}
        for budget in self.budgets:
            scope_value = budget.scope_value(request)
            if scope_value is None:
                continue
            key = f"{budget.id}|{scope_value}|{budget.window_label(window_now)}"
            covering[key] = budget
        return covering

    def _claims(
        self,
        request: CallRequest,
        covering: Mapping[str, Budget],
        usd: Decimal | None,
        tokens: int,
    ) -> list[Claim]:
        claims = []
        for key, budget in covering.items():
            if budget.unit == "tokens":
                amount = Decimal(tokens)
            elif usd is not None:
                amount = usd
            else:
                amount = self._unpriced_amount(request, budget, key)
            limit = budget.limit + self._grants.get(key, Decimal(0))
            claims.append(Claim(key=key, limit=limit, amount=amount))
        return claims

    def _unpriced_amount(
        self, request: CallRequest, budget: Budget, key: str
    ) -> Decimal:
        if budget.unpriced == "refuse":
            raise BudgetExceededError(
                scope=budget.describe_scope(key.split("|")[1]),
                limit=budget.limit,
                spent=self.backend.spent(key),
                estimate=Decimal(0),
                budget_name=budget.name,
                reason=f"no price is known for model {request.model!r}",
            )
        if request.model not in self._unpriced_warned:
            self._unpriced_warned.add(str(request.model))
            warnings.warn(
                f"budget {budget.id!r}: no price is known for model "
                f"{request.model!r}, so its calls cannot be counted in dollars and "
                "are allowed; price the model (PriceBook overrides or aliases) or "
                "use Budget(unpriced='refuse')",
                UnpricedModelWarning,
                stacklevel=4,
            )
        return Decimal(0)

    def _refusal_error(
        self, refusal: Refusal, covering: Mapping[str, Budget]
    ) -> BudgetExceededError:
        budget = covering[refusal.key]
        error = BudgetExceededError(
            scope=budget.describe_scope(refusal.key.split("|")[1]),
            limit=refusal.limit,
            spent=refusal.spent,
            estimate=refusal.amount,
            reserved=refusal.reserved,
            unit=budget.unit,
            budget_name=budget.name,
        )
        error.budget = budget
        error.key = refusal.key
        return error

    def _learn_output(self, record: UsageRecord) -> None:
        with self._lock:
            history = self._outputs.setdefault(
                record.node, deque(maxlen=_OUTPUT_HISTORY)
            )
            history.append(record.output_tokens)

    def _check_soft_limits(self, reservation: Reservation) -> None:
        for key, budget in reservation.keys.items():
            soft = budget.soft_amount()
            if soft is None or key in self._soft_warned:
                continue
            spent = self.backend.spent(key)
            if spent < soft:
                continue
            self._soft_warned.add(key)
            event = SoftLimitEvent(budget, key.split("|")[1], spent, soft)
            warnings.warn(
                f"budget {budget.name or budget.id!r} for "
                f"{budget.describe_scope(event.scope_value)} passed its soft limit: "
                f"spent {spent} of {budget.limit}",
                BudgetSoftLimitWarning,
                stacklevel=4,
            )
            if budget.on_soft_limit is not None:
                try:
                    budget.on_soft_limit(event)
                except Exception:
                    logger.exception("on_soft_limit hook of %s failed", budget.id)
