"""Cost-aware routing: choose the model of each call by node, agent, rules and budget.

A `RoutingPolicy` says which model a call wants: a rule on the call
(estimated prompt, tools, node, tags), a fixed model per node or agent, or
the model the agent was built with; a budget past its soft limit downgrades
that choice. A `Router` then keeps each thread on the model it is already
using unless switching pays: a switch loses the thread's cached prefix, so the
router compares, from the `PriceBook`,

- the saving: the call's expected tokens priced on the current model minus
  the same tokens priced on the wanted one (all input uncached), and
- the cache loss: the call priced on the current model without its cache
  minus the call priced with the thread's previous prompt read from cache,

and switches only when the saving is larger. Staying minus switching is
exactly saving minus cache loss. Every choice is a `RoutingDecision`, kept in
`Router.decisions` and sent with the model call's metadata under
``"tokenomics_routing"``, so it can be found next to the call's record by run
id. The adapters that apply a router live in ``middleware``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Protocol

from ._budget import Budget, SoftLimitEvent
from ._counting import TokenCounter, default_counter
from ._errors import ConfigurationError
from ._prices import PriceBook
from ._records import CallRequest
from ._usage import TokenUsage

__all__ = [
    "ROUTING_METADATA_KEY",
    "Router",
    "RoutingDecision",
    "RoutingPolicy",
    "RoutingRequest",
    "RoutingRule",
    "same_model",
]

logger = logging.getLogger(__name__)

ROUTING_METADATA_KEY = "tokenomics_routing"
"""The model call's metadata key under which its routing decision is sent."""

