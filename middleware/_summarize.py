"""Summaries of the messages a trim cut, made once per cut by a cheaper model."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.messages.utils import get_buffer_string
from langchain_core.runnables import Runnable, RunnableConfig, ensure_config
from langgraph.constants import TAG_NOSTREAM

from langgraph_tokenomics._errors import ConfigurationError

__all__ = [
    "SUMMARY_PROMPT",
    "SUMMARY_TEMPLATE",
    "TrimSummarizer",
    "split_at_cut",
]

SUMMARY_PROMPT = """\
The messages below are the oldest part of a conversation between a user, an \
assistant and its tools. They are about to be removed from the assistant's \
context. Write a concise summary that the assistant can keep instead: the \
user's goal, decisions and conclusions, facts found by tools (file names, ids, \
numbers), and what remains to be done. If a previous summary is given, fold it \
in. Answer with the summary only.

{messages}"""
"""The request sent to the summary model; `{messages}` is the cut part."""

SUMMARY_TEMPLATE = "<conversation_summary>\n{summary}\n</conversation_summary>"
"""How the summary is sent to the agent's model, in place of the cut part."""

PREVIOUS_SUMMARY_TEMPLATE = "<previous_summary>\n{summary}\n</previous_summary>"
"""How an earlier summary is shown to the summary model."""

SUMMARY_RUN_NAME = "context_summary"
"""The run name of summary calls, as tracers and callbacks see it."""

_MAX_ENTRIES = 256


@dataclass(frozen=True)
class _Known:
    """The longest already-summarized prefix of a cut part."""

    length: int
    """How many of the cut messages it covers (0 for none)."""
    summary: str | None
    """Its summary text."""


class TrimSummarizer:
    """Replaces the messages a trim cut with one summary message.

    The summary model is called like any LangChain model, with the config of
    the run that is being shaped, so callbacks (a `TokenomicsCallbackHandler`)
    record its call in the same node as the agent's own. Its tokens are not
    streamed (`nostream` tag).

    Summaries are kept by the content of the cut part, so the same cut gets
    the same summary message on every turn until the next cut: the prefix
    sent to the provider stays byte-stable and the summary model is called
    once per cut. When the previous cut's summary is known, only it and the
    newly cut messages are sent, so each summary call stays small.
    """

    def __init__(
        self,
        model: Runnable[LanguageModelInput, Any],
        *,
        prompt: str = SUMMARY_PROMPT,
        template: str = SUMMARY_TEMPLATE,
        max_entries: int = _MAX_ENTRIES,
    ) -> None:
        """Configure the summaries.

        Args:
            model: A chat model (or a runnable answering a message list), e.g.
                `init_chat_model("openai:gpt-5.4-nano")`.
            prompt: The request to the summary model, with a `{messages}`
                placeholder for the cut part (rendered as XML messages).
            template: Wraps the summary (`{summary}`) in the message sent to
                the agent's model.
            max_entries: How many summaries to remember, least recently used
                forgotten first.

        Raises:
            ValueError: If `prompt` lacks `{messages}`, `template` lacks
                `{summary}`, or `max_entries` is below 1.
        """
        _check_options(prompt, template, max_entries)
        self.model = model
        self.prompt = prompt
        self.template = template
        self.max_entries = max_entries
        self._summaries: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def summarize(
        self, cut: Sequence[BaseMessage], *, config: RunnableConfig | None = None
    ) -> HumanMessage:
        """The summary message of a cut part, calling the model if it is new.

        Args:
            cut: The messages removed, oldest first, without system messages.
            config: The run's config; defaults to the one in context.

        Returns:
            A human message holding the summary, the same for the same `cut`.

        Raises:
            ValueError: If `cut` is empty.
        """
        keys = _prefix_keys(cut)
        known = self._known(keys)
        if known.length == len(cut) and known.summary is not None:
            return self._message(keys[-1], known.summary)

        request = self._request(known, cut)
        answer = self.model.invoke(request, _summary_config(config))
        return self._remember(keys[-1], _text(answer))

    async def asummarize(
        self, cut: Sequence[BaseMessage], *, config: RunnableConfig | None = None
    ) -> HumanMessage:
        """Async `summarize`."""
        keys = _prefix_keys(cut)
        known = self._known(keys)
        if known.length == len(cut) and known.summary is not None:
            return self._message(keys[-1], known.summary)

        request = self._request(known, cut)
        answer = await self.model.ainvoke(request, _summary_config(config))
        return self._remember(keys[-1], _text(answer))

    def _known(self, keys: list[str]) -> _Known:
        with self._lock:
            for length in range(len(keys), 0, -1):
                summary = self._summaries.get(keys[length - 1])
                if summary is not None:
                    self._summaries.move_to_end(keys[length - 1])
                    return _Known(length, summary)
        return _Known(0, None)

    def _request(self, known: _Known, cut: Sequence[BaseMessage]) -> list[BaseMessage]:
        rendered = get_buffer_string(list(cut[known.length :]), format="xml")
        if known.summary is not None:
            previous = PREVIOUS_SUMMARY_TEMPLATE.format(summary=known.summary)
            rendered = f"{previous}\n{rendered}"
        return [HumanMessage(self.prompt.format(messages=rendered))]

    def _remember(self, key: str, summary: str) -> HumanMessage:
        with self._lock:
            # A concurrent call may have summarized the same cut first; keep
            # its text so every request after the cut repeats the same prefix.
            summary = self._summaries.setdefault(key, summary)
            self._summaries.move_to_end(key)
            while len(self._summaries) > self.max_entries:
                self._summaries.popitem(last=False)
        return self._message(key, summary)

    def _message(self, key: str, summary: str) -> HumanMessage:
        content = self.template.format(summary=summary)
        return HumanMessage(content, id=f"lgt-summary-{key[:16]}")


