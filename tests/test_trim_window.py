"""Trimming to a fraction of the model's context window."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest
from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)

from langgraph_tokenomics import ConfigurationError
from langgraph_tokenomics.middleware import (
    CallScope,
    ContextTrimMiddleware,
    ModelCall,
    context_window,
)

from .fakes import ScriptedChatModel

SCOPE = CallScope("agent", "model")


def count_messages(messages: Sequence[BaseMessage]) -> int:
    return len(messages)


def count_thousands(messages: Sequence[BaseMessage]) -> int:
    return 100_000 * len(messages)


def profiled(max_input_tokens: int) -> GenericFakeChatModel:
    return GenericFakeChatModel(
        messages=iter(["ok"]), profile={"max_input_tokens": max_input_tokens}
    )


def conversation(turns: int) -> list[AnyMessage]:
    messages: list[AnyMessage] = [SystemMessage("Be terse.")]
    for turn in range(1, turns + 1):
        messages += [HumanMessage(f"question {turn}"), AIMessage(f"answer {turn}")]
    return messages


def sent(
    middleware: ContextTrimMiddleware, model: Any, history: list[AnyMessage]
) -> list[Any]:
    system = cast("list[SystemMessage]", history[:1])
    call = ModelCall(system=system, messages=list(history[1:]), tools=[])
    shaped = middleware.shape_call(call, model=model, scope=SCOPE)
    return [message.content for message in shaped.history]


def test_the_window_is_read_from_the_model_profile() -> None:
    assert context_window(profiled(8)) == 8


def test_without_a_profile_the_window_comes_from_genai_prices() -> None:
    assert context_window(ScriptedChatModel(model_name="gpt-5.4-nano")) == 400_000


def test_the_profile_wins_over_genai_prices() -> None:
    model = ScriptedChatModel(
        model_name="gpt-5.4-nano", profile={"max_input_tokens": 1_000}
    )

    assert context_window(model) == 1_000


def test_a_bound_model_is_looked_through() -> None:
    assert context_window(profiled(8).bind(stop=["x"])) == 8


def test_an_unknown_window_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError) as raised:
        context_window(ScriptedChatModel(model_name="in-house-model"))

    assert str(raised.value) == (
        "the context window of model 'in-house-model' is unknown (no "
        "max_input_tokens in its LangChain profile, no context_window in "
        "genai-prices); give max_tokens or watermarks instead of fractions, or "
        "set model.profile={'max_input_tokens': ...}"
    )


def test_max_fraction_trims_to_that_share_of_the_window() -> None:
    middleware = ContextTrimMiddleware(max_fraction=0.5, token_counter=count_messages)

    assert sent(middleware, profiled(8), conversation(3)) == [
        "Be terse.",
        "answer 2",
        "question 3",
        "answer 3",
    ]


def test_the_fraction_is_rounded_down_to_whole_tokens() -> None:
    middleware = ContextTrimMiddleware(max_fraction=0.5, token_counter=count_messages)

    assert sent(middleware, profiled(7), conversation(3)) == [
        "Be terse.",
        "question 3",
        "answer 3",
    ]


def test_max_fraction_uses_the_genai_prices_window() -> None:
    middleware = ContextTrimMiddleware(max_fraction=0.5, token_counter=count_thousands)
    model = ScriptedChatModel(model_name="gpt-5.4-nano")

    assert sent(middleware, model, conversation(2)) == ["Be terse.", "answer 2"]


def test_fraction_watermarks_cut_at_the_high_share_down_to_the_low_one() -> None:
    middleware = ContextTrimMiddleware(
        high_fraction=0.6, low_fraction=0.3, token_counter=count_messages
    )

    assert sent(middleware, profiled(10), conversation(4)[:-1]) == [
        "Be terse.",
        "question 3",
        "answer 3",
        "question 4",
    ]


def test_fraction_watermarks_leave_a_history_under_the_high_share() -> None:
    middleware = ContextTrimMiddleware(
        high_fraction=0.6, low_fraction=0.3, token_counter=count_messages
    )
    history = conversation(2)

    assert sent(middleware, profiled(10), history) == [m.content for m in history]


def test_an_agent_trims_to_a_fraction_of_its_model_window() -> None:
    model = ScriptedChatModel(
        profile={"max_input_tokens": 8}, replies=[AIMessage("answer 4")]
    )
    agent = create_agent(
        model,
        system_prompt="Be terse.",
        middleware=[
            ContextTrimMiddleware(max_fraction=0.25, token_counter=count_messages)
        ],
    )

    agent.invoke({"messages": [*conversation(3)[1:], HumanMessage("question 4")]})

    assert [m.content for m in model.seen[0]] == ["Be terse.", "question 4"]


def test_an_agent_with_an_unknown_window_fails_on_its_first_call() -> None:
    agent = create_agent(
        ScriptedChatModel(model_name="in-house-model"),
        middleware=[ContextTrimMiddleware(max_fraction=0.5)],
    )

    with pytest.raises(ConfigurationError, match="is unknown"):
        agent.invoke({"messages": [HumanMessage("hi")]})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_fraction": 0}, "max_fraction must satisfy 0 < fraction <= 1, got 0"),
        (
            {"max_fraction": 50},
            "max_fraction must satisfy 0 < fraction <= 1, got 50",
        ),
        (
            {"high_fraction": 0.5, "low_fraction": 0.6},
            "fractions must satisfy 0 < low <= high <= 1, got "
            "low_fraction=0.6, high_fraction=0.5",
        ),
        (
            {"high_fraction": 1.5, "low_fraction": 0.5},
            "fractions must satisfy 0 < low <= high <= 1, got "
            "low_fraction=0.5, high_fraction=1.5",
        ),
        (
            {"high_fraction": 0.5},
            "give both high_fraction and low_fraction, or neither",
        ),
        (
            {"max_tokens": 100, "max_fraction": 0.5},
            "give max_tokens or max_fraction, not both",
        ),
        (
            {"max_fraction": 0.5, "high_fraction": 0.6, "low_fraction": 0.3},
            "give max_fraction or fractions, not both",
        ),
        (
            {"high_watermark": 10, "low_watermark": 5, "max_fraction": 0.5},
            "give watermarks or max_fraction, not both",
        ),
    ],
)
def test_fraction_options_are_checked_at_construction(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError) as raised:
        ContextTrimMiddleware(**options)

    assert str(raised.value) == message
