"""Canaries: try a cheaper model on a share of a node's threads, promote or roll back.

A `Canary` sends a fixed share of a node's threads (or runs, without a
thread) to a candidate model, chosen by a seeded hash of the thread id so a
thread always lands on the same arm and a test knows which. It learns each
thread's cost in the node from the handler's records (pass the canary as a
guard) and its result from outcomes (``canary.watch(handler)``). Once both
arms have ``min_outcomes`` outcomes it compares their last ``window``:

- promote the candidate when its success rate is at most ``margin`` below
  the current model's and its cost per successful outcome is not higher;
- else roll back to the current model.

After a promotion every new thread gets the candidate, and it is rolled back
when its success rate falls more than ``margin`` below what the current
model had. Each decision is a `CanaryDecision` with its evidence; the user
can `pin` a model or `revert` the last decision. Canaries are off unless a
`Router` is given one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from ._errors import ConfigurationError
from ._outcomes import watch_outcomes
from ._records import UsageRecord

if TYPE_CHECKING:
    from ._store import Outcome

__all__ = ["ArmStats", "Canary", "CanaryDecision"]

logger = logging.getLogger(__name__)

Arm = Literal["current", "candidate"]
CanaryState = Literal["running", "promoted", "rolled_back", "pinned"]
CanaryAction = Literal["promote", "rollback", "pin", "revert"]
_HASH_SPACE = 2**64
_MAX_UNITS = 100_000


@dataclass(frozen=True, slots=True)
class ArmStats:
    """Outcomes and cost of one arm over the window.

    Attributes:
        model: The arm's model.
        outcomes: Threads (or runs) of the arm with a marked outcome.
        successes: Of those, the successful ones.
        cost: What those threads cost in the node (USD).
    """

    model: str
    outcomes: int
    successes: int
    cost: Decimal

    @property
    def success_rate(self) -> Decimal | None:
        """``successes / outcomes``; ``None`` without outcomes."""
        if not self.outcomes:
            return None
        return Decimal(self.successes) / Decimal(self.outcomes)

    @property
    def cost_per_success(self) -> Decimal | None:
        """``cost / successes``; ``None`` without a success."""
        return self.cost / self.successes if self.successes else None


@dataclass(frozen=True, slots=True, kw_only=True)
class CanaryDecision:
    """A change of the model serving a canary's node, with its evidence.

    Attributes:
        node: The node.
        action: ``"promote"``, ``"rollback"``, ``"pin"`` or ``"revert"``.
        model: The model serving the node after the decision.
        previous: The model serving it before.
        reason: Why, in words, with the rates and costs compared.
        current: The current model's arm (after a promotion: its arm when
            promoted) as compared; ``None`` for a revert.
        candidate: The candidate's arm as compared; ``None`` for a revert.
        margin: The success-rate margin in force.
        automatic: ``False`` for the user's pins and reverts.
        at: When it was decided (UTC).
    """

    node: str
    action: CanaryAction
    model: str
    previous: str
    reason: str
    current: ArmStats | None
    candidate: ArmStats | None
    margin: Decimal
    automatic: bool
    at: datetime


@dataclass(slots=True)
class _Unit:
    arm: Arm
    phase: int
    cost: Decimal = Decimal(0)


class Canary:
    """Tries a cheaper model on a share of one node's threads.

    Pass it to a `Router` (``canaries=[canary]``), to the handler as a guard
    (``guards=[canary]``, for costs), and watch the handler's outcomes
    (``canary.watch(handler)``).

    Args:
        node: The node whose calls are tried.
        current: The model the node uses now, as ``init_chat_model`` names it.
        candidate: The cheaper model to try.
        share: The fraction of threads sent to the candidate while trying.
        margin: How far (absolute: ``0.05`` is five points) the candidate's
            success rate may be below the current model's.
        min_outcomes: Outcomes needed on each arm before deciding.
        window: How many recent outcomes per arm are compared.
        seed: Seeds the hash that assigns threads to arms.
        on_decision: Called with each `CanaryDecision`.

    Raises:
        ConfigurationError: A share or margin outside [0, 1], a count below
            1, or ``window`` below ``min_outcomes``.
    """

    def __init__(
        self,
        *,
        node: str,
        current: str,
        candidate: str,
        share: float | Decimal = 0.1,
        margin: float | Decimal = 0.05,
        min_outcomes: int = 20,
        window: int = 100,
        seed: int = 0,
        on_decision: Callable[[CanaryDecision], Any] | None = None,
    ) -> None:
        self.node = node
        self.current = current
        self.candidate = candidate
        self.share = _fraction(share, "share")
        self.margin = _fraction(margin, "margin")
        if min_outcomes < 1 or window < min_outcomes:
            raise ConfigurationError(
                "Canary needs 1 <= min_outcomes <= window, got "
                f"min_outcomes={min_outcomes}, window={window}"
            )
        self.min_outcomes = min_outcomes
        self.window = window
        self.seed = seed
        self.on_decision = on_decision
        self.state: CanaryState = "running"
        self._pinned: str | None = None
        self._history: list[tuple[CanaryState, str | None]] = []
        self._phase = 0
        self._units: dict[str, _Unit] = {}
        self._results = self._new_results()
        self._baseline: ArmStats | None = None
        self._decisions: list[CanaryDecision] = []
        self._lock = threading.RLock()

    # -- what serves ------------------------------------------------------------

    @property
    def serving(self) -> str:
        """The model the node's threads get outside the trial share."""
        if self.state == "pinned" and self._pinned is not None:
            return self._pinned
        return self.candidate if self.state == "promoted" else self.current

    @property
    def decisions(self) -> list[CanaryDecision]:
        """Every decision, oldest first."""
        with self._lock:
            return list(self._decisions)

    def arm(self, unit_id: str) -> Arm:
        """The arm a thread (or run) gets while trying: a seeded hash, no state."""
        text = f"{self.seed}|{self.node}|{unit_id}".encode()
        bucket = int.from_bytes(hashlib.sha256(text).digest()[:8], "big")
        return "candidate" if bucket < self.share * _HASH_SPACE else "current"

    def choose(self, unit_id: str, wanted: str) -> tuple[str, str]:
        """The model for a thread of the node, and why (the router asks)."""
        with self._lock:
            arm = self._arm_now(unit_id)
            if unit_id not in self._units:
                self._units[unit_id] = _Unit(arm, self._phase)
                if len(self._units) > _MAX_UNITS:  # threads never marked
                    del self._units[next(iter(self._units))]
            model = self.candidate if arm == "candidate" else self.current
            return model, self._reason(arm, model)

    # -- evidence ---------------------------------------------------------------

    def after_call(self, record: UsageRecord) -> None:
        """Add a call's cost to its thread (the handler calls this as a guard)."""
        if record.node != self.node and self.node not in record.node_path:
            return
        unit_id = record.thread_id or record.root_run_id
        with self._lock:
            unit = self._units.get(unit_id) if unit_id else None
            if unit is not None:
                unit.cost += record.cost or Decimal(0)

    def on_outcome(self, outcome: Outcome) -> CanaryDecision | None:
        """Count a marked outcome; decide when the evidence is enough."""
        with self._lock:
            unit = self._units.pop(outcome.run_or_thread_id, None)
            if unit is None or unit.phase != self._phase:
                return None
            self._results[unit.arm].append((outcome.success, unit.cost))
            decision = self._evaluate()
        if decision is not None:
            self._announce(decision)
        return decision

    def watch(self, target: Any) -> Canary:
        """Learn outcomes marked on a handler, ledger or store; returns self."""
        watch_outcomes(target, self.on_outcome)
        return self

    def stats(self) -> tuple[ArmStats, ArmStats]:
        """The current and candidate arms over the window, as now known."""
        with self._lock:
            return self._stats("current"), self._stats("candidate")

    # -- the user's hand --------------------------------------------------------

    def pin(self, model: str | None = None) -> CanaryDecision:
        """Serve ``model`` (the one serving now by default) and stop deciding.

        Raises:
            ConfigurationError: ``model`` is neither the current model nor
                the candidate.
        """
        model = model or self.serving
        if model not in (self.current, self.candidate):
            raise ConfigurationError(
                f"canary of node {self.node!r} can pin {self.current!r} or "
                f"{self.candidate!r}, not {model!r}"
            )
        with self._lock:
            decision = self._change("pin", model, f"pinned by the user to {model}")
        self._announce(decision)
        return decision

    def revert(self) -> CanaryDecision:
        """Undo the last decision.

        After a pin the canary goes on as before it; after a promotion or a
        rollback the node goes back to the model it had, pinned there.

        Raises:
            ConfigurationError: There is no decision to undo.
        """
        with self._lock:
            if not self._decisions:
                raise ConfigurationError(
                    f"canary of node {self.node!r} has no decision to revert"
                )
            decision = self._revert(self._decisions[-1])
        self._announce(decision)
        return decision

    # -- steps ------------------------------------------------------------------

    def _arm_now(self, unit_id: str) -> Arm:
        if self.state == "running":
            return self.arm(unit_id)
        return "candidate" if self.serving == self.candidate else "current"

    def _reason(self, arm: Arm, model: str) -> str:
        if self.state == "running":
            return (
                f"canary: {arm} arm ({self.share:.0%} of threads try {self.candidate})"
            )
        return f"canary {self.state.replace('_', ' ')}: {model}"

    def _stats(self, arm: Arm) -> ArmStats:
        results = self._results[arm]
        return ArmStats(
            model=self.candidate if arm == "candidate" else self.current,
            outcomes=len(results),
            successes=sum(success for success, _ in results),
            cost=sum((cost for _, cost in results), Decimal(0)),
        )

    def _evaluate(self) -> CanaryDecision | None:
        if self.state == "running":
            return self._judge_trial()
        if self.state == "promoted":
            return self._watch_promotion()
        return None

    def _judge_trial(self) -> CanaryDecision | None:
        current, candidate = self._stats("current"), self._stats("candidate")
        if min(current.outcomes, candidate.outcomes) < self.min_outcomes:
            return None
        verdict = self._verdict(current, candidate)
        if verdict is not None:
            return self._change("rollback", self.current, verdict)
        reason = _evidence("the candidate is not worse", current, candidate, self)
        decision = self._change("promote", self.candidate, reason)
        self._baseline = current
        return decision

    def _watch_promotion(self) -> CanaryDecision | None:
        candidate = self._stats("candidate")
        if self._baseline is None or candidate.outcomes < self.min_outcomes:
            return None
        verdict = self._verdict(self._baseline, candidate)
        if verdict is None:
            return None
        reason = f"outcomes degraded after promotion: {verdict}"
        return self._change("rollback", self.current, reason)

    def _verdict(self, current: ArmStats, candidate: ArmStats) -> str | None:
        """Why the candidate is worse than ``current``, or ``None``."""
        current_rate = current.success_rate or Decimal(0)
        candidate_rate = candidate.success_rate or Decimal(0)
        if candidate_rate < current_rate - self.margin:
            return _evidence(
                "success rate fell by more than the margin", current, candidate, self
            )
        current_cost = current.cost_per_success
        candidate_cost = candidate.cost_per_success
        if candidate_cost is None or (
            current_cost is not None and candidate_cost > current_cost
        ):
            return _evidence("cost per success is higher", current, candidate, self)
        return None

    def _change(self, action: CanaryAction, model: str, reason: str) -> CanaryDecision:
        previous = self.serving
        current = self._baseline if self.state == "promoted" else None
        decision = CanaryDecision(
            node=self.node,
            action=action,
            model=model,
            previous=previous,
            reason=reason,
            current=current or self._stats("current"),
            candidate=self._stats("candidate"),
            margin=self.margin,
            automatic=action in ("promote", "rollback"),
            at=datetime.now(tz=UTC),
        )
        self._history.append((self.state, self._pinned))
        if action == "pin":
            self.state, self._pinned = "pinned", model
        else:
            self.state = "promoted" if action == "promote" else "rolled_back"
        self._start_phase(decision)
        return decision

    def _revert(self, last: CanaryDecision) -> CanaryDecision:
        previous = self.serving
        self._history.append((self.state, self._pinned))
        if last.action == "pin":
            self.state, self._pinned = self._history[-2]
            reason = f"reverted the pin to {last.model}"
        else:
            self.state, self._pinned = "pinned", last.previous
            reason = f"reverted the {last.action} to {last.model}"
        decision = CanaryDecision(
            node=self.node,
            action="revert",
            model=self.serving,
            previous=previous,
            reason=reason,
            current=None,
            candidate=None,
            margin=self.margin,
            automatic=False,
            at=datetime.now(tz=UTC),
        )
        self._start_phase(decision)
        return decision

    def _start_phase(self, decision: CanaryDecision) -> None:
        self._decisions.append(decision)
        self._phase += 1
        self._results = self._new_results()

    def _announce(self, decision: CanaryDecision) -> None:
        logger.info(
            "canary of node %r: %s, now %s (%s)",
            decision.node,
            decision.action,
            decision.model,
            decision.reason,
        )
        if self.on_decision is not None:
            self.on_decision(decision)

    def _new_results(self) -> dict[Arm, deque[tuple[bool, Decimal]]]:
        return {
            "current": deque(maxlen=self.window),
            "candidate": deque(maxlen=self.window),
        }


def _evidence(
    verdict: str, current: ArmStats, candidate: ArmStats, canary: Canary
) -> str:
    return (
        f"{verdict}: {candidate.model} {_rate(candidate)} of {candidate.outcomes} "
        f"at {_money(candidate.cost_per_success)} per success, vs "
        f"{current.model} {_rate(current)} of {current.outcomes} at "
        f"{_money(current.cost_per_success)} per success (margin {canary.margin})"
    )


def _rate(stats: ArmStats) -> str:
    rate = stats.success_rate
    return "-" if rate is None else f"{rate:.1%}"


def _money(amount: Decimal | None) -> str:
    return "-" if amount is None else f"${amount:.6f}"


def _fraction(value: float | Decimal, name: str) -> Decimal:
    fraction = Decimal(str(value))
    if not 0 <= fraction <= 1:
        raise ConfigurationError(f"Canary {name} must be in [0, 1], got {value}")
    return fraction
