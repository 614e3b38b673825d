"""Summaries through real clients: an Anthropic agent, an OpenAI summary model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.chat_models import init_chat_model
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.memory import InMemorySaver

from langgraph_tokenomics import TokenomicsCallbackHandler
from langgraph_tokenomics.local_provider import (
    LocalProviderServer,
    ProviderRequest,
    Reply,
)
from langgraph_tokenomics.middleware import ContextTrimMiddleware


class Responder:
    """Answers the summary model and the agent, keeping every request."""

    def __init__(self) -> None:
        self.requests: list[ProviderRequest] = []

    def __call__(self, request: ProviderRequest) -> Reply:
        self.requests.append(request)
        if request.model == "gpt-5.4-nano":
            return Reply(text="The user asked numbered questions.")
        return Reply(text="ok")


@pytest.fixture
def responder() -> Responder:
    return Responder()


@pytest.fixture
def server(responder: Responder) -> Iterator[LocalProviderServer]:
    with LocalProviderServer(responder) as running:
        yield running


def count_messages(messages: Sequence[BaseMessage]) -> int:
    return len(messages)


def agent_for(server: LocalProviderServer) -> Any:
    model = ChatAnthropic(  # type: ignore[call-arg]
        model="claude-sonnet-4-6",
        base_url=server.anthropic_base_url,
        api_key="local",  # type: ignore[arg-type]
        max_retries=0,
    )
    summarizer = init_chat_model(
        "openai:gpt-5.4-nano",
        base_url=server.openai_base_url,
        api_key="local",
        max_retries=0,
    )
    trimming = ContextTrimMiddleware(
        high_watermark=6,
        low_watermark=3,
        token_counter=count_messages,
        summary_model=summarizer,
    )
    return create_agent(
        model,
        system_prompt="Be terse.",
        checkpointer=InMemorySaver(),
        middleware=[trimming],
    )


def run_turns(agent: Any, turns: int, spend: TokenomicsCallbackHandler) -> None:
    config: RunnableConfig = {"configurable": {"thread_id": "t"}, "callbacks": [spend]}
    for turn in range(1, turns + 1):
        agent.invoke({"messages": [HumanMessage(f"question {turn}")]}, config)


def test_the_summary_call_is_its_own_record_in_the_model_node(
    server: LocalProviderServer,
) -> None:
    spend = TokenomicsCallbackHandler()

    run_turns(agent_for(server), 5, spend)

    assert [(r.node, r.model) for r in spend.records] == [
        ("model", "claude-sonnet-4-6"),
        ("model", "claude-sonnet-4-6"),
        ("model", "claude-sonnet-4-6"),
        ("model", "gpt-5.4-nano"),
        ("model", "claude-sonnet-4-6"),
        ("model", "claude-sonnet-4-6"),
    ]


def test_the_summary_call_is_billed_as_the_server_reported(
    server: LocalProviderServer,
) -> None:
    spend = TokenomicsCallbackHandler()

    run_turns(agent_for(server), 4, spend)

    served = next(call for call in server.calls if call.model == "gpt-5.4-nano")
    record = next(r for r in spend.records if r.model == "gpt-5.4-nano")
    assert (record.input_tokens, record.output_tokens) == (
        served.input_tokens,
        served.output_tokens,
    )


def test_the_agent_is_sent_the_summary_after_its_system_prompt(
    server: LocalProviderServer, responder: Responder
) -> None:
    run_turns(agent_for(server), 4, TokenomicsCallbackHandler())

    last = responder.requests[-1]
    assert (last.system, last.messages[0]["text"]) == (
        "Be terse.",
        "<conversation_summary>\nThe user asked numbered questions.\n"
        "</conversation_summary>\nquestion 3",
    )


def test_the_summary_request_carries_no_system_prompt(
    server: LocalProviderServer, responder: Responder
) -> None:
    run_turns(agent_for(server), 4, TokenomicsCallbackHandler())

    (summary,) = [r for r in responder.requests if r.model == "gpt-5.4-nano"]
    assert summary.system == ""
    assert "Be terse." not in summary.messages[0]["text"]
