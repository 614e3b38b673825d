"""The embedded local provider, driven by the real LangChain clients.

Every test talks HTTP to a `LocalProviderServer` on 127.0.0.1 through
``ChatOpenAI`` (Chat Completions and Responses) or ``ChatAnthropic``, and checks
what the client parsed against what the server says it served.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import anthropic
import openai
import pytest
import tiktoken
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from langgraph_tokenomics.local_provider import (
    DEFAULT_REPLY_TEXT,
    LocalProviderServer,
    ProviderRequest,
    Reply,
    ServedCall,
    ToolCallReply,
    anthropic_minimum_cacheable_tokens,
)

# 2000 tokens in both o200k_base and cl100k_base: "hello", then " hello" x 1999.
LONG_TEXT = "hello" + " hello" * 1999
ADD_CALL = ToolCallReply("add", {"a": 1, "b": 2})
EMPTY_SCHEMA = {"type": "object", "properties": {}}


class Answer(BaseModel):
    value: int


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class ScriptedResponder:
    """Answers with ``reply`` and remembers every request."""

    def __init__(self) -> None:
        self.reply = Reply(text=DEFAULT_REPLY_TEXT)
        self.requests: list[ProviderRequest] = []

    def __call__(self, request: ProviderRequest) -> Reply:
        self.requests.append(request)
        return self.reply


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def responder() -> ScriptedResponder:
    return ScriptedResponder()


@pytest.fixture
def server(
    responder: ScriptedResponder, clock: FakeClock
) -> Iterator[LocalProviderServer]:
    with LocalProviderServer(responder, clock=clock) as running:
        yield running


def chat_model(server: LocalProviderServer, **kwargs: Any) -> ChatOpenAI:
    return ChatOpenAI(
        model="gpt-4o",
        base_url=server.openai_base_url,
        api_key="test-key",
        max_retries=0,
        **kwargs,
    )


def responses_model(server: LocalProviderServer, **kwargs: Any) -> ChatOpenAI:
    return chat_model(server, use_responses_api=True, **kwargs)


def claude(
    server: LocalProviderServer, model: str = "claude-sonnet-4-5", **kwargs: Any
) -> ChatAnthropic:
    return ChatAnthropic(
        model=model,
        base_url=server.anthropic_base_url,
        api_key="test-key",
        max_retries=0,
        **kwargs,
    )


def collect(chunks: Iterator[AIMessageChunk]) -> AIMessageChunk:
    merged: AIMessageChunk | None = None
    for chunk in chunks:
        merged = chunk if merged is None else merged + chunk
    assert merged is not None
    return merged


async def acollect(model: Any, messages: Any) -> AIMessageChunk:
    merged: AIMessageChunk | None = None
    async for chunk in model.astream(messages):
        merged = chunk if merged is None else merged + chunk
    assert merged is not None
    return merged


def chat_usage(call: ServedCall) -> dict[str, Any]:
    """What ChatOpenAI makes of the Chat Completions usage of ``call``."""
    return {
        "input_tokens": call.input_tokens,
        "output_tokens": call.output_tokens,
        "total_tokens": call.input_tokens + call.output_tokens,
        "input_token_details": {"audio": 0, "cache_read": call.cache_read_tokens},
        "output_token_details": {"audio": 0, "reasoning": call.reasoning_tokens},
    }


def responses_usage(call: ServedCall) -> dict[str, Any]:
    """What ChatOpenAI makes of the Responses usage of ``call``."""
    return {
        "input_tokens": call.input_tokens,
        "output_tokens": call.output_tokens,
        "total_tokens": call.input_tokens + call.output_tokens,
        "input_token_details": {
            "cache_read": call.cache_read_tokens,
            "cache_creation": 0,
        },
        "output_token_details": {"reasoning": call.reasoning_tokens},
    }


def anthropic_usage(call: ServedCall) -> dict[str, Any]:
    """What ChatAnthropic makes of the Messages usage of ``call``."""
    usage: dict[str, Any] = {
        "input_tokens": call.input_tokens,
        "output_tokens": call.output_tokens,
        "total_tokens": call.input_tokens + call.output_tokens,
        "input_token_details": {
            "cache_read": call.cache_read_tokens,
            "cache_creation": 0,
            "ephemeral_5m_input_tokens": call.cache_write_5m_tokens,
            "ephemeral_1h_input_tokens": call.cache_write_1h_tokens,
        },
    }
    if call.reasoning_tokens:
        usage["output_token_details"] = {"reasoning": call.reasoning_tokens}
    return usage


def tokens(encoding: str, text: str) -> int:
    return len(tiktoken.get_encoding(encoding).encode(text))


def long_prompt(question: str) -> list[BaseMessage]:
    return [SystemMessage(LONG_TEXT), HumanMessage(question)]


def cached_system(ttl: str | None = None) -> SystemMessage:
    cache_control = (
        {"type": "ephemeral"} if ttl is None else {"type": "ephemeral", "ttl": ttl}
    )
    block = {"type": "text", "text": LONG_TEXT, "cache_control": cache_control}
    return SystemMessage([block])


def post(url: str, data: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST raw bytes; return the status and the decoded JSON body."""
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.load(error)


