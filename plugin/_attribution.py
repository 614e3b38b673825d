"""Where a call belongs: read from LangGraph's run metadata and the run tree."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DEFAULT_TAG_KEYS", "CallSite", "call_site"]

DEFAULT_TAG_KEYS = ("agent", "team", "workflow", "user")


@dataclass(frozen=True, slots=True)
class CallSite:
    """The graph position of one model call."""

    node: str | None = None
    node_path: tuple[str, ...] = ()
    step: int | None = None
    thread_id: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)


def call_site(
    metadata: Mapping[str, Any] | None,
    run_tags: Iterable[str] | None = None,
    *,
    default_tags: Mapping[str, str] | None = None,
    tag_keys: Iterable[str] = DEFAULT_TAG_KEYS,
) -> CallSite:
    """Read node, node path, step, thread and tags from a run's metadata.

    Tags come, weakest first, from ``default_tags`` (the handler's), run tags
    written ``key:value`` or ``key=value``, and run metadata keys.
    """
    metadata = metadata or {}
    node = metadata.get("langgraph_node")
    path = node_path(metadata.get("langgraph_checkpoint_ns"))
    if node and (not path or path[-1] != node):
        path = (*path, node)
    step = metadata.get("langgraph_step")
    thread = metadata.get("thread_id")
    return CallSite(
        node=node,
        node_path=path,
        step=step if isinstance(step, int) else None,
        thread_id=str(thread) if thread is not None else None,
        tags=_tags(metadata, run_tags, default_tags, tuple(tag_keys)),
    )


def node_path(checkpoint_ns: str | None) -> tuple[str, ...]:
    """Node names from a LangGraph checkpoint namespace, outermost first.

    ``"research:<task id>|agent:<task id>"`` gives ``("research", "agent")``.
    """
    if not checkpoint_ns:
        return ()
    parts = (segment.partition(":")[0] for segment in checkpoint_ns.split("|"))
    return tuple(part for part in parts if part)


def _tags(
    metadata: Mapping[str, Any],
    run_tags: Iterable[str] | None,
    default_tags: Mapping[str, str] | None,
    tag_keys: tuple[str, ...],
) -> dict[str, str]:
    tags = dict(default_tags or {})
    for tag in run_tags or ():
        for separator in (":", "="):
            key, found, value = tag.partition(separator)
            if found and key in tag_keys and value:
                tags[key] = value
                break
    for name in tag_keys:
        if metadata.get(name) is not None:
            tags[name] = str(metadata[name])
    return tags
