"""Guardrails: guards that watch spend for anomalies, runaway loops and quotas.

Each guard is a `CallGuard` for `TokenomicsCallbackHandler(guards=[...])`:

- `CostAnomalyGuard` learns, per agent and node, what a call and a run
  usually cost, and flags one that costs a multiple of that;
- `RunawayGuard` stops the same tool called again and again with the same
  arguments in a thread, and prompts that grow too fast per turn;
- `QuotaGuard` caps calls, tokens or dollars per day or month for every
  value of a tag (each user, each team).

A guard warns (a `GuardrailWarning`, once per cause) or halts the run by
raising a `GuardrailError`, which the handler lets through.
"""

from __future__ import annotations

import ast
import hashlib
import json
import logging
import threading
import warnings
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from ._errors import (
    ConfigurationError,
    TokenomicsRuntimeError,
    TokenomicsWarning,
    _format_usd,
)
from ._guards import ToolCallEvent
from ._records import CallRequest, UsageRecord

__all__ = [
    "CostAnomaly",
    "CostAnomalyError",
    "CostAnomalyGuard",
    "CostAnomalyWarning",
    "GuardrailError",
    "GuardrailWarning",
    "PromptGrowthError",
    "Quota",
    "QuotaExceededError",
    "QuotaGuard",
    "RunawayEvent",
    "RunawayGuard",
    "RunawayLoopError",
    "RunawayWarning",
    "arguments_digest",
]

logger = logging.getLogger(__name__)

GuardAction = Literal["halt", "warn"]
_MAX_TRACKED = 100_000


# -- errors and warnings ---------------------------------------------------------


class GuardrailWarning(TokenomicsWarning):
    """A guardrail saw something to look at; the run goes on."""


class CostAnomalyWarning(GuardrailWarning):
    """A call or run cost a multiple of its node's baseline."""


class RunawayWarning(GuardrailWarning):
    """A tool loop or a fast-growing prompt, let through."""


class GuardrailError(TokenomicsRuntimeError):
    """A guardrail halted the run."""


class CostAnomalyError(GuardrailError):
    """A call or run cost a multiple of its baseline, and the guard halts.

    Attributes:
        anomaly: What was observed.
    """

    def __init__(self, anomaly: CostAnomaly) -> None:
        self.anomaly = anomaly
        super().__init__(anomaly.message())


class RunawayLoopError(GuardrailError):
    """A tool was about to run again with the same arguments past the limit.

    Attributes:
        event: What was observed.
    """

    def __init__(self, event: RunawayEvent) -> None:
        self.event = event
        super().__init__(event.message())


class PromptGrowthError(GuardrailError):
    """A prompt grew by more than the limit in one turn.

    Attributes:
        event: What was observed.
    """

    def __init__(self, event: RunawayEvent) -> None:
        self.event = event
        super().__init__(event.message())


class QuotaExceededError(GuardrailError):
    """A call was refused: its tag value used up its quota for the window.

    Raised before the provider is called, so the refused call costs nothing.

    Attributes:
        quota: The quota.
        value: The tag value charged, e.g. the user id.
        window: The window label, e.g. ``"2026-05-01"``.
        used: What the value had used in the window.
        requested: What the refused call asked for (tokens; 1 for calls;
            0 for dollars, settled after calls).
    """

    def __init__(
        self,
        quota: Quota,
        value: str,
        window: str,
        used: Decimal,
        requested: Decimal,
    ) -> None:
        self.quota = quota
        self.value = value
        self.window = window
        self.used = used
        self.requested = requested
        super().__init__(self._message())

    def _message(self) -> str:
        quota = self.quota
        name = f" {quota.name!r}" if quota.name else ""
        where = f"{quota.tag}={self.value} ({quota.window} {self.window})"
        if quota.unit == "tokens":
            return (
                f"quota{name} for {where} refused a call of {int(self.requested):,} "
                f"prompt tokens: {int(self.used):,} of {int(quota.limit):,} "
                "tokens used"
            )
        if quota.unit == "usd":
            return (
                f"quota{name} for {where} is used up: {_format_usd(self.used)} of "
                f"{_format_usd(quota.limit)} spent"
            )
        return (
            f"quota{name} for {where} is used up: {int(self.used):,} of "
            f"{int(quota.limit):,} calls"
        )


