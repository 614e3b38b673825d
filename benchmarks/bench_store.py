"""Ledger stores: SQLite ingest rate, and what a slow store costs the graph's path.

A benchmark, not a test: it prints figures and ratios and asserts nothing.

- ``ingest``: records written to a SQLite file in batches of 500, one
  transaction each (``SQLStore.write``), and through the background writer
  (``submit`` every record, then ``close``). The target is 20,000 records/s.
- ``submit``: the cost of ``StoreWriter.submit`` on the caller's thread while
  the store sleeps 50 ms a write, next to a plain ``deque.append``.
- ``graph``: a LangGraph loop making one scripted model call per step, with a
  ``TokenomicsCallbackHandler`` and a store that sleeps 50 ms a write, next
  to three controls: a store whose writes cost nothing (the same work but
  the wait), no store, and no store with ``handler.records`` read inside the
  timed run. With a store the ledger builds each record on its own thread as
  it lands; without one it builds them when they are read, after the run,
  unless the run reads them. The variants run interleaved, the order rotated
  each round; figures are medians over rounds and ratios medians of
  per-round ratios, so load from other processes mostly cancels out.

Usage: ``python benchmarks/bench_store.py [--quick]``
"""

from __future__ import annotations

import os
from pathlib import Path

_TIKTOKEN_CACHE = Path(__file__).resolve().parents[2] / "shared" / "tiktoken-cache"
if _TIKTOKEN_CACHE.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_TIKTOKEN_CACHE)
os.environ.setdefault("LANGSMITH_TRACING", "false")

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import deque  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from decimal import Decimal  # noqa: E402
from typing import Any, TypedDict  # noqa: E402

from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402

from langgraph_tokenomics import TokenomicsCallbackHandler, UsageRecord  # noqa: E402
from langgraph_tokenomics._store import StoreWriter, open_store  # noqa: E402

BATCH = 500
SLOW_WRITE_S = 0.05


def make_records(count: int, prefix: str) -> list[UsageRecord]:
    """Records as the handler makes them: costs, tags, tool overheads, times."""
    now = datetime.now(tz=UTC)
    return [
        UsageRecord(
            run_id=f"{prefix}-{number}",
            root_run_id=f"{prefix}-root-{number // 20}",
            thread_id=f"thread-{number // 100}",
            node="researcher",
            node_path=("supervisor", "researcher"),
            step=number % 20,
            tool="web_search" if number % 3 else None,
            model="claude-sonnet-4-5",
            provider="anthropic",
            input_tokens=12_000 + number % 997,
            cache_read_tokens=8_000,
            cache_write_tokens=1_000,
            output_tokens=600,
            reasoning_tokens=120,
            input_cost=Decimal("0.009000"),
            cache_read_cost=Decimal("0.002400"),
            cache_write_cost=Decimal("0.003750"),
            output_cost=Decimal("0.009000"),
            cost=Decimal("0.024150"),
            price_source="genai-prices",
            tool_definition_tokens={"web_search": 210, "calculator": 95},
            carried_tool_tokens={"web_search": 3_400},
            tags={"agent": "researcher", "team": "search", "user": "u-42"},
            started_at=now,
            ended_at=now,
        )
        for number in range(count)
    ]


# -- ingest -----------------------------------------------------------------------


def ingest(count: int, folder: Path) -> None:
    print(f"ingest into SQLite, {count:,} records, batches of {BATCH}")
    records = make_records(count, "batch")
    with open_store(f"sqlite:///{folder / 'batches.db'}") as store:
        started = time.perf_counter()
        for start in range(0, count, BATCH):
            store.write(records[start : start + BATCH])
        batches = time.perf_counter() - started
    _rate("SQLStore.write", count, batches)

    records = make_records(count, "writer")
    with open_store(f"sqlite:///{folder / 'writer.db'}") as store:
        writer = StoreWriter(store, queue_size=count)
        started = time.perf_counter()
        for record in records:
            writer.submit(record)
        writer.close()
        through_writer = time.perf_counter() - started
        assert len(store.read()) == count
    _rate("submit + close (writer)", count, through_writer)


def _rate(label: str, count: int, seconds: float) -> None:
    print(f"  {label:<26} {count / seconds:>10,.0f} records/s ({seconds:.2f} s)")


# -- the caller's cost ------------------------------------------------------------


