"""Apply a `Router` to model calls: `create_agent` middleware and a model wrapper.

Both adapters read the call's node, agent, thread and tags from the run
config, count its prompt, ask the router for a model, and send the call to a
copy of that model whose metadata carries the `RoutingDecision` (under
``"tokenomics_routing"``), so callbacks and tracers see it beside the call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

from langchain.agents.middleware import AgentMiddleware, ModelRequest, ModelResponse
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig, ensure_config
from langchain_core.utils.function_calling import convert_to_openai_tool

from langgraph_tokenomics._attribution import call_site
from langgraph_tokenomics._counting import TokenCounter
from langgraph_tokenomics._routing import (
    ROUTING_METADATA_KEY,
    Router,
    RoutingDecision,
    RoutingRequest,
)
from langgraph_tokenomics.callbacks import TokenomicsCallbackHandler

from ._shaped_model import _as_messages
from ._shaping import model_name
from ._wrapped_model import PreparedCall, WrappedChatModel

__all__ = ["RoutedChatModel", "RoutingMiddleware", "route_model", "routing_request"]

logger = logging.getLogger(__name__)

Handler = Callable[[ModelRequest], ModelResponse]
AsyncHandler = Callable[[ModelRequest], Awaitable[ModelResponse]]


class RoutingMiddleware(AgentMiddleware):
    """Send each model call of a `create_agent` agent to the model a router picks.

    The agent's own model is the default; the router's policy, canaries,
    soft-limit downgrades and cache check decide per call (see `Router`).
    Only the request changes: the agent state and tools stay as they are.

    Args:
        router: The router.
        agent_name: Names the agent in routing; defaults to
            ``create_agent(name=...)``, else the ``agent`` tag.
    """

    def __init__(self, router: Router, *, agent_name: str | None = None) -> None:
        super().__init__()
        self.router = router
        self.agent_name = agent_name
        self._tap = _DecisionTap(router)

    def wrap_model_call(self, request: ModelRequest, handler: Handler) -> Any:
        """Send the request to the routed model."""
        return handler(self._routed(request))

    async def awrap_model_call(
        self, request: ModelRequest, handler: AsyncHandler
    ) -> Any:
        """Async `wrap_model_call`."""
        return await handler(self._routed(request))

    def _routed(self, request: ModelRequest) -> ModelRequest:
        messages: list[BaseMessage] = list(request.messages)
        if request.system_message is not None:
            messages.insert(0, request.system_message)
        routing = routing_request(
            request.model,
            messages,
            list(request.tools),
            ensure_config(),
            counter=self.router.counter,
            agent_name=self.agent_name,
            settings=request.model_settings,
        )
        decision = self.router.route(routing)
        model = self.router.chat_model(decision.model, default=request.model)
        return request.override(model=_tagged(model, decision, self._tap))


class RoutedChatModel(WrappedChatModel):
    """A chat model for a hand-built `StateGraph` node whose calls are routed.

    Each ``invoke``, ``ainvoke``, ``stream`` or ``astream`` asks the router
    for a model (the wrapped one is the default) and calls it with the same
    messages and config. Bind tools with `RoutedChatModel.bind_tools`, so
    they go to whichever model is picked.
    """

    def __init__(
        self,
        model: BaseChatModel,
        router: Router,
        *,
        agent_name: str | None = None,
        tools: Sequence[Any] = (),
        tool_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Wrap ``model``.

        Args:
            model: The default chat model.
            router: The router.
            agent_name: Names the graph in routing (policy keys, threads).
            tools: Tools to bind to the picked model at each call.
            tool_kwargs: Keyword arguments for ``bind_tools``.
        """
        self.model = model
        self.router = router
        self.agent_name = agent_name
        self.tools = list(tools)
        self.tool_kwargs = dict(tool_kwargs or {})
        self._tap = _DecisionTap(router)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> RoutedChatModel:
        """A copy that binds ``tools`` (and ``tool_choice`` etc.) on every call."""
        return RoutedChatModel(
            self.model,
            self.router,
            agent_name=self.agent_name,
            tools=tools,
            tool_kwargs=kwargs,
        )

    def _prepared(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None,
        kwargs: dict[str, Any],
    ) -> PreparedCall:
        messages = _as_messages(input)
        routing = routing_request(
            self.model,
            messages,
            self.tools,
            ensure_config(config),
            counter=self.router.counter,
            agent_name=self.agent_name,
            settings=kwargs,
        )
        decision = self.router.route(routing)
        picked = self.router.chat_model(decision.model, default=self.model)
        model = _tagged(picked, decision, self._tap)
        if self.tools:
            model = model.bind_tools(self.tools, **self.tool_kwargs)
        return model, messages, kwargs


