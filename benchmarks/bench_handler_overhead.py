"""Wall time per LangGraph step with and without callback handlers, side by side.

A benchmark, not a test: it prints ratios and asserts nothing about speed.
Four variants run interleaved (round-robin, the order rotated each round) on
the same scripted conversation. Times are medians over rounds; ratios are
medians of the per-round ratios, so load from other processes cancels out:

- ``no handler``: the graph alone.
- ``no-op``: a `BaseCallbackHandler` whose events do nothing, i.e. LangChain's
  callback machinery alone, the floor for any handler. It implements
  ``on_chat_model_start`` (as a no-op): a handler that leaves it out makes
  LangChain render the whole prompt to text for the ``on_llm_start`` fallback,
  a cost that grows with the history and would raise the floor.
- ``usage_metadata``: LangChain's `UsageMetadataCallbackHandler`.
- ``tokenomics``: ``TokenomicsCallbackHandler()``, a fresh one per graph run.
  The handler only captures references on the graph's path; records are
  built (usage read, prompt counted, priced, attributed) when read, or on the
  ledger's thread when a store is attached.
- ``tokenomics+read``: the same, with ``handler.records`` read inside the timed
  run, so the deferred work is counted too.

Two workloads, each a graph whose single node calls a scripted chat model once
per step and loops on itself:

- ``short``: a new short prompt every step, no history.
- ``conversation``: 50 turns; each appends a human message and the reply,
  about 1000 tokens of varied text together, and the model sees the whole
  history, which reaches about 50k tokens. The handler must not get slower as
  the history grows; a second table shows the time per step early and late.

Every round uses new text, so no token count is reused from an earlier round.

Usage: ``python benchmarks/bench_handler_overhead.py [--quick]``
"""

from __future__ import annotations

import os
from pathlib import Path

_TIKTOKEN_CACHE = Path(__file__).resolve().parents[2] / "shared" / "tiktoken-cache"
if _TIKTOKEN_CACHE.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_TIKTOKEN_CACHE)
os.environ.setdefault("LANGSMITH_TRACING", "false")

import argparse  # noqa: E402
import gc  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from importlib.metadata import version  # noqa: E402
from typing import Annotated, Any, TypedDict  # noqa: E402

import tiktoken  # noqa: E402
from langchain_core.callbacks import (  # noqa: E402
    BaseCallbackHandler,
    UsageMetadataCallbackHandler,
)
from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langchain_core.runnables import RunnableConfig  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402
from langgraph.graph.message import add_messages  # noqa: E402
from pydantic import PrivateAttr  # noqa: E402

from langgraph_tokenomics import TokenomicsCallbackHandler  # noqa: E402

TARGET = 1.10
MODEL_NAME = "gpt-4.1"
STEPS = 50
# About 500 tokens per message: a turn adds ~1000, fifty turns ~50k.
MESSAGE_WORDS = 420

_VOCABULARY = (
    "the model reads every message in the history before it answers and a "
    "budget checks the prompt size so the handler counts tokens once per "
    "message graph node tool call agent planner writer summary search result "
    "cost price cache input output reasoning latency thread step subgraph "
    "branch fan-out deadline invoice customer report quarterly revenue margin "
    "forecast inventory supplier shipment warehouse delay refund policy "
    "contract clause liability renewal discount region europe asia america "
    "python function module class error retry timeout queue worker database "
    "index query schema migration backup restore latency throughput memory "
    "because however therefore although meanwhile instead finally perhaps "
    "quickly carefully roughly exactly nearly almost always never often"
)
_WORDS = _VOCABULARY.split()