def split_at_cut(
    history: Sequence[BaseMessage], kept: Sequence[BaseMessage]
) -> tuple[list[int], list[BaseMessage], list[BaseMessage]]:
    """Where a trimmed window leaves room for a summary.

    Args:
        history: The messages before trimming.
        kept: The trimmed window: a subsequence of the same message objects.

    Returns:
        The indices of the removed messages, the kept messages before them
        (system messages, a pinned first human message) and those after them
        (the recent window). The summary goes between the two.
    """
    kept_ids = {id(message) for message in kept}
    removed = [i for i, m in enumerate(history) if id(m) not in kept_ids]
    if not removed:
        return [], list(kept), []
    last = removed[-1]
    head = [m for m in history[:last] if id(m) in kept_ids]
    return removed, head, list(history[last + 1 :])


def _check_options(prompt: str, template: str, max_entries: int) -> None:
    if "{messages}" not in prompt:
        msg = "the summary prompt needs a {messages} placeholder"
        raise ConfigurationError(msg)
    if "{summary}" not in template:
        msg = "the summary template needs a {summary} placeholder"
        raise ConfigurationError(msg)
    if max_entries < 1:
        msg = f"max_entries must be at least 1, got {max_entries}"
        raise ConfigurationError(msg)


def _prefix_keys(messages: Sequence[BaseMessage]) -> list[str]:
    """Keys of every prefix of `messages`: a hash chain over their content."""
    if not messages:
        msg = "nothing was cut, so there is nothing to summarize"
        raise ConfigurationError(msg)
    keys: list[str] = []
    digest = hashlib.sha256()
    for message in messages:
        digest.update(_canonical(message).encode())
        keys.append(digest.copy().hexdigest())
    return keys


def _canonical(message: BaseMessage) -> str:
    calls = message.tool_calls if isinstance(message, AIMessage) else []
    call_id = message.tool_call_id if isinstance(message, ToolMessage) else None
    fields = [message.type, message.content, calls, call_id, message.name]
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str) + "\n"


def _summary_config(config: RunnableConfig | None) -> RunnableConfig:
    """The run's config, for a call of its own that is not streamed."""
    base = ensure_config(config)
    base.pop("run_id", None)
    metadata = {**(base.get("metadata") or {}), "lc_source": "tokenomics_summary"}
    tags = [*(base.get("tags") or []), TAG_NOSTREAM]
    return {**base, "run_name": SUMMARY_RUN_NAME, "metadata": metadata, "tags": tags}


def _text(answer: Any) -> str:
    if isinstance(answer, BaseMessage):
        return answer.text.strip()
    return str(answer).strip()