# -- cost anomalies ---------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CostAnomaly:
    """A call or run that cost more than a multiple of its baseline.

    Attributes:
        kind: ``"call"`` (one model call) or ``"run"`` (a node's calls in one
            graph invocation, so far).
        node: The node.
        agent: The ``agent`` tag, if any.
        cost: What the call or run cost (USD).
        baseline: The median cost of the node's earlier calls, or of its
            other runs (USD).
        multiple: The multiple of the baseline that makes an anomaly.
        samples: How many calls or runs the baseline is the median of.
        run_id: The call's run id, or the run's root run id.
        thread_id: The thread, if any.
    """

    kind: Literal["call", "run"]
    node: str | None
    agent: str | None
    cost: Decimal
    baseline: Decimal
    multiple: Decimal
    samples: int
    run_id: str
    thread_id: str | None = None

    @property
    def ratio(self) -> Decimal:
        """How many baselines the cost is."""
        return self.cost / self.baseline

    def message(self) -> str:
        """The anomaly in one sentence, naming node, cost, baseline, multiple."""
        agent = f" of agent {self.agent!r}" if self.agent else ""
        subject = "a call" if self.kind == "call" else f"run {self.run_id}"
        return (
            f"{subject} in node {self.node!r}{agent} cost {_format_usd(self.cost)}, "
            f"{self.ratio:.1f}x its baseline of {_format_usd(self.baseline)} per "
            f"{self.kind} (limit {self.multiple}x, median of {self.samples} "
            f"{self.kind}s)"
        )


_AnomalyKey = tuple[str | None, str | None]


@dataclass(slots=True)
class _Baselines:
    calls: deque[Decimal]
    runs: OrderedDict[str, Decimal]


