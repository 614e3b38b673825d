"""Errors and warnings raised by langgraph-tokenomics.

One base class, two branches: `ConfigurationError` for misuse found at
construction, and run-time errors (`BudgetExceededError`,
`StoreUnavailableError`) raised while a graph runs. Warnings are typed so a
user can filter one cause without hiding the others.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = [
    "BudgetExceededError",
    "ConfigurationError",
    "EstimatedUsageWarning",
    "StoreUnavailableError",
    "TokenizerFallbackWarning",
    "TokenomicsError",
    "TokenomicsRuntimeError",
    "TokenomicsWarning",
    "UnpricedModelWarning",
]


class TokenomicsError(Exception):
    """Base class of every error this package raises."""


class ConfigurationError(TokenomicsError, ValueError):
    """A price, budget, store or handler option is invalid; raised at construction."""


class TokenomicsRuntimeError(TokenomicsError, RuntimeError):
    """Base class of errors raised while a graph runs."""


class BudgetExceededError(TokenomicsRuntimeError):
    """A model call was refused because it would overspend a budget.

    Raised before the provider is called, so the refused call costs nothing.

    Attributes:
        scope: The scope of the budget that refused, e.g. ``"run"`` or
            ``"team=search"``.
        limit: The budget's hard limit, in its unit (USD or tokens).
        spent: What the scope had spent (settled) when the call was refused.
        estimate: The refused call's estimated cost, in the budget's unit.
        reserved: What calls still in flight had reserved in the same scope.
        unit: ``"usd"`` or ``"tokens"``.
    """

    def __init__(
        self,
        *,
        scope: str,
        limit: Decimal,
        spent: Decimal,
        estimate: Decimal,
        reserved: Decimal = Decimal(0),
        unit: str = "usd",
        budget_name: str | None = None,
        reason: str | None = None,
    ) -> None:
        self.scope = scope
        self.limit = limit
        self.spent = spent
        self.estimate = estimate
        self.reserved = reserved
        self.unit = unit
        self.budget_name = budget_name
        self.reason = reason
        self.budget: object = None  # the refusing Budget, set by the budget book
        self.key: str | None = None  # its scope instance key
        super().__init__(self._message())

    def _message(self) -> str:
        fmt = _format_usd if self.unit == "usd" else _format_tokens
        name = f" {self.budget_name!r}" if self.budget_name else ""
        in_flight = f" + {fmt(self.reserved)} reserved" if self.reserved else ""
        if self.reason:
            return (
                f"budget{name} for {self.scope} refused a call: {self.reason} "
                f"(limit {fmt(self.limit)}, spent {fmt(self.spent)})"
            )
        return (
            f"budget{name} for {self.scope} exceeded: limit {fmt(self.limit)}, "
            f"spent {fmt(self.spent)}{in_flight}, next call estimated at "
            f"{fmt(self.estimate)}"
        )

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:  # picklable across processes
        return (
            _rebuild_budget_error,
            (
                self.scope,
                self.limit,
                self.spent,
                self.estimate,
                self.reserved,
                self.unit,
                self.budget_name,
                self.reason,
            ),
        )


def _rebuild_budget_error(*args: object) -> BudgetExceededError:
    scope, limit, spent, estimate, reserved, unit, name, reason = args
    return BudgetExceededError(
        scope=scope,  # type: ignore[arg-type]
        limit=limit,  # type: ignore[arg-type]
        spent=spent,  # type: ignore[arg-type]
        estimate=estimate,  # type: ignore[arg-type]
        reserved=reserved,  # type: ignore[arg-type]
        unit=unit,  # type: ignore[arg-type]
        budget_name=name,  # type: ignore[arg-type]
        reason=reason,  # type: ignore[arg-type]
    )


class StoreUnavailableError(TokenomicsRuntimeError):
    """The ledger's store cannot be reached and its write queue is full."""


class TokenomicsWarning(UserWarning):
    """Base class of the warnings this package shows."""


class UnpricedModelWarning(TokenomicsWarning):
    """No price is known for a model: its records carry ``cost=None``."""


class EstimatedUsageWarning(TokenomicsWarning):
    """A call came back without usage: its tokens were counted locally."""


class TokenizerFallbackWarning(TokenomicsWarning):
    """No tiktoken encoding could be loaded: counts are approximations."""


def _format_usd(amount: Decimal) -> str:
    whole, _, fraction = f"{amount:.6f}".partition(".")
    return f"${whole}.{fraction.rstrip('0').ljust(2, '0')}"


def _format_tokens(amount: Decimal) -> str:
    return f"{int(amount):,} tokens"