# --------------------------------------------------------------------- lifecycle


def test_base_urls_name_the_bound_port(server: LocalProviderServer) -> None:
    assert server.openai_base_url == f"http://127.0.0.1:{server.port}/v1"
    assert server.anthropic_base_url == f"http://127.0.0.1:{server.port}"


def test_port_is_unknown_before_start() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        _ = LocalProviderServer().openai_base_url


def test_stopped_server_refuses_connections() -> None:
    server = LocalProviderServer().start()
    url = server.openai_base_url + "/chat/completions"
    server.stop()

    with pytest.raises(urllib.error.URLError):
        post(url, b"{}", {"content-type": "application/json"})


def test_calls_is_a_snapshot(server: LocalProviderServer) -> None:
    chat_model(server).invoke("hi")
    snapshot = server.calls
    snapshot.clear()

    assert len(server.calls) == 1


def test_default_responder_answers_fixed_text() -> None:
    with LocalProviderServer() as server:
        message = chat_model(server).invoke("hi")

    assert message.content == DEFAULT_REPLY_TEXT


# --------------------------------------------------------- OpenAI Chat Completions


def test_chat_invoke_reports_usage_as_served(server: LocalProviderServer) -> None:
    message = chat_model(server).invoke("hi")

    call = server.calls[-1]
    # "hi" is one token, plus three of message framing; the reply is nine.
    assert (call.input_tokens, call.output_tokens) == (4, 9)
    assert message.usage_metadata == chat_usage(call)


