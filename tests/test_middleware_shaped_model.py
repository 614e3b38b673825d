"""`shape_model`: the same shaping for a chat model in a hand-built StateGraph."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
)
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph

from langgraph_tokenomics.middleware import (
    CacheLayoutMiddleware,
    ContextTrimMiddleware,
    shape_model,
)

from .fakes import scripted

EPHEMERAL = {"type": "ephemeral"}


class ChatStartRecorder(BaseCallbackHandler):
    """Records the messages of every chat model run that starts."""

    def __init__(self) -> None:
        self.starts: list[list[BaseMessage]] = []

    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        **kwargs: Any,
    ) -> None:
        self.starts.append(messages[0])


def count_messages(messages: Sequence[BaseMessage]) -> int:
    return len(messages)


def history() -> list[AnyMessage]:
    return [
        SystemMessage("Be terse."),
        HumanMessage("question 1"),
        AIMessage("answer 1"),
        HumanMessage("question 2"),
    ]


def trim_to(max_tokens: int) -> ContextTrimMiddleware:
    return ContextTrimMiddleware(max_tokens=max_tokens, token_counter=count_messages)


def contents(messages: Sequence[BaseMessage]) -> list[Any]:
    return [message.content for message in messages]


@tool
def read_file(path: str) -> str:
    """Read a file."""
    return path


def test_invoke_sends_the_shaped_messages() -> None:
    model = scripted("answer 2")

    shape_model(model, trim_to(2)).invoke(history())

    assert contents(model.received[0]) == ["Be terse.", "question 2"]


def test_the_caller_messages_are_not_modified() -> None:
    messages = history()

    shape_model(scripted("answer 2"), trim_to(2)).invoke(messages)

    assert messages == history()


def test_in_a_state_graph_node_the_state_keeps_every_message() -> None:
    model = scripted("answer 2")
    shaped = shape_model(model, trim_to(2))

    def respond(state: MessagesState) -> dict[str, Any]:
        return {"messages": [shaped.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("respond", respond)
    graph.add_edge(START, "respond")
    graph.add_edge("respond", END)
    result = graph.compile().invoke({"messages": history()})

    assert contents(model.received[0]) == ["Be terse.", "question 2"]
    assert len(result["messages"]) == 5


def test_the_node_name_keys_the_openai_cache() -> None:
    model = scripted("answer 2")
    shaped = shape_model(model, CacheLayoutMiddleware(provider="openai"))

    def respond(state: MessagesState) -> dict[str, Any]:
        return {"messages": [shaped.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("respond", respond)
    graph.add_edge(START, "respond")
    graph.compile().invoke({"messages": history()})

    assert model.call_kwargs[0]["prompt_cache_key"] == "lgt-217b78a099237595"


def test_stream_sends_the_shaped_messages() -> None:
    model = scripted("answer two")

    chunks = list(shape_model(model, trim_to(2)).stream(history()))

    assert "".join(str(chunk.content) for chunk in chunks) == "answer two"
    assert contents(model.received[0]) == ["Be terse.", "question 2"]


async def test_ainvoke_sends_the_shaped_messages() -> None:
    model = scripted("answer 2")

    await shape_model(model, trim_to(2)).ainvoke(history())

    assert contents(model.received[0]) == ["Be terse.", "question 2"]


async def test_astream_sends_the_shaped_messages() -> None:
    model = scripted("answer 2")

    chunks = [c async for c in shape_model(model, trim_to(2)).astream(history())]

    assert chunks
    assert contents(model.received[0]) == ["Be terse.", "question 2"]


def test_bound_tools_are_laid_out_with_the_messages() -> None:
    model = scripted("answer 2")
    layout = CacheLayoutMiddleware(provider="anthropic", min_cacheable_tokens=0)

    shape_model(model, layout).bind_tools([read_file]).invoke(history())

    (bound,) = model.call_kwargs[0]["tools"]
    assert bound.extras == {"cache_control": EPHEMERAL}


def test_callbacks_see_one_model_run_with_the_shaped_prompt() -> None:
    recorder = ChatStartRecorder()

    shape_model(scripted("answer 2"), trim_to(2)).invoke(
        history(), config={"callbacks": [recorder]}
    )

    assert [contents(start) for start in recorder.starts] == [
        ["Be terse.", "question 2"]
    ]


def test_shape_returns_the_call_without_sending_it() -> None:
    model = scripted()

    call = shape_model(model, trim_to(2)).shape(history())

    assert contents(call.history) == ["Be terse.", "question 2"]
    assert model.received == []


def test_a_string_input_is_a_human_message() -> None:
    model = scripted("hello")

    shape_model(model, trim_to(5)).invoke("hi")

    assert [(m.type, m.content) for m in model.received[0]] == [("human", "hi")]