class CostAnomalyGuard:
    """Flags calls and runs that cost a multiple of their node's baseline.

    Baselines are kept per agent tag and node: the median cost of the last
    ``window`` calls, and the median cost of the last ``window`` other runs
    (a run's cost is what the node spent in one graph invocation). A call is
    checked against the baseline of the calls before it, after it is
    recorded; a run, after each of its calls. Until ``min_samples`` calls or
    runs are known, nothing is flagged. Unpriced calls are not counted.

    An anomaly calls ``on_anomaly``; then, with ``halt``, raises a
    `CostAnomalyError` (the call was already billed: this stops the run from
    going on), else warns once per agent, node and kind.

    Args:
        multiple: A call costing more than this many baselines is an anomaly.
        run_multiple: The same for runs; ``multiple`` by default.
        min_samples: Calls (or runs) needed before a baseline is used.
        window: How many recent calls (and runs) a baseline covers.
        halt: Raise `CostAnomalyError` on an anomaly.
        on_anomaly: Called with each `CostAnomaly`.
        history: Earlier records (``store.read()``, ``handler.records``) to
            seed the baselines with.

    Raises:
        ConfigurationError: A multiple is not above 1, or a count is below 1.
    """

    def __init__(
        self,
        *,
        multiple: Decimal | float | int = 3,
        run_multiple: Decimal | float | int | None = None,
        min_samples: int = 5,
        window: int = 100,
        halt: bool = False,
        on_anomaly: Callable[[CostAnomaly], Any] | None = None,
        history: Iterable[UsageRecord] = (),
    ) -> None:
        self.multiple = _multiple(multiple, "multiple")
        self.run_multiple = _multiple(
            multiple if run_multiple is None else run_multiple, "run_multiple"
        )
        if min_samples < 1 or window < 1:
            raise ConfigurationError(
                f"min_samples and window must be >= 1, got {min_samples}, {window}"
            )
        self.min_samples = min_samples
        self.window = window
        self.halt = halt
        self.on_anomaly = on_anomaly
        self._baselines: dict[_AnomalyKey, _Baselines] = {}
        self._flagged_runs: set[str] = set()
        self._warned: set[tuple[str, _AnomalyKey]] = set()
        self._lock = threading.Lock()
        self.learn(history)

    def learn(self, records: Iterable[UsageRecord]) -> None:
        """Add records to the baselines without checking them."""
        with self._lock:
            for record in records:
                if record.cost is not None:
                    self._add(_anomaly_key(record), record)

    def baseline(
        self, node: str | None, agent: str | None = None, *, kind: str = "call"
    ) -> Decimal | None:
        """The median cost per call (or per run) of a node, if learned yet."""
        with self._lock:
            baselines = self._baselines.get((agent, node))
            if baselines is None:
                return None
            costs = baselines.calls if kind == "call" else baselines.runs.values()
            return _median(list(costs)) if costs else None

    def after_call(self, record: UsageRecord) -> None:
        """Check a recorded call, and its run so far, against the baselines."""
        if record.cost is None:
            return
        key = _anomaly_key(record)
        with self._lock:
            call = self._call_anomaly(key, record)
            self._add(key, record)
            run = self._run_anomaly(key, record)
        for anomaly in (call, run):
            if anomaly is not None:
                self._report(anomaly, key)

    def _add(self, key: _AnomalyKey, record: UsageRecord) -> None:
        assert record.cost is not None
        baselines = self._baselines.get(key)
        if baselines is None:
            baselines = _Baselines(deque(maxlen=self.window), OrderedDict())
            self._baselines[key] = baselines
        baselines.calls.append(record.cost)
        if record.root_run_id is None:
            return
        runs = baselines.runs
        runs[record.root_run_id] = (
            runs.get(record.root_run_id, Decimal(0)) + record.cost
        )
        runs.move_to_end(record.root_run_id)
        if len(runs) > self.window + 1:
            runs.popitem(last=False)

    def _call_anomaly(
        self, key: _AnomalyKey, record: UsageRecord
    ) -> CostAnomaly | None:
        baselines = self._baselines.get(key)
        if baselines is None or len(baselines.calls) < self.min_samples:
            return None
        baseline = _median(list(baselines.calls))
        if not baseline or record.cost is None:
            return None
        if record.cost <= self.multiple * baseline:
            return None
        return CostAnomaly(
            kind="call",
            node=key[1],
            agent=key[0],
            cost=record.cost,
            baseline=baseline,
            multiple=self.multiple,
            samples=len(baselines.calls),
            run_id=record.run_id,
            thread_id=record.thread_id,
        )

    def _run_anomaly(self, key: _AnomalyKey, record: UsageRecord) -> CostAnomaly | None:
        run_id = record.root_run_id
        if run_id is None or run_id in self._flagged_runs:
            return None
        runs = self._baselines[key].runs
        others = [cost for other, cost in runs.items() if other != run_id]
        if len(others) < self.min_samples:
            return None
        baseline = _median(others[-self.window :])
        if not baseline or runs[run_id] <= self.run_multiple * baseline:
            return None
        self._flagged_runs.add(run_id)
        return CostAnomaly(
            kind="run",
            node=key[1],
            agent=key[0],
            cost=runs[run_id],
            baseline=baseline,
            multiple=self.run_multiple,
            samples=len(others[-self.window :]),
            run_id=run_id,
            thread_id=record.thread_id,
        )

    def _report(self, anomaly: CostAnomaly, key: _AnomalyKey) -> None:
        if self.on_anomaly is not None:
            self.on_anomaly(anomaly)
        if self.halt:
            raise CostAnomalyError(anomaly)

        logger.warning("cost anomaly: %s", anomaly.message())
        if _first_time(self._warned, (anomaly.kind, key), self._lock):
            warnings.warn(anomaly.message(), CostAnomalyWarning, stacklevel=2)


def _first_time(seen: set[Any], cause: Any, lock: threading.Lock) -> bool:
    with lock:
        if cause in seen:
            return False
        seen.add(cause)
        return True


def _anomaly_key(record: UsageRecord) -> _AnomalyKey:
    return (record.tags.get("agent"), record.node)