_DEFAULT_OUTPUT_TOKENS = 1024
_DEFAULT_CACHE_TTL_SECONDS = 300.0
_MAX_DECISIONS = 10_000
_MAX_THREADS = 100_000


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingRequest:
    """A model call about to be routed, as the adapter saw it.

    Attributes:
        default_model: The model the agent or node was built with.
        provider: The default model's provider (``ls_provider``), if known.
        node: The innermost LangGraph node making the call.
        node_path: Nodes through subgraphs, outermost first.
        agent: The agent's name (``create_agent(name=...)`` or the ``agent``
            tag), if any.
        thread_id: LangGraph's ``thread_id``; without one no cache is assumed.
        root_run_id: The graph invocation's run id, when the adapter knows it
            (run-scoped soft limits need it).
        tags: Attribution tags of the run.
        input_tokens: The prompt counted locally, tool definitions included.
        has_tools: Whether tools are sent with the call.
        max_tokens: The call's output cap, if set.
    """

    default_model: str
    provider: str | None = None
    node: str | None = None
    node_path: tuple[str, ...] = ()
    agent: str | None = None
    thread_id: str | None = None
    root_run_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    input_tokens: int = 0
    has_tools: bool = False
    max_tokens: int | None = None

    @property
    def unit_id(self) -> str | None:
        """What a canary assigns: the thread, else the run."""
        return self.thread_id or self.root_run_id


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingRule:
    """Send the calls that match to ``model``; every condition given must hold.

    Attributes:
        model: The model, named as ``init_chat_model`` names it
            (``"openai:gpt-5.4-mini"``).
        node: Only calls made in this node (at any subgraph depth).
        agent: Only calls of this agent.
        min_input_tokens: Only calls whose counted prompt has at least this
            many tokens.
        max_input_tokens: Only calls whose counted prompt has at most this
            many tokens.
        has_tools: Only calls that send tools (``True``) or none (``False``).
        tags: Only calls carrying every one of these tag values.
        force: Route even when it costs the thread its cached prefix (the
            call needs this model, e.g. for a long context); otherwise the
            router's cache check applies.
        name: Names the rule in decisions; a description by default.
    """

    model: str
    node: str | None = None
    agent: str | None = None
    min_input_tokens: int | None = None
    max_input_tokens: int | None = None
    has_tools: bool | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    force: bool = False
    name: str | None = None

    def matches(self, request: RoutingRequest) -> bool:
        """Whether ``request`` meets every condition of the rule."""
        tokens = request.input_tokens
        checks = (
            self.node is None
            or self.node == request.node
            or self.node in request.node_path,
            self.agent is None or self.agent == request.agent,
            self.min_input_tokens is None or tokens >= self.min_input_tokens,
            self.max_input_tokens is None or tokens <= self.max_input_tokens,
            self.has_tools is None or self.has_tools == request.has_tools,
            all(request.tags.get(key) == value for key, value in self.tags.items()),
        )
        return all(checks)

    @property
    def label(self) -> str:
        """The rule's name, or a description of its conditions."""
        if self.name:
            return self.name
        parts = [
            f"{key}={value}"
            for key, value in (
                ("node", self.node),
                ("agent", self.agent),
                ("min_input_tokens", self.min_input_tokens),
                ("max_input_tokens", self.max_input_tokens),
                ("has_tools", self.has_tools),
            )
            if value is not None
        ]
        parts += [f"{key}={value}" for key, value in sorted(self.tags.items())]
        return " ".join(parts) or "any call"


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingPolicy:
    """Which model each call wants, before the router's cache check.

    Checked in order: the first matching rule, then ``models`` by node, then
    ``models`` by agent, else the model the agent was built with. When a
    budget whose ``on_soft_limit`` is `Router.on_soft_limit` passes its soft
    limit, calls in its scope are downgraded through ``downgrade``.

    Attributes:
        models: A model per node or agent name, e.g.
            ``{"planner": "openai:gpt-5.4-mini"}``.
        rules: Rules on the call, first match wins.
        downgrade: The cheaper model to use past a soft limit, by the model
            that would be used (``"*"`` for any model).
    """

    models: Mapping[str, str] = field(default_factory=dict)
    rules: Sequence[RoutingRule] = ()
    downgrade: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for rule in self.rules:
            if not isinstance(rule, RoutingRule):
                raise ConfigurationError(
                    f"RoutingPolicy rules must be RoutingRule objects, got {rule!r}"
                )
        object.__setattr__(self, "rules", tuple(self.rules))

    def choose(self, request: RoutingRequest) -> tuple[str, str, bool]:
        """The wanted model, why, and whether the cache check is skipped."""
        for rule in self.rules:
            if rule.matches(request):
                return rule.model, f"rule {rule.label!r}", rule.force
        if request.node is not None and request.node in self.models:
            return self.models[request.node], f"node {request.node!r}", False
        if request.agent is not None and request.agent in self.models:
            return self.models[request.agent], f"agent {request.agent!r}", False
        return request.default_model, "default", False

    def downgrade_for(self, model: str) -> str | None:
        """The cheaper model for ``model`` past a soft limit, if any."""
        for name, cheaper in self.downgrade.items():
            if name != "*" and same_model(name, model):
                return cheaper
        return self.downgrade.get("*")


@dataclass(frozen=True, slots=True, kw_only=True)
class RoutingDecision:
    """The model one call was sent to, and why.

    Attributes:
        decision_id: Numbers the router's decisions, from 1.
        model: The model the call is sent to.
        routed_from: The model the call would have used without routing
            (the one the agent or node was built with).
        wanted: What the policy (or a canary, or a downgrade) asked for,
            before the cache check.
        reason: Why ``model``, in words.
        node: The node that made the call.
        agent: The agent that made the call, if named.
        thread_id: The call's thread, if any.
        input_tokens: The call's counted prompt.
        cached_tokens: The prefix the thread's current model may hold in
            its provider cache (the previous prompt of the thread, within
            the cache TTL); 0 without one.
        saving: For a change of the thread's model: the expected tokens
            priced on the current model minus on the wanted one (USD).
        cache_loss: For a change of the thread's model: what the current
            model's cache takes off this call (USD).
        run_id: The model call's run id, once the call has started.
    """

    decision_id: int
    model: str
    routed_from: str
    wanted: str
    reason: str
    node: str | None = None
    agent: str | None = None
    thread_id: str | None = None
    input_tokens: int = 0
    cached_tokens: int = 0
    saving: Decimal | None = None
    cache_loss: Decimal | None = None
    run_id: str | None = None

    @property
    def switched(self) -> bool:
        """Whether the call goes to another model than it was built with."""
        return not same_model(self.model, self.routed_from)

    def metadata(self) -> dict[str, Any]:
        """What goes into the model call's metadata under the routing key."""
        return {
            "decision_id": self.decision_id,
            "model": self.model,
            "routed_from": self.routed_from,
            "reason": self.reason,
        }


