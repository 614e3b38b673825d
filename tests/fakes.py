"""Fakes for tests: a chat model that returns scripted messages with usage."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from langgraph_tokenomics import TokenCounter


class ScriptedChatModel(BaseChatModel):
    """Returns ``replies`` in turn (cycling), as a named model would.

    Each reply may carry ``usage_metadata``; ``seen`` keeps every prompt.
    """

    model_name: str = "scripted-model"
    replies: list[AIMessage] = Field(default_factory=list)
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    provider: str = "openai"

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> Any:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = self.provider
        params["ls_model_name"] = self.model_name
        return params

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        """Bind tools in OpenAI's format, as ChatOpenAI does."""
        from langchain_core.utils.function_calling import convert_to_openai_tool

        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _next(self, messages: list[BaseMessage]) -> AIMessage:
        self.seen.append(list(messages))
        reply = self.replies[(len(self.seen) - 1) % len(self.replies)]
        return reply.model_copy()

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._next(messages))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        reply = self._next(messages)
        for usage in _stream_usages(reply):
            chunk = ChatGenerationChunk(
                message=AIMessageChunk(
                    content=str(reply.content) if usage is None else "",
                    usage_metadata=usage,
                )
            )
            if run_manager:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk


def _stream_usages(reply: AIMessage) -> list[Any]:
    scripted = reply.additional_kwargs.get("stream_usages")
    if scripted is not None:
        return [None, *scripted]
    return [None, reply.usage_metadata] if reply.usage_metadata else [None]


def usage(
    input_tokens: int,
    output_tokens: int,
    *,
    cache_read: int | None = None,
    cache_creation: int | None = None,
    reasoning: int | None = None,
    **extra: int,
) -> dict[str, Any]:
    """A LangChain ``usage_metadata`` dict."""
    input_details = {
        key: value
        for key, value in {
            "cache_read": cache_read,
            "cache_creation": cache_creation,
        }.items()
        if value is not None
    }
    input_details.update(extra)
    result: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "total_tokens": input_tokens + output_tokens,
    }
    if input_details:
        result["input_token_details"] = input_details
    if reasoning is not None:
        result["output_token_details"] = {"reasoning": reasoning}
    return result


def reply(
    text: str = "ok", *, model: str = "scripted-model", **usage_kwargs: Any
) -> AIMessage:
    """A scripted reply; with usage when ``input_tokens`` is given."""
    metadata = usage(**usage_kwargs) if "input_tokens" in usage_kwargs else None
    return AIMessage(
        content=text, usage_metadata=metadata, response_metadata={"model_name": model}
    )


class WordCounter(TokenCounter):
    """Counts one token per whitespace-separated word: exact, for budget tests."""

    message_overhead = 0
    reply_priming = 0

    def count_text(self, text: str, model: str | None = None) -> int:
        return len(text.split())


class RecordingChatModel(GenericFakeChatModel):
    """Answers from a script and records what every call was sent."""

    received: list[list[BaseMessage]] = Field(default_factory=list)
    call_kwargs: list[dict[str, Any]] = Field(default_factory=list)

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        return self.bind(tools=list(tools), **kwargs)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.received.append(list(messages))
        self.call_kwargs.append(kwargs)
        return super()._generate(messages, stop, run_manager, **kwargs)


def scripted(*answers: AIMessage | str) -> RecordingChatModel:
    """A recording model that answers ``answers`` in turn."""
    script: Iterator[AIMessage | str] = iter(answers)
    return RecordingChatModel(messages=script)