def _median(values: Sequence[Decimal]) -> Decimal:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def _multiple(value: Decimal | float | int, name: str) -> Decimal:
    multiple = Decimal(str(value))
    if not multiple > 1:
        raise ConfigurationError(f"{name} must be above 1, got {value}")
    return multiple


# -- runaway loops and prompt growth ---------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RunawayEvent:
    """A tool called again with the same arguments, or a prompt that jumped.

    Attributes:
        kind: ``"repeated_tool"`` or ``"prompt_growth"``.
        thread_id: The thread (``None`` when the run has none: then every
            such run counts together).
        node: The node that called the tool or the model.
        tool: The repeated tool.
        arguments_digest: A hash of the repeated arguments (they are never
            kept).
        observed: Identical calls so far (this one included), or the prompt
            growth in tokens.
        limit: The limit that was passed.
        previous_tokens: For prompt growth: the previous prompt's tokens.
        tokens: For prompt growth: this prompt's tokens.
    """

    kind: Literal["repeated_tool", "prompt_growth"]
    thread_id: str | None
    node: str | None
    observed: int
    limit: int
    tool: str | None = None
    arguments_digest: str | None = None
    previous_tokens: int | None = None
    tokens: int | None = None

    def message(self) -> str:
        """The event in one sentence."""
        thread = (
            f"thread {self.thread_id!r}" if self.thread_id else "runs without a thread"
        )
        if self.kind == "repeated_tool":
            return (
                f"tool {self.tool!r} was called {self.observed} times with the same "
                f"arguments in {thread} (limit {self.limit})"
            )
        return (
            f"the prompt of node {self.node!r} in {thread} grew by "
            f"{self.observed:,} tokens in one turn ({self.previous_tokens:,} -> "
            f"{self.tokens:,}; limit {self.limit:,})"
        )


class RunawayGuard:
    """Stops runaway tool loops and prompts that grow too fast.

    A tool call is counted by thread, tool and a hash of its arguments
    (parsed and re-serialized with sorted keys, so key order does not
    matter; the arguments themselves are never kept). The call that would
    pass ``max_identical_tool_calls`` is refused before the tool runs. The
    prompt of each model call is compared with the previous one of the same
    thread (else run) and node, before it is sent.

    With ``action="halt"`` the run stops with a `RunawayLoopError` or
    `PromptGrowthError`; with ``"warn"`` a `RunawayWarning` is shown once per
    cause and the run goes on. ``on_runaway`` is called either way.

    Args:
        max_identical_tool_calls: Most runs of one tool with the same
            arguments in a thread; ``None`` for no limit.
        max_prompt_growth: Most tokens a node's prompt may grow by from one
            call to the next; ``None`` for no limit.
        action: ``"halt"`` or ``"warn"``.
        on_runaway: Called with each `RunawayEvent`.

    Raises:
        ConfigurationError: A limit is below 1, or the action is unknown.
    """

    def __init__(
        self,
        *,
        max_identical_tool_calls: int | None = 5,
        max_prompt_growth: int | None = None,
        action: GuardAction = "halt",
        on_runaway: Callable[[RunawayEvent], Any] | None = None,
    ) -> None:
        for name, limit in (
            ("max_identical_tool_calls", max_identical_tool_calls),
            ("max_prompt_growth", max_prompt_growth),
        ):
            if limit is not None and limit < 1:
                raise ConfigurationError(f"{name} must be >= 1, got {limit}")
        if action not in ("halt", "warn"):
            raise ConfigurationError(f"action must be 'halt' or 'warn', got {action!r}")
        self.max_identical_tool_calls = max_identical_tool_calls
        self.max_prompt_growth = max_prompt_growth
        self.action = action
        self.on_runaway = on_runaway
        self._tool_counts: OrderedDict[tuple[str | None, str], int] = OrderedDict()
        self._prompts: OrderedDict[tuple[str | None, tuple[str, ...]], int]
        self._prompts = OrderedDict()
        self._warned: set[tuple[Any, ...]] = set()
        self._lock = threading.Lock()

    def on_tool_call(self, event: ToolCallEvent) -> None:
        """Count the call; refuse it past the limit."""
        limit = self.max_identical_tool_calls
        if limit is None:
            return
        digest = arguments_digest(event.tool, event.arguments)
        key = (event.thread_id, digest)
        with self._lock:
            count = self._tool_counts.get(key, 0) + 1
            _bounded_set(self._tool_counts, key, count)
        if count <= limit:
            return
        runaway = RunawayEvent(
            kind="repeated_tool",
            thread_id=event.thread_id,
            node=event.node,
            tool=event.tool,
            arguments_digest=digest,
            observed=count,
            limit=limit,
        )
        self._report(runaway, key, RunawayLoopError)

    def before_call(self, request: CallRequest) -> None:
        """Compare the prompt with the node's previous one in the thread."""
        limit = self.max_prompt_growth
        if limit is None:
            return
        key = (request.thread_id or request.root_run_id, request.node_path)
        with self._lock:
            previous = self._prompts.get(key)
            _bounded_set(self._prompts, key, request.input_tokens)
        if previous is None or request.input_tokens - previous <= limit:
            return
        runaway = RunawayEvent(
            kind="prompt_growth",
            thread_id=request.thread_id,
            node=request.node,
            observed=request.input_tokens - previous,
            limit=limit,
            previous_tokens=previous,
            tokens=request.input_tokens,
        )
        self._report(runaway, key, PromptGrowthError)

    def reset(self, thread_id: str | None) -> None:
        """Forget the counts and prompts of one thread."""
        with self._lock:
            for key in [key for key in self._tool_counts if key[0] == thread_id]:
                del self._tool_counts[key]
            for other in [key for key in self._prompts if key[0] == thread_id]:
                del self._prompts[other]

    def _report(
        self,
        event: RunawayEvent,
        key: tuple[Any, ...],
        error: type[RunawayLoopError] | type[PromptGrowthError],
    ) -> None:
        if self.on_runaway is not None:
            self.on_runaway(event)
        if self.action == "halt":
            raise error(event)

        logger.warning("runaway: %s", event.message())
        if _first_time(self._warned, key, self._lock):
            warnings.warn(event.message(), RunawayWarning, stacklevel=2)


