"""Prompts seen at each call site: counted once, compared with the last one.

A provider can only serve from cache the leading part of a prompt that an
earlier request sent byte for byte. The best a caller can hope for is the
prefix shared with the previous call made from the same place (thread, node
and model), so that is the prediction; the provider's reported cache reads
are the outcome. The same memory lets a prompt that grows turn by turn be
counted once per message: leading messages that are the very objects sent
last time reuse their counts.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["PromptCount", "PromptTracker"]

Block = tuple[str, str]


@dataclass(frozen=True, slots=True)
class PromptCount:
    """One prompt, split into blocks (role, text), with tokens per block.

    Attributes:
        items: The prompt's items (messages or strings), in order.
        blocks: ``(role, text)`` of each item as the provider sees it.
        tokens: Tokens of each block, framing included.
        shared_tokens: Tokens of the leading blocks equal to the previous
            prompt at the same site, tool definitions included.
    """

    items: Sequence[Any]
    blocks: Sequence[Block]
    tokens: Sequence[int]
    shared_tokens: int


@dataclass(frozen=True, slots=True)
class _Seen:
    tools_key: str
    items: Sequence[Any]
    blocks: Sequence[Block]
    tokens: Sequence[int]

    def by_identity(self) -> dict[int, tuple[Any, Block, int]]:
        """Each item's block and tokens, by the item's identity."""
        return {
            id(item): (item, block, count)
            for item, block, count in zip(
                self.items, self.blocks, self.tokens, strict=True
            )
        }


class PromptTracker:
    """Remembers the last prompt of each site.

    Items (messages) that are the very objects sent last time at the same
    site reuse their block and count, so a history re-sent every turn costs
    a dictionary look-up per message, not a tokenization.

    Args:
        max_sites: How many sites to remember; the least recently used go.
    """

    def __init__(self, *, max_sites: int = 4_096) -> None:
        self._last: OrderedDict[Hashable, _Seen] = OrderedDict()
        self._max_sites = max_sites
        self._lock = threading.Lock()

    def observe(
        self,
        site: Hashable,
        items: Sequence[Any],
        *,
        tools_key: str,
        tools_tokens: int,
        block_of: Callable[[Any], Block],
        count: Callable[[Block], int],
    ) -> PromptCount:
        """Split and count ``items``, reusing the last prompt's leading blocks.

        Args:
            site: Where the call was made, e.g. ``(thread_id, node_path, model)``.
            items: The prompt's messages (or strings), in order.
            tools_key: The tool definitions sent, serialized deterministically.
            tools_tokens: Their tokens.
            block_of: Turns one item into its ``(role, text)`` block.
            count: Tokens of one block.
        """
        with self._lock:
            previous = self._last.get(site)
        known = previous.by_identity() if previous else {}
        blocks: list[Block] = []
        tokens: list[int] = []
        for item in items:
            seen = known.get(id(item))
            if seen is not None and seen[0] is item:
                blocks.append(seen[1])
                tokens.append(seen[2])
            else:
                block = block_of(item)
                blocks.append(block)
                tokens.append(count(block))

        shared = _shared_tokens(previous, tools_key, tools_tokens, blocks, tokens)
        with self._lock:
            self._last.pop(site, None)
            self._last[site] = _Seen(tools_key, list(items), blocks, tokens)
            if len(self._last) > self._max_sites:
                self._last.popitem(last=False)
        return PromptCount(items, blocks, tokens, shared)


def _shared_tokens(
    previous: _Seen | None,
    tools_key: str,
    tools_tokens: int,
    blocks: Sequence[Block],
    tokens: Sequence[int],
) -> int:
    if previous is None or previous.tools_key != tools_key:
        return 0
    shared = tools_tokens
    for old, new, count in zip(previous.blocks, blocks, tokens, strict=False):
        if old is not new and old != new:
            break
        shared += count
    return shared
