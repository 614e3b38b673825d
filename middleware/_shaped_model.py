"""A chat-model wrapper that shapes every call, for hand-built `StateGraph` nodes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import BaseMessage, convert_to_messages
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from langchain_core.runnables.config import set_config_context

from ._history import leading_system_count
from ._shaping import CallScope, CallShaper, ModelCall
from ._wrapped_model import PreparedCall, WrappedChatModel

__all__ = ["ShapedChatModel", "shape_model"]


class ShapedChatModel(WrappedChatModel):
    """A chat model whose every call is shaped before it is sent.

    Applies the same steps as the middleware given (`ContextTrimMiddleware`,
    `CacheLayoutMiddleware`), in order, to the messages of each `invoke`,
    `ainvoke`, `stream` or `astream`, then calls the wrapped model with the
    same config, so callbacks see one model run with the shaped prompt. The
    caller's messages and the graph state are never modified.

    Bind tools with `ShapedChatModel.bind_tools`, not on the wrapped model,
    so the layout sees them.
    """

    def __init__(
        self,
        model: BaseChatModel,
        *,
        shapers: Sequence[CallShaper],
        agent_name: str | None = None,
        tools: Sequence[Any] = (),
        tool_kwargs: dict[str, Any] | None = None,
    ) -> None:
        """Wrap `model`.

        Args:
            model: The chat model to call.
            shapers: Shaping steps, applied in order.
            agent_name: Names the graph in cache keys and per-node state.
            tools: Tools to bind at each call.
            tool_kwargs: Keyword arguments for `model.bind_tools`.
        """
        self.model = model
        self.shapers = tuple(shapers)
        self.agent_name = agent_name
        self.tools = list(tools)
        self.tool_kwargs = dict(tool_kwargs or {})

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ShapedChatModel:
        """A copy that binds `tools` (and `tool_choice` etc.) on every call."""
        return ShapedChatModel(
            self.model,
            shapers=self.shapers,
            agent_name=self.agent_name,
            tools=tools,
            tool_kwargs=kwargs,
        )

    def shape(
        self, input: LanguageModelInput, config: RunnableConfig | None = None
    ) -> ModelCall:
        """The call that `invoke` would send, without sending it.

        Args:
            input: Messages, a prompt value or a string.
            config: The run config (for the node name).

        Returns:
            The shaped messages, tools and settings.
        """
        messages = _as_messages(input)
        pinned = leading_system_count(messages)
        call = ModelCall(
            system=messages[:pinned],  # type: ignore[arg-type]
            messages=messages[pinned:],
            tools=list(self.tools),
        )
        scope = CallScope.current(self.agent_name, config)
        for shaper in self.shapers:
            call = shaper.shape_call(call, model=self.model, scope=scope)
        return call

    def _prepared(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None,
        kwargs: dict[str, Any],
    ) -> PreparedCall:
        run_config = ensure_config(config)
        # Shapers that call a model (a summary of the cut) see this run's config.
        with set_config_context(run_config) as context:
            call = context.run(self.shape, input, run_config)
        model: Runnable[Any, Any] = self.model
        if call.tools:
            model = self.model.bind_tools(call.tools, **self.tool_kwargs)
        return model, call.history, {**call.settings, **kwargs}


def shape_model(
    model: BaseChatModel, *shapers: CallShaper, agent_name: str | None = None
) -> ShapedChatModel:
    """Wrap a chat model so every call is shaped by `shapers`.

    Example:
        ```python
        model = shape_model(
            ChatAnthropic(model="claude-sonnet-4-6"),
            ContextTrimMiddleware(high_watermark=60_000, low_watermark=30_000),
            CacheLayoutMiddleware(move_volatile=True),
        ).bind_tools(tools)
        ```

    Args:
        model: The chat model to call.
        *shapers: Shaping steps, applied in order.
        agent_name: Names the graph in cache keys and per-node state.

    Returns:
        The wrapper.
    """
    return ShapedChatModel(model, shapers=shapers, agent_name=agent_name)


def _as_messages(input: LanguageModelInput) -> list[BaseMessage]:
    if isinstance(input, PromptValue):
        return input.to_messages()
    if isinstance(input, str):
        return convert_to_messages([input])
    return convert_to_messages(input)