def arguments_digest(tool: str, arguments: str) -> str:
    """A short hash of a tool's name and arguments, insensitive to key order."""
    text = f"{tool}\0{_canonical_arguments(arguments)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canonical_arguments(arguments: str) -> str:
    # LangChain passes a tool's input as JSON or as str(dict)
    parsers: list[Callable[[str], Any]] = [json.loads]
    if arguments[:1] in ("{", "["):
        parsers.append(ast.literal_eval)
    for parse in parsers:
        try:
            value = parse(arguments)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        return json.dumps(value, sort_keys=True, default=str)
    return arguments


def _bounded_set(mapping: OrderedDict[Any, int], key: Any, value: int) -> None:
    mapping[key] = value
    mapping.move_to_end(key)
    if len(mapping) > _MAX_TRACKED:
        mapping.popitem(last=False)


# -- quotas -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Quota:
    """A cap per value of one tag, per day or month (UTC).

    Calls and prompt tokens are checked BEFORE each call: a call is refused
    when it would pass the cap (its prompt counted; output is not known
    yet). Dollars settle after each call, so the call that passes a dollar
    cap is billed in full and the next one is refused.

    Attributes:
        tag: The tag whose every value has its own cap, e.g. ``"user"``.
        limit_calls: Most model calls per window. Exactly one limit is set.
        limit_tokens: Most tokens (prompt + output) per window.
        limit_usd: Most dollars per window.
        window: ``"day"`` or ``"month"``, in UTC.
        name: Names the quota in errors.
    """

    tag: str
    limit_calls: int | None = None
    limit_tokens: int | None = None
    limit_usd: Decimal | None = None
    window: Literal["day", "month"] = "day"
    name: str | None = None

    def __post_init__(self) -> None:
        limits = (self.limit_calls, self.limit_tokens, self.limit_usd)
        if sum(limit is not None for limit in limits) != 1:
            raise ConfigurationError(
                "Quota needs exactly one of limit_calls, limit_tokens and limit_usd"
            )
        if self.limit_usd is not None:
            object.__setattr__(self, "limit_usd", Decimal(str(self.limit_usd)))
        if self.limit < 0:
            raise ConfigurationError(f"Quota limit must be >= 0, got {self.limit}")
        if self.window not in ("day", "month"):
            raise ConfigurationError(
                f"Quota window must be 'day' or 'month', got {self.window!r}"
            )
        if not self.tag:
            raise ConfigurationError("Quota needs a tag, e.g. tag='user'")

    @property
    def unit(self) -> Literal["calls", "tokens", "usd"]:
        """``"calls"``, ``"tokens"`` or ``"usd"``."""
        if self.limit_calls is not None:
            return "calls"
        return "tokens" if self.limit_tokens is not None else "usd"

    @property
    def limit(self) -> Decimal:
        """The cap in the quota's unit."""
        value = next(
            limit
            for limit in (self.limit_calls, self.limit_tokens, self.limit_usd)
            if limit is not None
        )
        return Decimal(str(value))

    def window_label(self, now: datetime) -> str:
        """The window ``now`` falls in: ``"2026-05-01"`` or ``"2026-05"``."""
        return now.strftime("%Y-%m-%d" if self.window == "day" else "%Y-%m")


