"""The canary's arms, decisions after promotion, and the user's pins and reverts."""

from __future__ import annotations

from decimal import Decimal

import pytest

from langgraph_tokenomics import ConfigurationError, UsageRecord
from langgraph_tokenomics._canary import ArmStats, Canary, CanaryDecision
from langgraph_tokenomics._ledger import Ledger
from langgraph_tokenomics._outcomes import mark_outcome


def canary(**options: object) -> Canary:
    settings: dict[str, object] = {
        "node": "answer",
        "current": "big",
        "candidate": "small",
        "share": 0.5,
        "margin": 0.1,
        "min_outcomes": 2,
        "window": 2,
    }
    settings.update(options)
    return Canary(**settings)  # type: ignore[arg-type]


def threads(trial: Canary, arm: str, count: int, prefix: str = "t") -> list[str]:
    ids = (f"{prefix}{n}" for n in range(1_000))
    return [thread for thread in ids if trial.arm(thread) == arm][:count]


def serve(trial: Canary, ledger: Ledger, thread: str, success: bool, cost: str) -> str:
    model, _ = trial.choose(thread, "big")
    trial.after_call(
        UsageRecord(run_id=thread, thread_id=thread, node="answer", cost=Decimal(cost))
    )
    mark_outcome(ledger, thread, success=success)
    return model


def promoted(trial: Canary, ledger: Ledger) -> CanaryDecision:
    for thread in threads(trial, "current", 2):
        serve(trial, ledger, thread, True, "0.004")
    for thread in threads(trial, "candidate", 2):
        serve(trial, ledger, thread, True, "0.001")
    return trial.decisions[-1]


def test_arms_are_a_seeded_hash_of_the_thread():
    trial = canary(share=0.1, seed=0)
    reseeded = canary(share=0.1, seed=1)
    ids = [f"thread-{n}" for n in range(1_000)]

    assert sum(trial.arm(thread) == "candidate" for thread in ids) == 93
    assert [t for t in ids[:20] if trial.arm(t) == "candidate"] == [
        "thread-0",
        "thread-3",
        "thread-5",
        "thread-8",
        "thread-15",
        "thread-17",
    ]
    assert sum(trial.arm(t) != reseeded.arm(t) for t in ids) == 193


def test_a_thread_keeps_its_arm_and_says_why():
    trial = canary()
    thread = threads(trial, "candidate", 1)[0]

    assert trial.choose(thread, "big") == (
        "small",
        "canary: candidate arm (50% of threads try small)",
    )
    assert trial.choose(thread, "big")[0] == "small"


def test_a_promotion_carries_its_evidence():
    trial = canary().watch(ledger := Ledger())

    decision = promoted(trial, ledger)

    assert (decision.action, decision.model, decision.previous) == (
        "promote",
        "small",
        "big",
    )
    assert decision.current == ArmStats("big", 2, 2, Decimal("0.008"))
    assert decision.candidate == ArmStats("small", 2, 2, Decimal("0.002"))
    assert decision.automatic
    assert trial.choose("anyone", "big") == ("small", "canary promoted: small")


def test_a_promotion_is_rolled_back_when_outcomes_degrade():
    trial = canary().watch(ledger := Ledger())
    promoted(trial, ledger)

    for thread in ("late-1", "late-2"):
        serve(trial, ledger, thread, False, "0.001")

    rollback = trial.decisions[-1]
    assert (rollback.action, rollback.model, trial.serving) == (
        "rollback",
        "big",
        "big",
    )
    assert rollback.reason == (
        "outcomes degraded after promotion: success rate fell by more than the "
        "margin: small 0.0% of 2 at - per success, vs big 100.0% of 2 at "
        "$0.004000 per success (margin 0.1)"
    )


def test_outcomes_of_threads_served_before_a_decision_are_ignored():
    trial = canary().watch(ledger := Ledger())
    early = threads(trial, "candidate", 3)[-1]
    trial.choose(early, "big")
    promoted(trial, ledger)

    mark_outcome(ledger, early, success=False)

    assert trial.stats()[1].outcomes == 0


def test_the_user_pins_a_model():
    trial = canary()

    decision = trial.pin("small")

    assert (decision.action, decision.automatic, trial.state) == (
        "pin",
        False,
        "pinned",
    )
    assert trial.choose("anyone", "big") == ("small", "canary pinned: small")


def test_reverting_a_pin_resumes_the_trial():
    trial = canary()
    trial.pin("small")

    decision = trial.revert()

    assert (decision.action, decision.model, trial.state) == (
        "revert",
        "big",
        "running",
    )


def test_reverting_a_promotion_pins_the_previous_model():
    trial = canary().watch(ledger := Ledger())
    promoted(trial, ledger)

    decision = trial.revert()

    assert (decision.reason, trial.state, trial.serving) == (
        "reverted the promote to small",
        "pinned",
        "big",
    )


def test_there_is_nothing_to_revert_at_first():
    with pytest.raises(ConfigurationError, match="no decision to revert"):
        canary().revert()


def test_only_the_two_models_can_be_pinned():
    with pytest.raises(ConfigurationError, match="not 'medium'"):
        canary().pin("medium")


def test_a_window_below_min_outcomes_is_refused():
    with pytest.raises(ConfigurationError, match="min_outcomes <= window"):
        canary(min_outcomes=5, window=4)
