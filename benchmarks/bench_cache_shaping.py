"""The reference workload of issue 4: a 30-turn tool-using agent, unshaped and shaped.

A benchmark, not a test. It replays one realistic agent run through the real
``ChatAnthropic`` (Claude Sonnet 4.6) and ``ChatOpenAI`` (GPT-5.4) clients
against the embedded local provider, which counts tokens with tiktoken and
applies each provider's documented prompt-cache rules:

- a large system prompt (~3,000 tokens of house rules) that starts with the
  current time, as real apps write it, so it changes on every call;
- 12 tool definitions;
- 30 model turns, each calling one tool whose result is ~3,000 tokens.

Unshaped: ``create_agent`` with only the timestamped system prompt.
Shaped: the same, plus ``ContextTrimMiddleware`` (hysteresis: cut only past a
high watermark, down to a low one) and ``CacheLayoutMiddleware`` (tools in a
fixed order, the timestamp moved after the conversation, Anthropic
breakpoints / an OpenAI ``prompt_cache_key``).

It prints, per provider and variant: cost, cache hit rate of input tokens,
input tokens sent, and the per-node table; then the saving and whether both
runs made the same tool calls in the same order. Goal: shaped costs at least
60% less, with a hit rate above 80%.

Usage: ``python benchmarks/bench_cache_shaping.py``
"""

from __future__ import annotations

import os
import random
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

_TIKTOKEN_CACHE = Path(__file__).resolve().parents[2] / "shared" / "tiktoken-cache"
if _TIKTOKEN_CACHE.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_TIKTOKEN_CACHE)
os.environ.setdefault("LANGSMITH_TRACING", "false")

from langchain.agents import create_agent  # noqa: E402
from langchain.agents.middleware import ModelRequest, dynamic_prompt  # noqa: E402
from langchain_anthropic import ChatAnthropic  # noqa: E402
from langchain_core.messages import AIMessage, HumanMessage  # noqa: E402
from langchain_core.tools import StructuredTool  # noqa: E402
from langchain_openai import ChatOpenAI  # noqa: E402
from rich.console import Console  # noqa: E402

from langgraph_tokenomics import TokenomicsCallbackHandler  # noqa: E402
from langgraph_tokenomics.local_provider import (  # noqa: E402
    LocalProviderServer,
    ProviderRequest,
    Reply,
    ToolCallReply,
)
from langgraph_tokenomics.middleware import (  # noqa: E402
    CacheLayoutMiddleware,
    ContextTrimMiddleware,
)

TURNS = 30
TOOL_NAMES = (
    "read_file",
    "search_code",
    "list_directory",
    "run_tests",
    "git_log",
    "git_diff",
    "grep",
    "fetch_docs",
    "open_issue",
    "query_metrics",
    "describe_table",
    "summarize_logs",
)
HIGH_WATERMARK = 60_000
LOW_WATERMARK = 30_000
CONSOLE = Console(width=110)


# -- the workload -------------------------------------------------------------------


def _prose(rng: random.Random, words: int) -> str:
    vocabulary = (
        "cache prefix token budget graph node tool result agent provider request "
        "latency retry schema migration index query handler record ledger price "
        "model output input stream chunk usage window trim summary policy team"
    ).split()
    return " ".join(rng.choice(vocabulary) for _ in range(words))


HOUSE_RULES = "\n".join(
    f"Rule {n}: {_prose(random.Random(n), 55)}." for n in range(1, 51)
)


def tool_result(step: int, name: str) -> str:
    """About 3,000 tokens of deterministic output, tagged with its step."""
    rng = random.Random(f"{name}-{step}")
    lines = [f"[step {step}] {name} output"]
    lines += [f"{i:04d}: {_prose(rng, 24)}" for i in range(100)]
    return "\n".join(lines)


def make_tool(name: str) -> StructuredTool:
    def run(target: str, step: int) -> str:
        return tool_result(step, name)

    return StructuredTool.from_function(
        run,
        name=name,
        description=(
            f"{name.replace('_', ' ').capitalize()} for the given target. "
            "Returns the raw output; pass the step number you are on."
        ),
    )


TOOLS = [make_tool(name) for name in TOOL_NAMES]


def script(step: int) -> ToolCallReply:
    """The tool call the agent makes at ``step`` (1-based), the same every run."""
    name = TOOL_NAMES[(step * 5) % len(TOOL_NAMES)]
    return ToolCallReply(name, {"target": f"service-{step % 7}", "step": step})


def responder(request: ProviderRequest) -> Reply:
    """Answer from the latest step visible in the (possibly trimmed) history."""
    steps = [
        int(n)
        for message in request.messages
        for n in re.findall(r"\[step (\d+)\]", message["text"])
    ]
    done = max(steps, default=0)
    if done >= TURNS:
        return Reply(text="All checks done: the regression is in the cache layer.")
    return Reply(text="", tool_calls=(script(done + 1),))


