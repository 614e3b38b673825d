"""Summaries of the trimmed part: what the summary model sees, where it goes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from langgraph_tokenomics.middleware import (
    CallScope,
    ContextTrimMiddleware,
    ModelCall,
    TrimCut,
    TrimSummarizer,
)

from .fakes import ScriptedChatModel, reply

PROMPT = "Summarize:\n{messages}"
SCOPE = CallScope("agent", "model")


def summary_model(*texts: str) -> ScriptedChatModel:
    replies = [reply(text, model="gpt-5.4-nano") for text in texts or ("summary",)]
    return ScriptedChatModel(model_name="gpt-5.4-nano", replies=replies)


def count_messages(messages: Sequence[BaseMessage]) -> int:
    return len(messages)


def conversation(turns: int) -> list[BaseMessage]:
    messages: list[BaseMessage] = [SystemMessage("Be terse.")]
    for turn in range(1, turns + 1):
        messages += [HumanMessage(f"question {turn}"), AIMessage(f"answer {turn}")]
    return messages


def as_call(history: Sequence[BaseMessage]) -> ModelCall:
    system = cast("list[SystemMessage]", list(history[:1]))
    return ModelCall(system=system, messages=list(history[1:]), tools=[])


def trim(model: ScriptedChatModel, **options: Any) -> ContextTrimMiddleware:
    return ContextTrimMiddleware(
        token_counter=count_messages,
        summary_model=model,
        summary_prompt=PROMPT,
        **options,
    )


def texts(messages: Sequence[BaseMessage]) -> list[tuple[str, Any]]:
    return [(m.type, m.content) for m in messages]


def asked(model: ScriptedChatModel) -> list[str]:
    return [str(prompt[0].content) for prompt in model.seen]


def test_the_cut_part_is_replaced_by_one_summary_message() -> None:
    middleware = trim(summary_model("they asked twice"), max_tokens=3)

    shaped = middleware.shape_call(as_call(conversation(3)), model=None, scope=SCOPE)

    assert texts(shaped.history) == [
        ("system", "Be terse."),
        (
            "human",
            "<conversation_summary>\nthey asked twice\n</conversation_summary>",
        ),
        ("human", "question 3"),
        ("ai", "answer 3"),
    ]


def test_the_summary_model_sees_the_cut_messages_and_never_the_system() -> None:
    model = summary_model()

    trim(model, max_tokens=3).shape_call(
        as_call(conversation(3)), model=None, scope=SCOPE
    )

    assert asked(model) == [
        "Summarize:\n"
        '<message type="human">question 1</message>\n'
        '<message type="ai">answer 1</message>\n'
        '<message type="human">question 2</message>\n'
        '<message type="ai">answer 2</message>'
    ]


def test_the_summary_model_gets_one_human_message() -> None:
    model = summary_model()

    trim(model, max_tokens=3).shape_call(
        as_call(conversation(3)), model=None, scope=SCOPE
    )

    assert [[m.type for m in prompt] for prompt in model.seen] == [["human"]]


def test_a_history_under_the_limit_is_not_summarized() -> None:
    model = summary_model()
    history = conversation(1)

    shaped = trim(model, max_tokens=10).shape_call(
        as_call(history), model=None, scope=SCOPE
    )

    assert (shaped.history, model.seen) == (history, [])


def test_the_summary_follows_a_pinned_first_human_message() -> None:
    middleware = trim(summary_model("s"), max_tokens=4, keep_first_human=True)

    shaped = middleware.shape_call(as_call(conversation(3)), model=None, scope=SCOPE)

    assert [m.content for m in shaped.history] == [
        "Be terse.",
        "question 1",
        "<conversation_summary>\ns\n</conversation_summary>",
        "question 3",
        "answer 3",
    ]


def test_a_pinned_first_human_message_is_not_summarized() -> None:
    model = summary_model()

    trim(model, max_tokens=4, keep_first_human=True).shape_call(
        as_call(conversation(3)), model=None, scope=SCOPE
    )

    assert "question 1" not in asked(model)[0]


def test_the_summary_keeps_tool_calls_with_their_results() -> None:
    calls = [{"name": "read_file", "args": {"path": "a"}, "id": "c1"}]
    history: list[BaseMessage] = [
        SystemMessage("Read files."),
        HumanMessage("read a"),
        AIMessage("", tool_calls=calls),
        ToolMessage("contents of a", tool_call_id="c1"),
        AIMessage("a holds contents"),
        HumanMessage("and now?"),
    ]

    shaped = trim(summary_model(), max_tokens=5).shape_call(
        as_call(history), model=None, scope=SCOPE
    )

    assert [m.type for m in shaped.history] == [
        "system",
        "human",
        "ai",
        "tool",
        "ai",
        "human",
    ]
    assert shaped.history[1].content != "read a"


def test_the_summary_model_sees_tool_results_before_they_were_cleared() -> None:
    calls = [{"name": "read_file", "args": {"path": "a"}, "id": "c1"}]
    history: list[BaseMessage] = [
        SystemMessage("Read files."),
        HumanMessage("read a"),
        AIMessage("", tool_calls=calls),
        ToolMessage("contents of a", tool_call_id="c1"),
        AIMessage("done"),
        HumanMessage("thanks"),
    ]
    model = summary_model()

    trim(model, max_tokens=2, clear_tool_results_keep_last=0).shape_call(
        as_call(history), model=None, scope=SCOPE
    )

    assert '<message type="tool">contents of a</message>' in asked(model)[0]


def test_the_same_cut_is_summarized_once() -> None:
    model = summary_model("s1", "s2")
    middleware = trim(model, max_tokens=3)

    first = middleware.shape_call(as_call(conversation(3)), model=None, scope=SCOPE)
    again = middleware.shape_call(as_call(conversation(3)), model=None, scope=SCOPE)

    assert (len(model.seen), again.history) == (1, first.history)


def test_a_deeper_cut_sends_the_previous_summary_and_the_new_messages() -> None:
    model = summary_model("s1", "s2")
    middleware = trim(model, max_tokens=3)

    middleware.shape_call(as_call(conversation(3)), model=None, scope=SCOPE)
    middleware.shape_call(as_call(conversation(4)), model=None, scope=SCOPE)

    assert asked(model)[1] == (
        "Summarize:\n"
        "<previous_summary>\ns1\n</previous_summary>\n"
        '<message type="human">question 3</message>\n'
        '<message type="ai">answer 3</message>'
    )


def test_a_hysteresis_cut_reports_the_summary_tokens() -> None:
    cuts: list[TrimCut] = []
    middleware = trim(
        summary_model(), high_watermark=6, low_watermark=3, on_cut=cuts.append
    )

    middleware.shape_call(as_call(conversation(4)[:-1]), model=None, scope=SCOPE)

    assert cuts == [
        TrimCut(
            at=7,
            first_kept=5,
            tokens_before=7,
            tokens_after=3,
            pinned_tokens=1,
            summary_tokens=1,
        )
    ]


def test_the_summary_counts_as_rewritten_tokens() -> None:
    cut = TrimCut(
        at=7,
        first_kept=5,
        tokens_before=7,
        tokens_after=3,
        pinned_tokens=1,
        summary_tokens=1,
    )

    assert cut.rewritten_tokens == 3


async def test_the_async_summarizer_awaits_the_model() -> None:
    model = summary_model("s")
    cut = conversation(2)[1:]

    message = await TrimSummarizer(model, prompt=PROMPT).asummarize(cut)

    assert (message.content, len(model.seen)) == (
        "<conversation_summary>\ns\n</conversation_summary>",
        1,
    )


def test_summaries_of_the_same_cut_are_equal_messages() -> None:
    summarizer = TrimSummarizer(summary_model("s1", "s2"))
    cut = conversation(2)[1:]

    assert summarizer.summarize(cut) == summarizer.summarize(list(cut))


def test_the_oldest_summary_is_forgotten_past_max_entries() -> None:
    model = summary_model("s1", "s2", "s3")
    summarizer = TrimSummarizer(model, max_entries=1)

    summarizer.summarize([HumanMessage("a")])
    summarizer.summarize([HumanMessage("b")])
    summarizer.summarize([HumanMessage("a")])

    assert len(model.seen) == 3


def test_summary_with_rewrite_state_is_refused() -> None:
    with pytest.raises(ValueError) as raised:
        ContextTrimMiddleware(
            max_tokens=3, summary_model=summary_model(), rewrite_state=True
        )

    assert str(raised.value) == (
        "summary_model cannot be combined with rewrite_state: the summary "
        "is sent to the model but not written to the state"
    )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"prompt": "Summarize."}, "the summary prompt needs a {messages} placeholder"),
        ({"template": "S"}, "the summary template needs a {summary} placeholder"),
        ({"max_entries": 0}, "max_entries must be at least 1, got 0"),
    ],
)
def test_summarizer_options_are_checked(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        TrimSummarizer(summary_model(), **options)

    assert str(raised.value) == message


def test_an_empty_cut_is_refused() -> None:
    with pytest.raises(ValueError) as raised:
        TrimSummarizer(summary_model()).summarize([])

    assert str(raised.value) == "nothing was cut, so there is nothing to summarize"