class CanaryChooser(Protocol):
    """What the router asks a canary (see `Canary`)."""

    node: str

    def choose(self, unit_id: str, wanted: str) -> tuple[str, str]:
        """The model for one thread or run of the node, and why."""
        ...


@dataclass(frozen=True, slots=True)
class _ThreadModel:
    model: str
    prompt_tokens: int
    at: float


class Router:
    """Routes model calls by a `RoutingPolicy`, keeping threads on cached models.

    Models are named as ``init_chat_model`` names them and built through it
    on first use (then reused); ``init_kwargs`` go to every build and
    ``model_kwargs`` to one model's (e.g. a local ``base_url``). Apply it
    with ``RoutingMiddleware`` (``create_agent``) or ``route_model`` (a node
    of a hand-built graph). Thread-safe.

    Args:
        policy: The routing policy; calls keep their model without one.
        prices: Prices for the cache check; genai-prices' data by default.
        counter: Counts prompts for rules and the cache check.
        init_kwargs: Keyword arguments for every ``init_chat_model`` build.
        model_kwargs: Keyword arguments for one model's build, by name.
        models: Chat models already built, by name; used instead of a build.
        canaries: Canaries trying cheaper models on some nodes (off unless
            given; see `Canary`).
        expected_output_tokens: Output assumed for a call that sets no
            ``max_tokens`` (capped by it when it does).
        cache_ttl: Seconds a thread's prefix is taken to stay cached.
        clock: Monotonic seconds, for the cache TTL.

    Raises:
        ConfigurationError: Two canaries watch one node, or a TTL or output
            estimate is negative.
    """

    def __init__(
        self,
        policy: RoutingPolicy | None = None,
        *,
        prices: PriceBook | None = None,
        counter: TokenCounter | None = None,
        init_kwargs: Mapping[str, Any] | None = None,
        model_kwargs: Mapping[str, Mapping[str, Any]] | None = None,
        models: Mapping[str, Any] | None = None,
        canaries: Sequence[CanaryChooser] = (),
        expected_output_tokens: int = _DEFAULT_OUTPUT_TOKENS,
        cache_ttl: float = _DEFAULT_CACHE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_router_options(canaries, expected_output_tokens, cache_ttl)
        self.policy = policy or RoutingPolicy()
        self.prices = prices or PriceBook()
        self.counter = counter or default_counter()
        self.init_kwargs = dict(init_kwargs or {})
        self.model_kwargs = {
            name: dict(kw) for name, kw in (model_kwargs or {}).items()
        }
        self.canaries = {canary.node: canary for canary in canaries}
        self.expected_output_tokens = expected_output_tokens
        self.cache_ttl = cache_ttl
        self._clock = clock
        self._built: dict[str, Any] = dict(models or {})
        self._threads: OrderedDict[tuple[str, str | None, str | None], _ThreadModel]
        self._threads = OrderedDict()
        self._decisions: OrderedDict[int, RoutingDecision] = OrderedDict()
        self._by_run: dict[str, int] = {}
        self._pressed: list[tuple[Budget, str]] = []
        self._next_id = 1
        self._lock = threading.RLock()

    # -- results ----------------------------------------------------------------

    @property
    def decisions(self) -> list[RoutingDecision]:
        """Every decision still kept (the latest 10,000), oldest first."""
        with self._lock:
            return list(self._decisions.values())

    def decision_for(self, run_id: str) -> RoutingDecision | None:
        """The decision of the model call with LangChain run id ``run_id``."""
        with self._lock:
            decision_id = self._by_run.get(run_id)
            return self._decisions.get(decision_id) if decision_id else None

    # -- routing ----------------------------------------------------------------

    def route(self, request: RoutingRequest) -> RoutingDecision:
        """Decide the model of one call and remember it for the thread."""
        wanted, reason, forced = self._wanted(request)
        with self._lock:
            current = self._current(request)
            decision = self._decide(request, wanted, reason, forced, current)
            self._remember(request, decision)
        logger.debug("routed %s: %s", request.node, decision.reason)
        return decision

    def on_soft_limit(self, event: SoftLimitEvent) -> None:
        """A `Budget.on_soft_limit` hook: downgrade the calls in its scope.

        The downgrade lasts for the router's life (or until
        `clear_downgrades`), through ``policy.downgrade``.
        """
        with self._lock:
            self._pressed.append((event.budget, event.scope_value))
        logger.info(
            "budget %r passed its soft limit for %s: downgrading",
            event.budget.name or event.budget.id,
            event.budget.describe_scope(event.scope_value),
        )

    def clear_downgrades(self) -> None:
        """Forget every soft limit passed so far."""
        with self._lock:
            self._pressed.clear()

    def forget_thread(self, thread_id: str) -> None:
        """Drop what the router knows of a thread's model and prefix."""
        with self._lock:
            for key in [key for key in self._threads if key[0] == thread_id]:
                del self._threads[key]

    def bind_run(self, decision_id: int, run_id: str) -> None:
        """Note the run id of the model call a decision was made for."""
        with self._lock:
            decision = self._decisions.get(decision_id)
            if decision is None:
                return
            self._decisions[decision_id] = replace(decision, run_id=run_id)
            self._by_run[run_id] = decision_id

    def chat_model(self, name: str, *, default: Any = None) -> Any:
        """The chat model called ``name``, built once and reused.

        ``default`` (the agent's own model) is returned when it is that
        model; any other is built with ``init_chat_model``.

        Raises:
            ConfigurationError: ``init_chat_model`` cannot build the model.
        """
        if default is not None and same_model(name, _default_name(default)):
            return default
        with self._lock:
            if name not in self._built:
                self._built[name] = self._build(name)
            return self._built[name]

    # -- steps ------------------------------------------------------------------

    def _wanted(self, request: RoutingRequest) -> tuple[str, str, bool]:
        wanted, reason, forced = self.policy.choose(request)
        canary = self.canaries.get(request.node or "")
        if canary is not None and request.unit_id is not None:
            wanted, reason = canary.choose(request.unit_id, wanted)

        pressed = self._pressing_budget(request)
        cheaper = self.policy.downgrade_for(wanted) if pressed else None
        if pressed is not None and cheaper is not None:
            budget, scope_value = pressed
            name = budget.name or budget.id
            scope = budget.describe_scope(scope_value)
            return cheaper, f"soft limit of budget {name!r} for {scope}", forced
        return wanted, reason, forced

    def _pressing_budget(self, request: RoutingRequest) -> tuple[Budget, str] | None:
        with self._lock:
            pressed = list(self._pressed)
        if not pressed:
            return None
        call = CallRequest(
            run_id="",
            root_run_id=request.root_run_id,
            thread_id=request.thread_id,
            node=request.node,
            node_path=request.node_path,
            tags=request.tags,
        )
        for budget, scope_value in pressed:
            covered = budget.scope_value(call)
            if covered is not None and covered == scope_value:
                return budget, scope_value
        return None

    def _current(self, request: RoutingRequest) -> _ThreadModel | None:
        key = _thread_key(request)
        if key is None or key not in self._threads:
            return None
        current = self._threads[key]
        if self._clock() - current.at > self.cache_ttl:
            return replace(current, prompt_tokens=0)
        return current

    def _decide(
        self,
        request: RoutingRequest,
        wanted: str,
        reason: str,
        forced: bool,
        current: _ThreadModel | None,
    ) -> RoutingDecision:
        decision = RoutingDecision(
            decision_id=self._next_id,
            model=wanted,
            routed_from=request.default_model,
            wanted=wanted,
            reason=reason,
            node=request.node,
            agent=request.agent,
            thread_id=request.thread_id,
            input_tokens=request.input_tokens,
        )
        self._next_id += 1
        if current is None or same_model(current.model, wanted):
            return decision
        cached = min(current.prompt_tokens, request.input_tokens)
        decision = replace(decision, cached_tokens=cached)
        if forced:
            return replace(decision, reason=f"{reason}; forced off {current.model}")
        return self._cache_check(request, decision, current.model)

    def _cache_check(
        self, request: RoutingRequest, decision: RoutingDecision, current: str
    ) -> RoutingDecision:
        saving, loss = self._switch_economics(
            request, current, decision.wanted, decision.cached_tokens
        )
        decision = replace(decision, saving=saving, cache_loss=loss)
        if saving is None or loss is None:
            return replace(
                decision,
                model=current,
                reason=f"kept on {current}: no price to compare ({decision.reason})",
            )
        if saving > loss:
            return replace(
                decision,
                reason=f"{decision.reason}; left {current}: saving "
                f"{_usd(saving)} > cache loss {_usd(loss)}",
            )
        return replace(
            decision,
            model=current,
            reason=f"kept on {current}: saving {_usd(saving)} <= cache loss "
            f"{_usd(loss)} ({decision.reason})",
        )

    def _switch_economics(
        self, request: RoutingRequest, current: str, wanted: str, cached: int
    ) -> tuple[Decimal | None, Decimal | None]:
        output = self._output_tokens(request)
        tokens = request.input_tokens
        provider = request.provider
        on_current = self.prices.estimate(
            current, input_tokens=tokens, output_tokens=output, provider=provider
        )
        on_wanted = self.prices.estimate(
            wanted, input_tokens=tokens, output_tokens=output, provider=provider
        )
        usage = TokenUsage(
            input_tokens=tokens, cache_read_tokens=cached, output_tokens=output
        )
        with_cache = self.prices.cost(current, usage, provider=provider)
        if on_current is None or on_wanted is None or with_cache is None:
            return None, None
        return on_current - on_wanted, on_current - with_cache.total

    def _output_tokens(self, request: RoutingRequest) -> int:
        if request.max_tokens is None:
            return self.expected_output_tokens
        return min(request.max_tokens, self.expected_output_tokens)

    def _remember(self, request: RoutingRequest, decision: RoutingDecision) -> None:
        self._decisions[decision.decision_id] = decision
        if len(self._decisions) > _MAX_DECISIONS:
            _, dropped = self._decisions.popitem(last=False)
            if dropped.run_id is not None:
                self._by_run.pop(dropped.run_id, None)
        key = _thread_key(request)
        if key is None:
            return
        self._threads[key] = _ThreadModel(
            decision.model, request.input_tokens, self._clock()
        )
        self._threads.move_to_end(key)
        if len(self._threads) > _MAX_THREADS:
            self._threads.popitem(last=False)

    def _build(self, name: str) -> Any:
        from langchain.chat_models import init_chat_model

        kwargs = {**self.init_kwargs, **self.model_kwargs.get(name, {})}
        try:
            return init_chat_model(name, **kwargs)
        except (ValueError, ImportError) as error:
            raise ConfigurationError(
                f"cannot build routed model {name!r} with init_chat_model: {error}"
            ) from error


def same_model(first: str | None, second: str | None) -> bool:
    """Whether two names call one model (``"openai:gpt-5.4"`` is ``"gpt-5.4"``)."""
    if first is None or second is None:
        return first == second
    return _bare(first) == _bare(second)


def _bare(name: str) -> str:
    head, sep, tail = name.strip().lower().partition(":")
    # "openai:gpt-5.4" names a provider; a Bedrock id's ":0" is a version
    return tail if sep and head.replace("_", "").isalpha() else head + sep + tail


def _default_name(model: Any) -> str | None:
    for attribute in ("model_name", "model"):
        value = getattr(model, attribute, None)
        if isinstance(value, str):
            return value
    return None


def _thread_key(
    request: RoutingRequest,
) -> tuple[str, str | None, str | None] | None:
    if request.thread_id is None:
        return None
    return (request.thread_id, request.agent, request.node)


def _usd(amount: Decimal) -> str:
    return f"${amount.normalize():f}" if amount else "$0"


def _check_router_options(
    canaries: Sequence[CanaryChooser], expected_output_tokens: int, cache_ttl: float
) -> None:
    nodes = [canary.node for canary in canaries]
    if len(set(nodes)) != len(nodes):
        raise ConfigurationError(f"one canary per node, got nodes {nodes}")
    if expected_output_tokens < 0:
        raise ConfigurationError(
            f"expected_output_tokens must be >= 0, got {expected_output_tokens}"
        )
    if cache_ttl < 0:
        raise ConfigurationError(f"cache_ttl must be >= 0, got {cache_ttl}")
