"""One model call as the shaping steps see it, whatever adapter made it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.runnables import RunnableConfig, ensure_config

__all__ = [
    "CallScope",
    "CallShaper",
    "ModelCall",
    "Provider",
    "detect_provider",
    "model_name",
]

Provider = Literal["anthropic", "openai"]


@dataclass(frozen=True)
class CallScope:
    """Who makes a call: the agent (graph) and the node."""

    agent: str
    node: str

    @property
    def key(self) -> str:
        """`agent/node`, the key per-node state is kept under."""
        return f"{self.agent}/{self.node}"

    @classmethod
    def current(
        cls, agent: str | None = None, config: RunnableConfig | None = None
    ) -> CallScope:
        """The scope of the running LangGraph node, from the run config.

        Args:
            agent: An explicit agent name; otherwise `lc_agent_name` (set by
                `create_agent(name=...)`), else `"agent"`.
            config: The call's config; defaults to the one in context.

        Returns:
            The scope; the node is `langgraph_node`, else `"model"`.
        """
        metadata: Mapping[str, Any] = ensure_config(config).get("metadata") or {}
        name = agent or metadata.get("lc_agent_name") or "agent"
        node = metadata.get("langgraph_node") or "model"
        return cls(str(name), str(node))


@dataclass(frozen=True)
class ModelCall:
    """What will be sent: system message(s), other messages, tools, settings."""

    system: list[SystemMessage]
    messages: list[BaseMessage]
    tools: list[Any]
    settings: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments for the model call (`model_settings`)."""

    def with_changes(self, **changes: Any) -> ModelCall:
        """A copy with some fields replaced."""
        return replace(self, **changes)

    @property
    def history(self) -> list[BaseMessage]:
        """System message(s) then the other messages, as the model gets them."""
        return [*self.system, *self.messages]


def detect_provider(model: Any) -> Provider | None:
    """Tell an Anthropic from an OpenAI chat model by its `_llm_type`."""
    kind = str(getattr(model, "_llm_type", "")).lower()
    if "anthropic" in kind:
        return "anthropic"
    if "openai" in kind:
        return "openai"
    return None


def model_name(model: Any) -> str | None:
    """The model id a chat model calls, if it says."""
    for attribute in ("model", "model_name"):
        value = getattr(model, attribute, None)
        if isinstance(value, str):
            return value
    return None


class CallShaper(Protocol):
    """A shaping step that `ShapedChatModel` can apply; both middleware are."""

    def shape_call(self, call: ModelCall, *, model: Any, scope: CallScope) -> ModelCall:
        """Return the call to send instead of `call`."""
        ...
