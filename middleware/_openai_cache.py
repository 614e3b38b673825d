"""OpenAI prompt-cache routing key."""

from __future__ import annotations

import hashlib

__all__ = ["prompt_cache_key"]


def prompt_cache_key(agent: str, node: str | None = None, *, length: int = 16) -> str:
    """A short, stable `prompt_cache_key` for one agent and node.

    OpenAI routes requests with the same key and prefix to the same cache, so
    calls of one node land where their prefix is already cached, and nodes
    with different prompts do not crowd each other out.

    Args:
        agent: The agent (graph) name.
        node: The node that makes the call.
        length: Hex digits of the hash to keep.

    Returns:
        For example `"lgt-3f2a…"`: the same for the same agent and node in
        any process.
    """
    digest = hashlib.sha256(f"{agent}\x1f{node or ''}".encode()).hexdigest()
    return f"lgt-{digest[:length]}"
