"""Shaped requests hit the prompt cache: real clients against the local provider."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import ModelRequest, dynamic_prompt
from langchain_anthropic import ChatAnthropic
from langchain_core.messages import HumanMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from langgraph_tokenomics.local_provider import (
    LocalProviderServer,
    ProviderRequest,
    Reply,
    ToolCallReply,
)
from langgraph_tokenomics.middleware import CacheLayoutMiddleware

RULES = "\n".join(f"Rule {n}: check the logs before the metrics." for n in range(300))
STEPS = 4


@tool
def read_log(step: int) -> str:
    """Read the service log of one step."""
    return f"[step {step}] " + "request served in 12 ms; " * 150


def responder(request: ProviderRequest) -> Reply:
    """Read one log per step, then answer."""
    done = sum(1 for message in request.messages if message["role"] == "tool")
    if done >= STEPS:
        return Reply(text="Nothing unusual.")
    return Reply(tool_calls=(ToolCallReply("read_log", {"step": done + 1}),))


def timestamped_prompt() -> Any:
    minutes = itertools.count()

    @dynamic_prompt
    def prompt(request: ModelRequest) -> str:
        return f"Now: 2026-12-03T09:{next(minutes):02d}:00Z\n{RULES}"

    return prompt


def model_for(provider: str, server: LocalProviderServer) -> Any:
    if provider == "anthropic":
        return ChatAnthropic(  # type: ignore[call-arg]
            model="claude-sonnet-4-6",
            base_url=server.anthropic_base_url,
            api_key="local",  # type: ignore[arg-type]
            max_retries=0,
        )
    return ChatOpenAI(
        model="gpt-5.4",
        base_url=server.openai_base_url,
        api_key="local",  # type: ignore[arg-type]
        max_retries=0,
    )


def cache_reads(provider: str, middleware: list[Any]) -> list[int]:
    with LocalProviderServer(responder) as server:
        agent = create_agent(
            model_for(provider, server),
            tools=[read_log],
            middleware=[timestamped_prompt(), *middleware],
        )
        agent.invoke({"messages": [HumanMessage("Check the service.")]})
        return [call.cache_read_tokens for call in server.calls]


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_with_a_timestamp_first_nothing_is_read_from_the_cache(provider: str) -> None:
    assert cache_reads(provider, []) == [0] * (STEPS + 1)


@pytest.mark.parametrize("provider", ["anthropic", "openai"])
def test_laid_out_requests_read_every_earlier_prefix_from_the_cache(
    provider: str,
) -> None:
    reads = cache_reads(provider, [CacheLayoutMiddleware(move_volatile=True)])

    assert reads[0] == 0
    assert all(later > earlier for earlier, later in itertools.pairwise(reads))