def test_chat_invoke_parses_tool_calls(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(tool_calls=(ADD_CALL,))

    message = chat_model(server).bind_tools([add]).invoke("Add 1 and 2.")

    assert message.tool_calls == [
        {"name": "add", "args": {"a": 1, "b": 2}, "id": "call_1", "type": "tool_call"}
    ]
    assert message.response_metadata["finish_reason"] == "tool_calls"


async def test_chat_ainvoke_reports_usage_as_served(
    server: LocalProviderServer,
) -> None:
    message = await chat_model(server).ainvoke("hi")

    assert message.usage_metadata == chat_usage(server.calls[-1])


def test_chat_stream_without_stream_usage_carries_no_usage(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    message = collect(chat_model(server).stream("hi"))

    assert message.content == DEFAULT_REPLY_TEXT
    assert "stream_options" not in responder.requests[-1].body
    assert message.usage_metadata is None
    assert server.calls[-1].usage is None


def test_chat_stream_with_stream_usage_reports_usage_once(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    message = collect(chat_model(server, stream_usage=True).stream("hi"))

    assert responder.requests[-1].body["stream_options"] == {"include_usage": True}
    assert message.usage_metadata == chat_usage(server.calls[-1])


async def test_chat_astream_parses_tool_calls(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(
        tool_calls=(ADD_CALL, ToolCallReply("add", {"a": 3, "b": 4}))
    )
    model = chat_model(server, stream_usage=True).bind_tools([add])

    message = await acollect(model, "Add twice.")

    assert [(c["id"], c["args"]) for c in message.tool_calls] == [
        ("call_1", {"a": 1, "b": 2}),
        ("call_2", {"a": 3, "b": 4}),
    ]
    assert message.usage_metadata == chat_usage(server.calls[-1])


def test_chat_reasoning_tokens_are_part_of_output(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(text=DEFAULT_REPLY_TEXT, reasoning_tokens=50)

    message = chat_model(server).invoke("hi")

    assert message.usage_metadata is not None
    assert message.usage_metadata["output_tokens"] == 9 + 50
    assert message.usage_metadata["output_token_details"]["reasoning"] == 50


def test_chat_service_tier_is_echoed(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    message = chat_model(server, service_tier="priority").invoke("hi")

    assert message.response_metadata["service_tier"] == "priority"
    assert message.usage_metadata is not None
    assert message.usage_metadata["input_token_details"] == {
        "audio": 0,
        "priority_cache_read": 0,
        "priority": 4,
    }


def test_chat_omit_usage_sends_none(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(text="ok", omit_usage=True)

    invoked = chat_model(server).invoke("hi")
    streamed = collect(chat_model(server, stream_usage=True).stream("hi"))

    assert (invoked.usage_metadata, streamed.usage_metadata) == (None, None)
    assert [call.usage for call in server.calls] == [None, None]


def test_chat_output_counts_text_and_arguments(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(text="Sure.", tool_calls=(ADD_CALL,))

    chat_model(server).bind_tools([add]).invoke("Add 1 and 2.")

    arguments = json.dumps(ADD_CALL.args)
    expected = tokens("o200k_base", "Sure.") + tokens("o200k_base", arguments)
    assert server.calls[-1].output_tokens == expected


def test_prompt_tokens_add_up_per_message(server: LocalProviderServer) -> None:
    model = chat_model(server)

    model.invoke([HumanMessage("hi")])
    model.invoke([HumanMessage("hi"), HumanMessage("hi")])

    assert [call.input_tokens for call in server.calls] == [4, 8]


def test_counts_are_approximated_when_tiktoken_cannot_load(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unavailable(name: str) -> tiktoken.Encoding:
        raise OSError(f"no {name} offline")

    monkeypatch.setattr(tiktoken, "get_encoding", unavailable)
    with caplog.at_level(logging.WARNING), LocalProviderServer() as server:
        chat_model(server).invoke("hi")
        chat_model(server).invoke("hi")

    assert [call.input_tokens for call in server.calls] == [4, 4]
    assert [record.getMessage() for record in caplog.records] == [
        "tiktoken encoding o200k_base could not be loaded (no o200k_base offline); "
        "the local provider approximates token counts instead"
    ]


def test_tool_call_ids_from_the_responder_are_kept(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(tool_calls=(ToolCallReply("add", {}, id="call_mine"),))

    message = chat_model(server).bind_tools([add]).invoke("Add.")

    assert message.tool_calls[0]["id"] == "call_mine"


# -------------------------------------------------------------- OpenAI Responses


def test_responses_invoke_reports_usage_as_served(server: LocalProviderServer) -> None:
    message = responses_model(server).invoke("hi")

    assert message.text == DEFAULT_REPLY_TEXT
    assert server.calls[-1].api == "openai-responses"
    assert message.usage_metadata == responses_usage(server.calls[-1])


def test_responses_invoke_parses_tool_calls(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(tool_calls=(ADD_CALL,))

    message = responses_model(server).bind_tools([add]).invoke("Add 1 and 2.")

    assert message.tool_calls == [
        {"name": "add", "args": {"a": 1, "b": 2}, "id": "call_1", "type": "tool_call"}
    ]


def test_responses_stream_reports_usage_from_completed_event(
    server: LocalProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        message = collect(responses_model(server).stream("hi"))

    assert message.text == DEFAULT_REPLY_TEXT
    assert message.usage_metadata == responses_usage(server.calls[-1])
    assert caplog.records == []  # the SDK validated every event it parsed


async def test_responses_astream_parses_tool_calls(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(text="Adding.", tool_calls=(ADD_CALL,), reasoning_tokens=7)

    message = await acollect(responses_model(server).bind_tools([add]), "Add.")

    assert message.text == "Adding."
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [
        ("add", {"a": 1, "b": 2})
    ]
    assert message.usage_metadata == responses_usage(server.calls[-1])


def test_responses_stream_parses_structured_output(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(text='{"value": 3}')
    model = responses_model(server).with_structured_output(Answer)

    parsed = [chunk for chunk in model.stream("Three?") if chunk is not None]

    assert parsed[-1] == Answer(value=3)


def test_responses_omit_usage_sends_none(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(text="ok", omit_usage=True)

    invoked = responses_model(server).invoke("hi")
    streamed = collect(responses_model(server).stream("hi"))

    assert (invoked.usage_metadata, streamed.usage_metadata) == (None, None)


# ----------------------------------------------------------- Anthropic Messages


def test_anthropic_invoke_reports_usage_as_served(server: LocalProviderServer) -> None:
    message = claude(server).invoke("hi")

    call = server.calls[-1]
    assert message.content == DEFAULT_REPLY_TEXT
    assert (call.api, call.input_tokens, call.output_tokens) == ("anthropic", 4, 9)
    assert message.usage_metadata == anthropic_usage(call)


def test_anthropic_invoke_parses_tool_calls(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(tool_calls=(ADD_CALL,))

    message = claude(server).bind_tools([add]).invoke("Add 1 and 2.")

    assert message.tool_calls == [
        {"name": "add", "args": {"a": 1, "b": 2}, "id": "toolu_1", "type": "tool_call"}
    ]
    assert message.response_metadata["stop_reason"] == "tool_use"


def test_anthropic_stream_reports_cumulative_usage(
    server: LocalProviderServer,
) -> None:
    model = claude(server)
    model.invoke([cached_system(), HumanMessage("hi")])

    message = collect(model.stream([cached_system(), HumanMessage("hi")]))

    call = server.calls[-1]
    assert message.content == DEFAULT_REPLY_TEXT
    assert (call.stream, call.cache_read_tokens) == (True, 2000)
    assert message.usage_metadata == anthropic_usage(call)


async def test_anthropic_astream_parses_tool_calls(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(text="Adding.", tool_calls=(ADD_CALL,))

    message = await acollect(claude(server).bind_tools([add]), "Add.")

    assert message.tool_calls == [
        {"name": "add", "args": {"a": 1, "b": 2}, "id": "toolu_1", "type": "tool_call"}
    ]
    assert message.usage_metadata == anthropic_usage(server.calls[-1])


async def test_anthropic_ainvoke_reports_usage_as_served(
    server: LocalProviderServer,
) -> None:
    message = await claude(server).ainvoke("hi")

    assert message.usage_metadata == anthropic_usage(server.calls[-1])


def test_anthropic_thinking_tokens_are_part_of_output(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(text=DEFAULT_REPLY_TEXT, reasoning_tokens=30)

    message = claude(server).invoke("hi")

    assert server.calls[-1].usage == {
        "input_tokens": 4,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {
            "ephemeral_5m_input_tokens": 0,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": 39,
        "output_tokens_details": {"thinking_tokens": 30},
    }
    assert message.usage_metadata == anthropic_usage(server.calls[-1])


def test_anthropic_omit_usage_reads_as_zeros_in_the_client(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    responder.reply = Reply(text="ok", omit_usage=True)

    invoked = claude(server).invoke("hi")
    streamed = collect(claude(server).stream("hi"))

    # ChatAnthropic turns a missing usage into zeros, not into None.
    zeros = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    assert invoked.usage_metadata == {**zeros, "input_token_details": {}}
    assert streamed.usage_metadata == {**zeros, "input_token_details": {}}
    assert [call.usage for call in server.calls] == [None, None]


def test_anthropic_betas_reach_the_messages_endpoint(
    server: LocalProviderServer, responder: ScriptedResponder
) -> None:
    message = claude(server, betas=["context-management-2025-06-27"]).invoke("hi")

    assert message.content == DEFAULT_REPLY_TEXT
    headers = responder.requests[-1].headers
    assert headers["anthropic-beta"] == "context-management-2025-06-27"


def test_anthropic_count_tokens_matches_the_billed_prompt(
    server: LocalProviderServer,
) -> None:
    model = claude(server)
    messages = [cached_system(), HumanMessage("hi")]

    counted = model.get_num_tokens_from_messages(messages)
    model.invoke(messages)

    assert counted == server.calls[-1].input_tokens == 2004
    assert len(server.calls) == 1


# ------------------------------------------------------------- the responder


HISTORY: list[BaseMessage] = [
    SystemMessage("Be brief."),
    HumanMessage("Add one and two."),
    AIMessage("", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "c9"}]),
    ToolMessage("3", tool_call_id="c9"),
    HumanMessage("Thanks."),
]


@pytest.mark.parametrize("make_model", [chat_model, responses_model, claude])
def test_responder_sees_the_same_normalized_history(
    server: LocalProviderServer, responder: ScriptedResponder, make_model: Any
) -> None:
    make_model(server).bind_tools([add]).invoke(HISTORY)

    request = responder.requests[-1]
    assert (request.system, request.tool_names) == ("Be brief.", ("add",))
    assert request.messages == [
        {"role": "user", "text": "Add one and two."},
        {
            "role": "assistant",
            "text": "",
            "tool_calls": [{"id": "c9", "name": "add", "args": {"a": 1, "b": 2}}],
        },
        {"role": "tool", "text": "3", "tool_call_id": "c9"},
        {"role": "user", "text": "Thanks."},
    ]


def test_responder_failure_is_a_server_error(server: LocalProviderServer) -> None:
    def broken(request: ProviderRequest) -> Reply:
        raise ValueError("no reply")

    with (
        LocalProviderServer(broken) as failing,
        pytest.raises(openai.InternalServerError),
    ):
        chat_model(failing).invoke("hi")
    assert failing.calls == []


def test_parallel_requests_are_all_recorded(server: LocalProviderServer) -> None:
    model = chat_model(server)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(model.invoke, ["hi"] * 16))

    assert len(server.calls) == 16


# ------------------------------------------------------------------------ errors


def test_unknown_path_is_404_in_openai_shape(server: LocalProviderServer) -> None:
    status, body = post(server.openai_base_url + "/nothing", b"{}", {})

    assert status == 404
    assert body == {
        "error": {
            "message": "Invalid URL (POST /v1/nothing)",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def test_unknown_path_is_404_in_anthropic_shape(server: LocalProviderServer) -> None:
    headers = {"anthropic-version": "2023-06-01"}

    status, body = post(server.anthropic_base_url + "/v1/nothing", b"{}", headers)

    assert status == 404
    assert body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "Not found"},
    }


def test_invalid_json_is_400_for_openai(server: LocalProviderServer) -> None:
    url = server.openai_base_url + "/chat/completions"

    status, body = post(url, b"{not json", {"content-type": "application/json"})

    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith("We could not parse the JSON body")


def test_invalid_json_is_400_for_anthropic(server: LocalProviderServer) -> None:
    url = server.anthropic_base_url + "/v1/messages"

    status, body = post(url, b"{not json", {"content-type": "application/json"})

    assert status == 400
    assert (body["type"], body["error"]["type"]) == ("error", "invalid_request_error")


def test_missing_max_tokens_is_400_for_anthropic(server: LocalProviderServer) -> None:
    url = server.anthropic_base_url + "/v1/messages"
    request = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": "hi"}],
    }

    status, body = post(url, json.dumps(request).encode(), {})

    assert status == 400
    assert body["error"] == {
        "type": "invalid_request_error",
        "message": "max_tokens: Field required",
    }


def test_more_than_four_breakpoints_is_400(server: LocalProviderServer) -> None:
    marked = {"type": "ephemeral"}
    blocks = [
        {"type": "text", "text": f"part {n}", "cache_control": marked} for n in range(5)
    ]

    with pytest.raises(anthropic.BadRequestError) as raised:
        claude(server).invoke([HumanMessage(blocks)])

    assert raised.value.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "A maximum of 4 blocks with cache_control may be provided. "
            "Found 5.",
        },
    }
    assert server.calls == []


def test_one_hour_breakpoint_after_five_minute_one_is_400(
    server: LocalProviderServer,
) -> None:
    late = {
        "type": "text",
        "text": "hi",
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }

    with pytest.raises(anthropic.BadRequestError):
        claude(server).invoke([cached_system("5m"), HumanMessage([late])])


# ------------------------------------------------------------ OpenAI prompt cache


def test_openai_repeat_reads_the_128_step_floor_of_the_shared_prefix(
    server: LocalProviderServer,
) -> None:
    model = chat_model(server)

    model.invoke(long_prompt("What is one?"))
    message = model.invoke(long_prompt("Why is two?"))

    # Shared: the system message (3 + 2000) and the framing of the question (3).
    # 2006 tokens floor to 1024 + 7 * 128.
    assert [call.cache_read_tokens for call in server.calls] == [0, 1920]
    assert message.usage_metadata == chat_usage(server.calls[-1])


def test_openai_short_prompt_reads_nothing(server: LocalProviderServer) -> None:
    model = chat_model(server)

    model.invoke("hi")
    model.invoke("hi")

    assert server.calls[-1].cache_read_tokens == 0


def test_openai_shares_tokens_inside_the_first_differing_block(
    server: LocalProviderServer,
) -> None:
    model = chat_model(server)
    base = "hello" + " hello" * 1099  # 1100 tokens

    model.invoke([SystemMessage(base + " world"), HumanMessage("hi")])
    model.invoke([SystemMessage(base + " there"), HumanMessage("hi")])

    # 3 + 1100 shared tokens floor to 1024.
    assert server.calls[-1].cache_read_tokens == 1024


def test_openai_cache_lives_ten_minutes(
    server: LocalProviderServer, clock: FakeClock
) -> None:
    model = chat_model(server)
    model.invoke(long_prompt("What is one?"))

    clock.advance(599)
    model.invoke(long_prompt("What is one?"))
    clock.advance(599)
    model.invoke(long_prompt("What is one?"))

    assert [call.cache_read_tokens for call in server.calls] == [0, 1920, 1920]


def test_openai_cache_expires_after_ten_minutes(
    server: LocalProviderServer, clock: FakeClock
) -> None:
    model = chat_model(server)
    model.invoke(long_prompt("What is one?"))

    clock.advance(601)
    model.invoke(long_prompt("What is one?"))

    assert server.calls[-1].cache_read_tokens == 0


def test_openai_prompt_cache_keys_do_not_share(server: LocalProviderServer) -> None:
    model = chat_model(server)

    model.invoke(long_prompt("What is one?"), prompt_cache_key="tenant-a")
    model.invoke(long_prompt("What is one?"), prompt_cache_key="tenant-b")

    assert server.calls[-1].cache_read_tokens == 0


def test_openai_responses_reads_the_prefix_cache(server: LocalProviderServer) -> None:
    model = responses_model(server)

    model.invoke(long_prompt("What is one?"))
    message = model.invoke(long_prompt("Why is two?"))

    assert server.calls[-1].cache_read_tokens == 1920
    assert message.usage_metadata == responses_usage(server.calls[-1])


def test_reset_cache_forgets_every_entry(server: LocalProviderServer) -> None:
    model = chat_model(server)
    model.invoke(long_prompt("What is one?"))

    server.reset_cache()
    model.invoke(long_prompt("What is one?"))

    assert server.calls[-1].cache_read_tokens == 0


# --------------------------------------------------------- Anthropic prompt cache


def test_anthropic_breakpoint_past_minimum_writes_its_prefix(
    server: LocalProviderServer,
) -> None:
    message = claude(server).invoke([cached_system(), HumanMessage("What is one?")])

    call = server.calls[-1]
    # The system block is 2000 tokens; the question is 3 + 4 uncached.
    assert (call.cache_write_5m_tokens, call.cache_read_tokens) == (2000, 0)
    assert call.usage is not None
    assert call.usage["input_tokens"] == 7
    assert message.usage_metadata == anthropic_usage(call)


def test_anthropic_repeat_reads_what_was_written(server: LocalProviderServer) -> None:
    model = claude(server)

    model.invoke([cached_system(), HumanMessage("What is one?")])
    message = model.invoke([cached_system(), HumanMessage("Why is two?")])

    call = server.calls[-1]
    assert (call.cache_read_tokens, call.cache_write_5m_tokens) == (2000, 0)
    assert message.usage_metadata == anthropic_usage(call)


def test_anthropic_prefix_under_the_minimum_caches_nothing(
    server: LocalProviderServer,
) -> None:
    model = claude(server, model="claude-haiku-4-5")  # minimum 4096

    model.invoke([cached_system(), HumanMessage("hi")])
    model.invoke([cached_system(), HumanMessage("hi")])

    assert [
        (call.cache_read_tokens, call.cache_write_5m_tokens) for call in server.calls
    ] == [(0, 0), (0, 0)]


def test_anthropic_one_hour_breakpoint_writes_ephemeral_1h(
    server: LocalProviderServer,
) -> None:
    message = claude(server).invoke([cached_system("1h"), HumanMessage("hi")])

    assert message.usage_metadata is not None
    assert message.usage_metadata["input_token_details"] == {
        "cache_read": 0,
        "cache_creation": 0,
        "ephemeral_5m_input_tokens": 0,
        "ephemeral_1h_input_tokens": 2000,
    }


def test_anthropic_cache_expires_after_five_minutes(
    server: LocalProviderServer, clock: FakeClock
) -> None:
    model = claude(server)
    model.invoke([cached_system(), HumanMessage("hi")])

    clock.advance(301)
    model.invoke([cached_system(), HumanMessage("hi")])

    call = server.calls[-1]
    assert (call.cache_read_tokens, call.cache_write_5m_tokens) == (0, 2000)


def test_anthropic_read_refreshes_the_entry(
    server: LocalProviderServer, clock: FakeClock
) -> None:
    model = claude(server)
    model.invoke([cached_system(), HumanMessage("hi")])

    for _ in range(2):
        clock.advance(200)
        model.invoke([cached_system(), HumanMessage("hi")])

    assert server.calls[-1].cache_read_tokens == 2000


def test_anthropic_one_hour_entry_outlives_five_minutes(
    server: LocalProviderServer, clock: FakeClock
) -> None:
    model = claude(server)
    model.invoke([cached_system("1h"), HumanMessage("hi")])

    clock.advance(3000)
    model.invoke([cached_system("1h"), HumanMessage("hi")])

    assert server.calls[-1].cache_read_tokens == 2000


def test_anthropic_moving_breakpoint_reads_the_earlier_prefix(
    server: LocalProviderServer,
) -> None:
    model = claude(server)
    first_turn = [HumanMessage(LONG_TEXT)]
    second_turn = [*first_turn, AIMessage("Yes."), HumanMessage("And then?")]

    model.invoke(first_turn, cache_control={"type": "ephemeral"})
    model.invoke(second_turn, cache_control={"type": "ephemeral"})

    first, second = server.calls
    assert first.cache_write_5m_tokens == first.input_tokens == 2003
    assert second.cache_read_tokens == 2003
    assert second.cache_write_5m_tokens == second.input_tokens - 2003


def test_anthropic_tool_breakpoint_caches_the_tools(
    server: LocalProviderServer,
) -> None:
    lookup = {
        "name": "lookup",
        "description": LONG_TEXT,
        "input_schema": EMPTY_SCHEMA,
        "cache_control": {"type": "ephemeral"},
    }
    model = claude(server).bind_tools([lookup])

    model.invoke("hi")
    model.invoke("hi")

    first, second = server.calls
    # Everything but the message ("hi": 1 + 3) is the tool definition.
    assert first.cache_write_5m_tokens == first.input_tokens - 4
    assert second.cache_read_tokens == first.cache_write_5m_tokens


def test_anthropic_changing_tool_choice_keeps_the_system_cache(
    server: LocalProviderServer,
) -> None:
    model = claude(server).bind_tools([add])
    messages = [cached_system(), HumanMessage("hi")]

    model.invoke(messages, cache_control={"type": "ephemeral"})
    model.bind_tools([add], tool_choice="add").invoke(
        messages, cache_control={"type": "ephemeral"}
    )

    first, second = server.calls
    assert second.cache_read_tokens == first.input_tokens - 4
    assert second.cache_write_5m_tokens == 4


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-sonnet-4-6", 1024),
        ("claude-sonnet-4-5-20250929", 1024),
        ("claude-opus-4-1-20250805", 1024),
        ("claude-opus-4-20250514", 1024),
        ("claude-haiku-4-5", 4096),
        ("claude-opus-4-5-20251101", 4096),
        ("claude-opus-4-6", 4096),
        ("claude-opus-4-7", 2048),
        ("claude-3-5-haiku-20241022", 2048),
        ("claude-3-haiku-20240307", 2048),
        ("claude-opus-5", 512),
        ("a-model-nobody-knows", 1024),
    ],
)
def test_anthropic_minimum_cacheable_tokens(model: str, minimum: int) -> None:
    assert anthropic_minimum_cacheable_tokens(model) == minimum