_QuotaKey = tuple[int, str, str]


class QuotaGuard:
    """Enforces quotas per tag value (per user, per team) in UTC windows.

    Usage lives in this process's memory.

    Args:
        quotas: The quotas; a call is charged to each whose tag it carries.
        now: The UTC clock.
    """

    def __init__(
        self,
        quotas: Sequence[Quota],
        *,
        now: Callable[[], datetime] = lambda: datetime.now(tz=UTC),
    ) -> None:
        for quota in quotas:
            if not isinstance(quota, Quota):
                raise ConfigurationError(f"quotas must be Quota objects, got {quota!r}")
        self.quotas = list(quotas)
        self._now = now
        self._used: dict[_QuotaKey, Decimal] = {}
        self._lock = threading.Lock()

    def used(self, quota: Quota, value: str, *, at: datetime | None = None) -> Decimal:
        """What ``value`` used of ``quota`` in the window of ``at`` (now)."""
        index = self.quotas.index(quota)
        label = quota.window_label(at or self._now())
        with self._lock:
            return self._used.get((index, value, label), Decimal(0))

    def before_call(self, request: CallRequest) -> None:
        """Refuse the call if a quota of its tags is used up; count calls."""
        label_at = self._now()
        with self._lock:
            charges = list(self._charges(request.tags, label_at))
            for quota, key in charges:
                self._check(quota, key, request)
            for quota, key in charges:
                if quota.unit == "calls":
                    self._used[key] = self._used.get(key, Decimal(0)) + 1

    def after_call(self, record: UsageRecord) -> None:
        """Charge the call's tokens and dollars."""
        at = record.started_at or self._now()
        with self._lock:
            for quota, key in self._charges(record.tags, at):
                amount = _quota_amount(quota, record)
                if amount:
                    self._used[key] = self._used.get(key, Decimal(0)) + amount

    def _charges(self, tags: Any, at: datetime) -> Iterable[tuple[Quota, _QuotaKey]]:
        for index, quota in enumerate(self.quotas):
            value = tags.get(quota.tag)
            if value is not None:
                yield quota, (index, str(value), quota.window_label(at))

    def _check(self, quota: Quota, key: _QuotaKey, request: CallRequest) -> None:
        used = self._used.get(key, Decimal(0))
        requested = {
            "calls": Decimal(1),
            "tokens": Decimal(request.input_tokens),
            "usd": Decimal(0),
        }[quota.unit]
        over = used + requested > quota.limit if requested else used >= quota.limit
        if over:
            raise QuotaExceededError(quota, key[1], key[2], used, requested)


def _quota_amount(quota: Quota, record: UsageRecord) -> Decimal:
    if quota.unit == "tokens":
        return Decimal(record.total_tokens)
    if quota.unit == "usd":
        return record.cost or Decimal(0)
    return Decimal(0)
