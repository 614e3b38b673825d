"""Property tests: trimmed histories stay valid for OpenAI's and Anthropic's rules."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langgraph_tokenomics.middleware import (
    HysteresisTrimmer,
    count_tokens,
    trim_messages_safe,
)

WORDS = st.text(alphabet="abc de", max_size=30)
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None)


def provider_problems(messages: Sequence[BaseMessage]) -> list[str]:
    """What OpenAI or Anthropic would reject, checked independently of the code."""
    problems: list[str] = []
    non_system = [m for m in messages if not isinstance(m, SystemMessage)]
    system_head = messages[: len(messages) - len(non_system)]
    if any(not isinstance(m, SystemMessage) for m in system_head):
        problems.append("a system message after the start")
    if non_system and isinstance(non_system[0], ToolMessage):
        problems.append("starts with a tool result")

    called: set[str] = set()
    answered: set[str] = set()
    for message in messages:
        if isinstance(message, AIMessage):
            called |= {str(c["id"]) for c in message.tool_calls}
        if isinstance(message, ToolMessage):
            if message.tool_call_id not in called:
                problems.append(f"result {message.tool_call_id} before its call")
            answered.add(message.tool_call_id)
    problems += [f"call {c} unanswered" for c in sorted(called - answered)]
    return problems


def cheap_counter(messages: Sequence[BaseMessage]) -> int:
    calls = sum(len(m.tool_calls) for m in messages if isinstance(m, AIMessage))
    return sum(2 + len(m.text) // 4 for m in messages) + 3 * calls


@st.composite
def histories(draw: st.DrawFn) -> list[BaseMessage]:
    """System message(s), then turns: plain, parallel calls, mixed runs of calls."""
    messages: list[BaseMessage] = [
        SystemMessage(draw(WORDS) or "system") for _ in range(draw(st.integers(0, 2)))
    ]
    kinds = ["human", "ai", "parallel", "mixed"]
    for turn, kind in enumerate(draw(st.lists(st.sampled_from(kinds), max_size=12))):
        if kind == "human":
            messages.append(HumanMessage(draw(WORDS)))
        elif kind == "ai":
            messages.append(AIMessage(draw(WORDS)))
        else:
            messages += draw(tool_run(turn, callers=1 if kind == "parallel" else 2))
    return messages


@st.composite
def tool_run(draw: st.DrawFn, turn: int, callers: int) -> list[BaseMessage]:
    """`callers` assistant messages with 1-3 calls each, then all results shuffled."""
    messages: list[BaseMessage] = []
    ids: list[str] = []
    for caller in range(callers):
        calls = [
            {"name": "read_file", "args": {"n": n}, "id": f"t{turn}c{caller}n{n}"}
            for n in range(draw(st.integers(1, 3)))
        ]
        ids += [str(c["id"]) for c in calls]
        messages.append(AIMessage(draw(WORDS), tool_calls=calls))
    for call_id in draw(st.permutations(ids)):
        messages.append(ToolMessage(draw(WORDS), tool_call_id=call_id))
    return messages


def leading_systems(messages: Sequence[BaseMessage]) -> int:
    count = 0
    while count < len(messages) and isinstance(messages[count], SystemMessage):
        count += 1
    return count


def suffix_windows(history: list[BaseMessage]) -> list[list[BaseMessage]]:
    """System head plus every valid suffix, longest first."""
    pinned = leading_systems(history)
    windows = [history[:pinned] + history[c:] for c in range(pinned, len(history) + 1)]
    return [w for w in windows if not provider_problems(w)]


@PROPERTY_SETTINGS
@given(histories(), st.integers(0, 120))
def test_every_trimmed_history_is_valid_for_both_providers(
    history: list[BaseMessage], max_tokens: int
) -> None:
    kept = trim_messages_safe(
        history, max_tokens=max_tokens, token_counter=cheap_counter
    )

    assert provider_problems(kept) == []


@PROPERTY_SETTINGS
@given(histories(), st.integers(0, 120))
def test_the_system_messages_stay_first_and_unchanged(
    history: list[BaseMessage], max_tokens: int
) -> None:
    pinned = leading_systems(history)

    kept = trim_messages_safe(
        history, max_tokens=max_tokens, token_counter=cheap_counter
    )

    assert all(a is b for a, b in zip(kept[:pinned], history[:pinned], strict=True))


@PROPERTY_SETTINGS
@given(histories(), st.integers(0, 120))
def test_the_result_is_the_longest_valid_window_under_the_limit(
    history: list[BaseMessage], max_tokens: int
) -> None:
    fitting = [
        w for w in suffix_windows(history) if cheap_counter(w) <= max_tokens
    ] or [history[: leading_systems(history)]]

    kept = trim_messages_safe(
        history, max_tokens=max_tokens, token_counter=cheap_counter
    )

    assert kept == fitting[0]


@PROPERTY_SETTINGS
@given(histories(), st.integers(0, 120))
def test_the_counter_is_only_called_on_valid_histories(
    history: list[BaseMessage], max_tokens: int
) -> None:
    def strict_counter(messages: Sequence[BaseMessage]) -> int:
        assert provider_problems(messages) == []
        return cheap_counter(messages)

    trim_messages_safe(history, max_tokens=max_tokens, token_counter=strict_counter)


@PROPERTY_SETTINGS
@given(histories())
def test_a_history_under_the_limit_comes_back_equal(history: list[BaseMessage]) -> None:
    kept = trim_messages_safe(
        history, max_tokens=cheap_counter(history), token_counter=cheap_counter
    )

    assert kept == history


@settings(max_examples=50, deadline=None)
@given(histories(), st.integers(0, 400))
def test_the_default_counter_keeps_results_under_the_limit(
    history: list[BaseMessage], max_tokens: int
) -> None:
    pinned_tokens = count_tokens(history[: leading_systems(history)])

    kept = trim_messages_safe(history, max_tokens=max_tokens)

    assert provider_problems(kept) == []
    assert count_tokens(kept) <= max(max_tokens, pinned_tokens)


def complete_prefixes(history: list[BaseMessage]) -> list[list[BaseMessage]]:
    """The history as it stood at each point where no call was open."""
    return [
        history[:end]
        for end in range(1, len(history) + 1)
        if not provider_problems(history[:end])
    ]


@PROPERTY_SETTINGS
@given(histories(), st.integers(10, 60), st.integers(0, 60))
def test_hysteresis_windows_are_valid_and_under_the_high_watermark(
    history: list[BaseMessage], high: int, gap: int
) -> None:
    trimmer = HysteresisTrimmer(
        high_watermark=high,
        low_watermark=max(high - gap, 0),
        token_counter=cheap_counter,
    )
    pinned_tokens = cheap_counter(history[: leading_systems(history)])

    result = trimmer.trim(history)

    assert provider_problems(result.messages) == []
    assert result.tokens <= max(high, pinned_tokens)


@PROPERTY_SETTINGS
@given(histories(), st.integers(10, 60), st.integers(0, 60))
def test_hysteresis_between_cuts_each_request_extends_the_previous(
    history: list[BaseMessage], high: int, gap: int
) -> None:
    trimmer = HysteresisTrimmer(
        high_watermark=high,
        low_watermark=max(high - gap, 0),
        token_counter=cheap_counter,
    )

    results = [trimmer.trim(prefix) for prefix in complete_prefixes(history)]

    for before, after in itertools.pairwise(results):
        if len(after.cuts) == len(before.cuts):
            assert after.messages[: len(before.messages)] == before.messages
        else:
            assert after.cuts[: len(before.cuts)] == before.cuts
