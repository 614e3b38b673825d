"""Property tests: summarized histories stay valid and keep the system first."""

from __future__ import annotations

from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st
from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.runnables import RunnableLambda

from langgraph_tokenomics.middleware import CallScope, ContextTrimMiddleware, ModelCall

from .test_trim_properties import (
    PROPERTY_SETTINGS,
    cheap_counter,
    histories,
    leading_systems,
    provider_problems,
)

SCOPE = CallScope("agent", "model")


def shaped(
    history: list[BaseMessage], max_tokens: int, asked: list[Sequence[BaseMessage]]
) -> list[BaseMessage]:
    def summarize(prompt: Sequence[BaseMessage]) -> str:
        asked.append(prompt)
        return "summary"

    middleware = ContextTrimMiddleware(
        max_tokens=max_tokens,
        token_counter=cheap_counter,
        summary_model=RunnableLambda(summarize),
    )
    pinned = leading_systems(history)
    call = ModelCall(
        system=history[:pinned],  # type: ignore[arg-type]
        messages=history[pinned:],
        tools=[],
    )
    return middleware.shape_call(call, model=None, scope=SCOPE).history


@PROPERTY_SETTINGS
@given(histories(), st.integers(0, 120))
def test_every_summarized_history_is_valid_for_both_providers(
    history: list[BaseMessage], max_tokens: int
) -> None:
    assert provider_problems(shaped(history, max_tokens, [])) == []


@PROPERTY_SETTINGS
@given(histories(), st.integers(0, 120))
def test_the_system_messages_stay_first_and_unchanged(
    history: list[BaseMessage], max_tokens: int
) -> None:
    pinned = leading_systems(history)

    assert shaped(history, max_tokens, [])[:pinned] == history[:pinned]


@PROPERTY_SETTINGS
@given(histories(), st.integers(0, 120))
def test_the_summary_model_never_sees_a_system_message(
    history: list[BaseMessage], max_tokens: int
) -> None:
    asked: list[Sequence[BaseMessage]] = []

    shaped(history, max_tokens, asked)

    for prompt in asked:
        assert not any(isinstance(m, SystemMessage) for m in prompt)
        assert '<message type="system">' not in prompt[0].text