class Clock:
    """A clock that moves 7 seconds per call, as a real run's would."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

    def tick(self) -> datetime:
        self.now += timedelta(seconds=7)
        return self.now


def timestamped_prompt(clock: Clock) -> Any:
    @dynamic_prompt
    def prompt(request: ModelRequest) -> str:
        return (
            f"Current time: {clock.tick().isoformat()}\n"
            "You are the on-call engineering agent. Investigate with the tools.\n\n"
            + HOUSE_RULES
        )

    return prompt


# -- running ------------------------------------------------------------------------


@dataclass
class Result:
    provider: str
    variant: str
    handler: TokenomicsCallbackHandler
    tool_calls: list[tuple[str, str]]
    cuts: list[Any]

    @property
    def input_tokens(self) -> int:
        return sum(r.input_tokens for r in self.handler.records)

    @property
    def hit_rate(self) -> float:
        read = sum(r.cache_read_tokens for r in self.handler.records)
        return read / self.input_tokens if self.input_tokens else 0.0


def model_for(provider: str, server: LocalProviderServer) -> Any:
    if provider == "anthropic":
        return ChatAnthropic(
            model="claude-sonnet-4-6",
            base_url=server.anthropic_base_url,
            api_key="local",
            max_retries=0,
            max_tokens=1024,
        )
    return ChatOpenAI(
        model="gpt-5.4", base_url=server.openai_base_url, api_key="local", max_retries=0
    )


def middleware_for(variant: str, clock: Clock, cuts: list[Any]) -> list[Any]:
    prompt = timestamped_prompt(clock)
    if variant == "unshaped":
        return [prompt]
    return [
        prompt,
        ContextTrimMiddleware(
            high_watermark=HIGH_WATERMARK,
            low_watermark=LOW_WATERMARK,
            on_cut=cuts.append,
        ),
        CacheLayoutMiddleware(move_volatile=True),
    ]


def run(provider: str, variant: str) -> Result:
    cuts: list[Any] = []
    with LocalProviderServer(responder) as server:
        agent = create_agent(
            model_for(provider, server),
            tools=TOOLS,
            middleware=middleware_for(variant, Clock(), cuts),
            name="oncall",
        )
        handler = TokenomicsCallbackHandler(tags={"agent": "oncall"})
        state = agent.invoke(
            {"messages": [HumanMessage("Find why p99 latency doubled since Monday.")]},
            {"callbacks": [handler], "recursion_limit": 200},
        )
    calls = [
        (call["name"], str(sorted(call["args"].items())))
        for message in state["messages"]
        if isinstance(message, AIMessage)
        for call in message.tool_calls
    ]
    return Result(provider, variant, handler, calls, cuts)


def report(results: list[Result]) -> bool:
    ok = True
    for provider in ("anthropic", "openai"):
        plain, shaped = (r for r in results if r.provider == provider)
        for result in (plain, shaped):
            CONSOLE.rule(f"{provider}, {result.variant}")
            CONSOLE.print(result.handler.breakdown(by="node"))
        saving = 1 - shaped.handler.total_cost / plain.handler.total_cost
        same = plain.tool_calls == shaped.tool_calls and len(plain.tool_calls) == TURNS
        CONSOLE.print(f"\n[bold]{provider}[/bold] ({TURNS} turns)")
        header = (
            f"  {'variant':<10}{'cost USD':>12}{'hit rate':>10}{'input tokens':>14}"
        )
        CONSOLE.print(header)
        for result in (plain, shaped):
            CONSOLE.print(
                f"  {result.variant:<10}{result.handler.total_cost:>12.4f}"
                f"{result.hit_rate:>10.1%}{result.input_tokens:>14,}"
            )
        removed = sum(cut.removed_tokens for cut in shaped.cuts)
        CONSOLE.print(
            f"  trimming: {len(shaped.cuts)} cuts, {removed:,} tokens removed "
            f"(high {HIGH_WATERMARK:,}, low {LOW_WATERMARK:,})"
        )
        CONSOLE.print(
            f"  saving {saving:.1%} (goal >= 60%), shaped hit rate "
            f"{shaped.hit_rate:.1%} (goal > 80%), same tool calls in order: {same}"
        )
        ok &= saving >= Decimal("0.60") and shaped.hit_rate > 0.80 and same
    return ok


def main() -> int:
    results = [
        run(provider, variant)
        for provider in ("anthropic", "openai")
        for variant in ("unshaped", "shaped")
    ]
    return 0 if report(results) else 1


if __name__ == "__main__":
    sys.exit(main())
