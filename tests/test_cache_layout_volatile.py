"""Volatile spans in system prompts, and the OpenAI cache key."""

from __future__ import annotations

from langgraph_tokenomics.middleware import (
    VolatileSpan,
    VolatileSpanTracker,
    find_volatile_spans,
    prompt_cache_key,
)

FIRST = (
    "You are a support agent.\nNow: 2026-05-07T10:14:03Z\nCustomer: Alice (42)\n"
    "Be brief."
)
SECOND = (
    "You are a support agent.\nNow: 2026-05-07T10:15:09Z\nCustomer: Bob (43)\nBe brief."
)


def test_timestamps_are_found_before_they_change() -> None:
    assert find_volatile_spans(FIRST) == (
        VolatileSpan(30, 50, "2026-05-07T10:14:03Z", "timestamp", observed=False),
    )


def test_uuids_dates_and_times_are_found_by_shape() -> None:
    prompt = "Run 123e4567-e89b-12d3-a456-426614174000 on May 7, 2026 at 10:14 PM."

    kinds = [(span.kind, span.text) for span in find_volatile_spans(prompt)]

    assert kinds == [
        ("uuid", "123e4567-e89b-12d3-a456-426614174000"),
        ("date", "May 7, 2026"),
        ("time", "10:14 PM"),
    ]


def test_changes_since_the_previous_prompt_are_reported_with_positions() -> None:
    spans = find_volatile_spans(SECOND, FIRST)

    assert spans == (
        VolatileSpan(30, 50, "2026-05-07T10:15:09Z", "timestamp", observed=True),
        VolatileSpan(61, 64, "Bob", "text", observed=True),
        VolatileSpan(66, 68, "43", "number", observed=True),
    )


def test_a_change_inside_a_timestamp_widens_to_the_whole_timestamp() -> None:
    later = FIRST.replace("10:14:03", "10:14:04")

    spans = find_volatile_spans(later, FIRST)

    assert [(s.text, s.observed) for s in spans] == [("2026-05-07T10:14:04Z", True)]


def test_an_unchanged_prompt_without_shapes_has_no_spans() -> None:
    assert find_volatile_spans("Be brief.", "Be brief.") == ()


def test_the_tracker_splits_the_volatile_lines_off() -> None:
    tracker = VolatileSpanTracker()
    tracker.split("agent/model", FIRST)

    split = tracker.split("agent/model", SECOND)

    assert split.stable == "You are a support agent.\nBe brief."
    assert split.volatile == "Now: 2026-05-07T10:15:09Z\nCustomer: Bob (43)"


def test_a_line_once_volatile_stays_volatile() -> None:
    tracker = VolatileSpanTracker()
    tracker.split("agent/model", FIRST)
    tracker.split("agent/model", SECOND)

    split = tracker.split("agent/model", SECOND.replace("10:15:09", "10:16:00"))

    assert split.stable == "You are a support agent.\nBe brief."


def test_on_first_sight_only_shaped_lines_are_volatile() -> None:
    split = VolatileSpanTracker().split("agent/model", FIRST)

    assert split.volatile == "Now: 2026-05-07T10:14:03Z"


def test_nodes_are_tracked_apart() -> None:
    tracker = VolatileSpanTracker()
    tracker.split("agent/model", FIRST)

    split = tracker.split("agent/other", SECOND)

    assert split.volatile == "Now: 2026-05-07T10:15:09Z"


def test_the_openai_cache_key_is_a_short_stable_hash() -> None:
    assert prompt_cache_key("support", "model") == "lgt-c68d200338d10730"


def test_nodes_of_one_agent_get_different_cache_keys() -> None:
    assert prompt_cache_key("support", "model") != prompt_cache_key("support", "tools")