def route_model(
    model: BaseChatModel, router: Router, *, agent_name: str | None = None
) -> RoutedChatModel:
    """Wrap a chat model so a router picks the model of every call.

    Example:
        ```python
        router = Router(RoutingPolicy(models={"planner": "openai:gpt-5.4-mini"}))
        planner_model = route_model(ChatOpenAI(model="gpt-5.4"), router)
        ```

    Args:
        model: The default chat model.
        router: The router.
        agent_name: Names the graph in routing.

    Returns:
        The wrapper.
    """
    return RoutedChatModel(model, router, agent_name=agent_name)


def routing_request(
    model: Any,
    messages: Sequence[BaseMessage],
    tools: Sequence[Any],
    config: RunnableConfig,
    *,
    counter: TokenCounter,
    agent_name: str | None = None,
    settings: dict[str, Any] | None = None,
) -> RoutingRequest:
    """What a router decides on, read from a call and its run config.

    Args:
        model: The default chat model.
        messages: The prompt, system messages included.
        tools: Tools sent (LangChain tools or provider dicts).
        config: The run config (node, thread, tags, callbacks).
        counter: Counts the prompt and tool definitions.
        agent_name: An explicit agent name.
        settings: Call keyword arguments (``max_tokens``).

    Returns:
        The routing request.
    """
    metadata = config.get("metadata") or {}
    site = call_site(metadata, config.get("tags"))
    name = model_name(model) or "unknown"
    definitions = [
        t if isinstance(t, dict) else convert_to_openai_tool(t) for t in tools
    ]
    prompt = counter.count_messages(messages, name)
    tool_tokens = sum(counter.count_tools(definitions, name).values())
    return RoutingRequest(
        default_model=name,
        provider=_provider(model),
        node=site.node,
        node_path=site.node_path,
        agent=agent_name or metadata.get("lc_agent_name") or site.tags.get("agent"),
        thread_id=site.thread_id or _configured_thread(config),
        root_run_id=_root_run_id(config),
        tags=site.tags,
        input_tokens=prompt + tool_tokens,
        has_tools=bool(tools),
        max_tokens=_max_tokens(model, settings or {}),
    )


class _DecisionTap(BaseCallbackHandler):
    """Tells the router the run id of each routed call, as it starts."""

    run_inline = True

    def __init__(self, router: Router) -> None:
        self.router = router

    def on_chat_model_start(
        self,
        serialized: dict[str, Any] | None,
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        routing = (metadata or {}).get(ROUTING_METADATA_KEY)
        if isinstance(routing, dict) and "decision_id" in routing:
            self.router.bind_run(routing["decision_id"], str(run_id))


def _tagged(model: Any, decision: RoutingDecision, tap: _DecisionTap) -> Any:
    """A shallow copy of ``model`` that carries the decision in its metadata."""
    metadata = {**(model.metadata or {}), ROUTING_METADATA_KEY: decision.metadata()}
    callbacks = model.callbacks
    if callbacks is None or isinstance(callbacks, list):
        callbacks = [*(callbacks or []), tap]
    else:
        logger.debug("model has a callback manager: routing run ids not tracked")
    return model.model_copy(update={"metadata": metadata, "callbacks": callbacks})


def _provider(model: Any) -> str | None:
    try:
        provider = model._get_ls_params().get("ls_provider")
    except Exception:  # a model without LangSmith params: provider unknown
        return None
    return str(provider) if provider else None


def _configured_thread(config: RunnableConfig) -> str | None:
    thread = (config.get("configurable") or {}).get("thread_id")
    return str(thread) if thread is not None else None


def _max_tokens(model: Any, settings: dict[str, Any]) -> int | None:
    for value in (settings.get("max_tokens"), getattr(model, "max_tokens", None)):
        if isinstance(value, int):
            return value
    return None


def _root_run_id(config: RunnableConfig) -> str | None:
    """The graph invocation's run id, from a tokenomics handler's run tree."""
    manager = config.get("callbacks")
    parent = getattr(manager, "parent_run_id", None)
    if parent is None:
        return None
    for handler in getattr(manager, "handlers", ()):
        if not isinstance(handler, TokenomicsCallbackHandler):
            continue
        root = handler.root_run_id(parent)
        return str(root) if root is not None else None
    return None
