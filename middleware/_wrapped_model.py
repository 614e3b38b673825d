"""A chat-model wrapper that prepares each call, then sends it to a model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import BaseMessage, BaseMessageChunk
from langchain_core.runnables import Runnable, RunnableConfig

__all__ = ["PreparedCall", "WrappedChatModel"]

PreparedCall = tuple[Runnable[Any, Any], list[BaseMessage], dict[str, Any]]
"""The model to call, the messages to send and the call's keyword arguments."""


class WrappedChatModel(Runnable[LanguageModelInput, BaseMessage]):
    """Base of wrappers for a model called in a hand-built `StateGraph` node.

    Subclasses implement `_prepared` (shape the messages, pick the model);
    ``invoke``, ``ainvoke``, ``stream`` and ``astream`` then call the prepared
    model with the caller's config, so callbacks see one model run.
    """

    def _prepared(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None,
        kwargs: dict[str, Any],
    ) -> PreparedCall:
        raise NotImplementedError

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> BaseMessage:
        """Prepare the call, then invoke the model."""
        model, messages, settings = self._prepared(input, config, kwargs)
        answer: BaseMessage = model.invoke(messages, config, **settings)
        return answer

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> BaseMessage:
        """Prepare the call, then invoke the model asynchronously."""
        model, messages, settings = self._prepared(input, config, kwargs)
        answer: BaseMessage = await model.ainvoke(messages, config, **settings)
        return answer

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> Iterator[BaseMessageChunk]:
        """Prepare the call, then stream the model's answer."""
        model, messages, settings = self._prepared(input, config, kwargs)
        yield from model.stream(messages, config, **settings)

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[BaseMessageChunk]:
        """Prepare the call, then stream the model's answer asynchronously."""
        model, messages, settings = self._prepared(input, config, kwargs)
        async for chunk in model.astream(messages, config, **settings):
            yield chunk
