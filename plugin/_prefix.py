"""Predicts each call's cacheable prefix: what it shares with the previous call.

A provider can only serve from cache the leading part of a prompt that an
earlier request sent byte for byte. The best a caller can hope for is the
prefix shared with the previous call made from the same place (thread and
node), so that is the prediction; the provider's reported cache reads are
the outcome.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

__all__ = ["PrefixTracker"]


class PrefixTracker:
    """Remembers the last prompt seen at each site, as (block, tokens) pairs.

    Args:
        max_sites: How many sites to remember; the least recently used go.
    """

    def __init__(self, *, max_sites: int = 10_000) -> None:
        self._last: OrderedDict[Hashable, tuple[Sequence[Any], Sequence[int]]] = (
            OrderedDict()
        )
        self._max_sites = max_sites
        self._lock = threading.Lock()

    def observe(
        self, site: Hashable, blocks: Sequence[Any], tokens: Sequence[int]
    ) -> int:
        """Record this prompt; return the tokens it shares with the last one.

        Args:
            site: Where the call was made, e.g. ``(thread_id, node_path)``.
            blocks: The prompt's blocks in order (tool definitions, then each
                message), each comparable (e.g. role and text).
            tokens: The token count of each block.
        """
        with self._lock:
            previous = self._last.pop(site, None)
            self._last[site] = (blocks, tokens)
            if len(self._last) > self._max_sites:
                self._last.popitem(last=False)
        if previous is None:
            return 0
        return _shared_tokens(previous[0], blocks, tokens)


def _shared_tokens(
    before: Sequence[str], now: Sequence[str], tokens: Sequence[int]
) -> int:
    shared = 0
    for old, new, count in zip(before, now, tokens, strict=False):
        if old is not new and old != new:
            break
        shared += count
    return shared
