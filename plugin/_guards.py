"""Guards: checks that watch every call and tool call, and may halt a run.

A guard is any object with some of these methods; the handler calls each one
it has. A guard halts the run by raising a `TokenomicsRuntimeError` subclass
(e.g. `RunawayLoopError`); any other exception from a guard is logged and
ignored, since accounting never breaks the user's run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ._records import CallRequest, UsageRecord

__all__ = ["CallGuard", "ToolCallEvent"]


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    """A tool about to run.

    Attributes:
        tool: The tool's name.
        arguments: The tool's input as LangChain passed it (kept in memory
            only for the guard's check; never stored in the ledger).
        run_id: The tool run's id.
        thread_id: LangGraph's ``thread_id``, if any.
        node: The LangGraph node that runs the tool.
        tags: Attribution tags of the run.
    """

    tool: str
    arguments: str
    run_id: str
    thread_id: str | None = None
    node: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class CallGuard(Protocol):
    """What a guard may implement; every method is optional."""

    def before_call(self, request: CallRequest) -> None:
        """Before a model call is sent; raise to refuse it."""

    def after_call(self, record: UsageRecord) -> None:
        """After a model call is recorded; raise to halt the run."""

    def on_tool_call(self, event: ToolCallEvent) -> None:
        """Before a tool runs; raise to halt the run."""