class ScriptedChatModel(BaseChatModel):
    """A chat model that replies from a script, with OpenAI-shaped usage."""

    model_name: str = MODEL_NAME
    _replies: Iterator[str] = PrivateAttr()

    def __init__(self, replies: Sequence[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._replies = iter(replies)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[Any],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        text = next(self._replies)
        # Characters / 4 keeps the fake cheap and equal for every variant.
        input_tokens = sum(len(message.content) for message in messages) // 4
        output_tokens = len(text) // 4
        message = AIMessage(
            content=text,
            usage_metadata={
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "total_tokens": input_tokens + output_tokens,
            },
            response_metadata={"model_name": MODEL_NAME},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


class NoOpHandler(BaseCallbackHandler):
    """Receives every event and does nothing: the callback machinery alone."""

    def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        """Accept the start of a chat model call; see the module docstring."""


# -- the graph -----------------------------------------------------------------


class LoopState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    turn: int


@dataclass(frozen=True, slots=True)
class Script:
    """What one graph run says: a prompt and a reply per step."""

    prompts: list[str]
    replies: list[str]
    keep_history: bool


def turn(state: LoopState, config: RunnableConfig) -> dict[str, Any]:
    """One step: send this turn's prompt (after the history, if kept)."""
    options = config["configurable"]
    options["marks"].append(time.perf_counter_ns())
    script: Script = options["script"]
    human = HumanMessage(script.prompts[state["turn"]])

    if not script.keep_history:
        options["model"].invoke([human])
        return {"turn": state["turn"] + 1}
    reply = options["model"].invoke([*state["messages"], human])
    return {"messages": [human, reply], "turn": state["turn"] + 1}


def route(state: LoopState, config: RunnableConfig) -> str:
    """Loop until the script is spoken."""
    script: Script = config["configurable"]["script"]
    return "turn" if state["turn"] < len(script.prompts) else END


def build_graph() -> Any:
    """The loop: one node calling the model, routed back to itself."""
    builder = StateGraph(LoopState)
    builder.add_node("turn", turn)
    builder.add_edge(START, "turn")
    builder.add_conditional_edges("turn", route, ["turn", END])
    return builder.compile()


# -- workloads -------------------------------------------------------------------


def prose(rng: random.Random, words: int) -> str:
    """Varied text: sentences of shuffled words, numbers and identifiers."""
    sentences = []
    while words > 0:
        length = min(words, rng.randint(8, 20))
        picked = [rng.choice(_WORDS) for _ in range(length)]
        if rng.random() < 0.5:
            picked[rng.randrange(length)] = str(rng.randint(2, 99_999))
        if rng.random() < 0.2:
            picked[rng.randrange(length)] = f"{rng.choice(_WORDS)}_{rng.randint(1, 9)}"
        sentences.append(" ".join(picked).capitalize() + rng.choice(".,;?!"))
        words -= length
    return " ".join(sentences)


def short_script(rng: random.Random, steps: int) -> Script:
    """A new short prompt and reply per step."""
    prompts = [f"Step {rng.randint(0, 10**9)}: {prose(rng, 12)}" for _ in range(steps)]
    replies = [prose(rng, 8) for _ in range(steps)]
    return Script(prompts, replies, keep_history=False)


def conversation_script(rng: random.Random, turns: int) -> Script:
    """About 500 tokens per message, new text each time."""
    prompts = [prose(rng, MESSAGE_WORDS) for _ in range(turns)]
    replies = [prose(rng, MESSAGE_WORDS) for _ in range(turns)]
    return Script(prompts, replies, keep_history=True)


@dataclass(frozen=True, slots=True)
class Workload:
    """A named script maker, and how many rounds a full and a quick run make."""

    name: str
    make_script: Callable[[random.Random, int], Script]
    rounds: int
    quick_rounds: int


WORKLOADS = (
    Workload("short prompt", short_script, rounds=150, quick_rounds=8),
    Workload("conversation", conversation_script, rounds=60, quick_rounds=4),
)


# -- variants ---------------------------------------------------------------------


VARIANTS: dict[str, Callable[[], list[BaseCallbackHandler]]] = {
    "no handler": list,
    "no-op": lambda: [NoOpHandler()],
    "usage_metadata": lambda: [UsageMetadataCallbackHandler()],
    "tokenomics": lambda: [TokenomicsCallbackHandler()],
    "tokenomics+read": lambda: [TokenomicsCallbackHandler()],
}
"""``tokenomics+read`` also reads ``handler.records`` inside the timed run: the
handler defers counting, pricing and attribution off the graph's path, and this
variant shows what that deferred work costs in all."""


@dataclass(slots=True)
class Run:
    """One graph run: time per step, whole and per turn."""

    per_step_us: float
    turn_us: list[float]
    handlers: list[BaseCallbackHandler]


def run_once(graph: Any, script: Script, variant: str) -> Run:
    """Run the whole script once with ``variant``'s handlers, timed."""
    handlers = VARIANTS[variant]()
    marks: list[int] = []
    config: RunnableConfig = {
        "callbacks": handlers,
        "recursion_limit": 10 * len(script.prompts),
        "configurable": {
            "script": script,
            "model": ScriptedChatModel(script.replies),
            "marks": marks,
        },
    }
    gc.collect()

    start = time.perf_counter_ns()
    graph.invoke({"messages": [], "turn": 0}, config)
    if variant == "tokenomics+read":
        handlers[0].records  # noqa: B018 (builds every record)
    end = time.perf_counter_ns()

    steps = len(script.prompts)
    bounds = [*marks[1:], end]
    turn_us = [(stop - begin) / 1000 for begin, stop in zip(marks, bounds, strict=True)]
    return Run((end - start) / 1000 / steps, turn_us, handlers)


def check(runs: dict[str, Run]) -> None:
    """Make sure the handlers saw every call, and ours priced each one."""
    (ours,) = runs["tokenomics"].handlers
    records = ours.records if isinstance(ours, TokenomicsCallbackHandler) else []
    if len(records) != STEPS or any(record.cost is None for record in records):
        raise RuntimeError(f"expected {STEPS} priced records, got {records!r}")
    (usage,) = runs["usage_metadata"].handlers
    if MODEL_NAME not in getattr(usage, "usage_metadata", {}):
        raise RuntimeError(f"UsageMetadataCallbackHandler saw no {MODEL_NAME}")


def measure(workload: Workload, rounds: int, seed: int) -> dict[str, list[Run]]:
    """Run every variant ``rounds`` times, interleaved; return their runs.

    One round runs each variant once on the same script, starting with a
    different variant each round. A first, unrecorded round warms up and
    checks that the handlers recorded what they should.
    """
    graph = build_graph()
    names = list(VARIANTS)
    runs: dict[str, list[Run]] = {name: [] for name in names}
    warmup = 1
    for index in range(warmup + rounds):
        script = workload.make_script(random.Random(seed + index), STEPS)
        shift = index % len(names)
        order = names[shift:] + names[:shift]
        this_round = {name: run_once(graph, script, name) for name in order}
        if index < warmup:
            check(this_round)
            continue
        for name, run in this_round.items():
            run.handlers = []
            runs[name].append(run)
    return runs


# -- report -----------------------------------------------------------------------


def history_tokens(workload: Workload, seed: int) -> int:
    """Tokens of the whole history the last call of a round sends."""
    script = workload.make_script(random.Random(seed), STEPS)
    if not script.keep_history:
        return 0
    encoding = tiktoken.get_encoding("o200k_base")
    texts = [*script.prompts, *script.replies[:-1]]
    return sum(len(encoding.encode(text)) for text in texts)


def report(workload: Workload, runs: dict[str, list[Run]], tokens: int) -> float:
    """Print the table of one workload; return tokenomics / no-op.

    Ratios are medians of per-round ratios: each variant against the baseline
    run in the same round, on the same script, so that load from other
    processes, which drifts over seconds, cancels out.
    """
    medians = {
        name: statistics.median(run.per_step_us for run in variant_runs)
        for name, variant_runs in runs.items()
    }
    rounds = len(runs["no handler"])
    history = f", last prompt {tokens / 1000:.1f}k tokens" if tokens else ""
    print(f"\n{workload.name}: {STEPS} steps per run{history}")
    print(f"  medians of {rounds} interleaved rounds")
    print(f"  {'variant':<16}{'µs/step':>10}{'/ no handler':>14}{'/ no-op':>10}")
    for name, median in medians.items():
        vs_bare = paired_ratio(runs[name], runs["no handler"])
        vs_noop = paired_ratio(runs[name], runs["no-op"])
        print(f"  {name:<16}{median:>10.0f}{vs_bare:>13.2f}x{vs_noop:>9.2f}x")
    if tokens:
        report_growth(runs)

    return paired_ratio(runs["tokenomics"], runs["no-op"])


def paired_ratio(runs: list[Run], baselines: list[Run]) -> float:
    """The median over rounds of a variant's time over the baseline's."""
    ratios = [
        run.per_step_us / baseline.per_step_us
        for run, baseline in zip(runs, baselines, strict=True)
    ]
    return statistics.median(ratios)


def report_growth(runs: dict[str, list[Run]]) -> None:
    """Per-step time early and late in the conversation: does it grow?"""
    buckets = [(0, 10), (20, 30), (40, STEPS)]
    print("  by turn (median µs/step):")
    header = "".join(f"{f'turns {a + 1}-{b}':>14}" for a, b in buckets)
    print(f"  {'variant':<16}{header}")
    for name, variant_runs in runs.items():
        cells = ""
        for begin, end in buckets:
            means = [statistics.fmean(run.turn_us[begin:end]) for run in variant_runs]
            cells += f"{statistics.median(means):>14.0f}"
        print(f"  {name:<16}{cells}")


def main(argv: Sequence[str] | None = None) -> None:
    """Measure both workloads and print their tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few rounds only")
    args = parser.parse_args(argv)
    tokenizer = "shared cache" if _TIKTOKEN_CACHE.is_dir() else "default location"
    print(
        f"Python {sys.version.split()[0]}, langchain-core {version('langchain-core')}, "
        f"langgraph {version('langgraph')}; tiktoken files from the {tokenizer}"
    )

    ratios = {}
    for seed, workload in enumerate(WORKLOADS, start=1):
        rounds = workload.quick_rounds if args.quick else workload.rounds
        runs = measure(workload, rounds, seed=seed * 1000)
        tokens = history_tokens(workload, seed=seed * 1000 + 1)
        ratios[workload.name] = report(workload, runs, tokens)

    print()
    for name, ratio in ratios.items():
        print(f"{name}: tokenomics / no-op = {ratio:.2f}x (target <= {TARGET:.2f}x)")


if __name__ == "__main__":
    main()