class SlowStore:
    """A store that takes 50 ms a write."""

    url = "slow"

    def __init__(self) -> None:
        self.written = 0

    def write(self, records: Sequence[UsageRecord]) -> None:
        time.sleep(SLOW_WRITE_S)
        self.written += len(records)


def submit_cost(count: int, rounds: int) -> None:
    print(f"\nsubmit on the caller's thread, {count:,} records, {rounds} rounds")
    records = make_records(count, "submit")
    appends, submits = [], []
    for _ in range(rounds):
        baseline: deque[UsageRecord] = deque()
        appends.append(_per_call(baseline.append, records))
        writer = StoreWriter(SlowStore(), queue_size=count)
        submits.append(_per_call(writer.submit, records))
        writer.close()
    append, submit = statistics.median(appends), statistics.median(submits)
    print(f"  deque.append               {append * 1e6:>8.2f} us")
    ratio = submit / append
    print(f"  submit, store 50 ms/write  {submit * 1e6:>8.2f} us  ({ratio:.0f}x)")


def _per_call(call: Callable[[UsageRecord], None], records: list[UsageRecord]) -> float:
    started = time.perf_counter()
    for record in records:
        call(record)
    return (time.perf_counter() - started) / len(records)


# -- the graph's path -------------------------------------------------------------


class ScriptedModel(BaseChatModel):
    """Answers at once with provider-reported usage, as a cached reply would."""

    model_name: str = "gpt-4.1-mini"

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self, messages: list[BaseMessage], *args: Any, **kw: Any
    ) -> ChatResult:
        usage = {"input_tokens": 1_200, "output_tokens": 40, "total_tokens": 1_240}
        reply = AIMessage(
            "ok",
            usage_metadata=usage,
            response_metadata={"model_name": self.model_name},
        )
        return ChatResult(generations=[ChatGeneration(message=reply)])


class State(TypedDict):
    steps: int


def build_graph(steps: int) -> Any:
    model = ScriptedModel()

    def think(state: State) -> State:
        model.invoke("what next?")
        return {"steps": state["steps"] + 1}

    graph = StateGraph(State)
    graph.add_node("think", think)
    graph.add_edge(START, "think")
    graph.add_conditional_edges(
        "think", lambda state: END if state["steps"] >= steps else "think"
    )
    return graph.compile()


class InstantStore(SlowStore):
    """A store whose writes cost nothing: the control for the slow one."""

    def write(self, records: Sequence[UsageRecord]) -> None:
        self.written += len(records)


# name: (store factory, whether the timed run also reads handler.records)
GRAPH_VARIANTS: dict[str, tuple[Callable[[], Any], bool]] = {
    "no store": (lambda: None, False),
    "no store, records read": (lambda: None, True),
    "store, instant writes": (InstantStore, False),
    "store, 50 ms/write": (SlowStore, False),
}


def graph_cost(steps: int, rounds: int) -> None:
    print(f"\ngraph, {steps} model calls a run, {rounds} rounds (median per call)")
    graph = build_graph(steps)
    names = list(GRAPH_VARIANTS)
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_number in range(rounds):
        shift = round_number % len(names)
        for name in names[shift:] + names[:shift]:
            times[name].append(_graph_run(graph, steps, *GRAPH_VARIANTS[name]))
    for name in names:
        print(f"  {name:<24} {statistics.median(times[name]) * 1e6:>8.0f} us")
    slow = times["store, 50 ms/write"]
    for control in ("store, instant writes", "no store, records read", "no store"):
        ratios = [s / c for s, c in zip(slow, times[control], strict=True)]
        print(f"  50 ms/write vs {control:<24} {statistics.median(ratios):.3f}x")


def _graph_run(graph: Any, steps: int, store: Callable[[], Any], read: bool) -> float:
    """Seconds per model call of one graph run."""
    handler = TokenomicsCallbackHandler(store=store())
    config = {"callbacks": [handler], "recursion_limit": steps * 2 + 10}
    started = time.perf_counter()
    graph.invoke({"steps": 0}, config=config)
    if read:
        assert len(handler.records) == steps
    elapsed = time.perf_counter() - started
    assert len(handler.records) == steps
    handler.close()
    return elapsed / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer records and rounds")
    quick = parser.parse_args().quick
    with tempfile.TemporaryDirectory() as folder:
        ingest(20_000 if quick else 100_000, Path(folder))
    submit_cost(10_000 if quick else 50_000, 3 if quick else 7)
    graph_cost(50 if quick else 200, 4 if quick else 10)


if __name__ == "__main__":
    main()
