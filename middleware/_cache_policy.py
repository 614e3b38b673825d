"""Where Anthropic cache breakpoints go: the policy shared by both request forms."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "DEFAULT_MIN_CACHEABLE_TOKENS",
    "MAX_BREAKPOINTS",
    "BreakpointRole",
    "CacheBreakpoint",
    "CacheSection",
    "CacheTTL",
    "Slot",
    "Turn",
    "anthropic_min_cacheable_tokens",
    "cache_control",
    "choose_breakpoints",
    "keep_within_limit",
    "ttl_of",
]

MAX_BREAKPOINTS = 4
"""Anthropic accepts at most this many `cache_control` breakpoints per request."""

DEFAULT_MIN_CACHEABLE_TOKENS = 1024
"""Minimum assumed for a model missing from the table."""

CacheSection = Literal["tools", "system", "messages"]
CacheTTL = Literal["5m", "1h"]
BreakpointRole = Literal["user", "auto", "tail", "previous_tail", "system", "tools"]
Turn = Literal["user", "assistant", "other"]

_SECTIONS: dict[str, int] = {"tools": 0, "system": 1, "messages": 2}
_TTL_RANK: dict[str, int] = {"5m": 0, "1h": 1}

_MIN_CACHEABLE: dict[str, int] = {
    "opus 5": 512,
    "fable 5.1": 512,
    "mythos 5.1": 512,
    "opus 4.8": 1024,
    "sonnet 5": 1024,
    "sonnet 4.6": 1024,
    "sonnet 4.5": 1024,
    "opus 4.1": 1024,
    "opus 4": 1024,
    "sonnet 4": 1024,
    "opus 4.7": 2048,
    "mythos preview": 2048,
    "haiku 3.5": 2048,
    "haiku 3": 2048,
    "opus 4.6": 4096,
    "opus 4.5": 4096,
    "haiku 4.5": 4096,
}
_FAMILIES = frozenset({"opus", "sonnet", "haiku", "fable", "mythos"})
_SUFFIX = re.compile(r"(?:-v\d+(?::\d+)?|[-@]\d{8}|-latest)+$")


@dataclass(frozen=True)
class CacheBreakpoint:
    """A `cache_control` marker of a request, found or placed.

    Positions are in the form the layout was given: for a wire payload,
    `index` is the tool, system block or message index and `block` the
    content block within a message; for LangChain messages, `index` is the
    system message or message index and `block` its content block.
    """

    section: CacheSection
    """The part of the request it is in: tools, system or messages."""
    index: int
    """Tool, system or message index."""
    block: int
    """Content block within the message or system message; 0 otherwise."""
    role: BreakpointRole
    """Who set it and why: `user`, `auto` (top-level `cache_control`), or the
    layout's `tools`, `system`, `previous_tail` or `tail`."""
    ttl: CacheTTL
    """`5m` or `1h`."""
    prefix_tokens: int
    """Estimated tokens of the prefix it closes (tools, system, messages)."""

    @property
    def position(self) -> tuple[int, int, int]:
        """Its place in prefix order: tools, then system, then messages."""
        return (_SECTIONS[self.section], self.index, self.block)


def cache_control(ttl: CacheTTL) -> dict[str, str]:
    """The `cache_control` value for a TTL (5 minutes is the API default)."""
    if ttl == "1h":
        return {"type": "ephemeral", "ttl": "1h"}
    return {"type": "ephemeral"}


def ttl_of(marker: Any) -> CacheTTL:
    """The TTL of an existing `cache_control` value."""
    if isinstance(marker, dict) and marker.get("ttl") == "1h":
        return "1h"
    return "5m"


def anthropic_min_cacheable_tokens(model: str | None) -> int | None:
    """The minimum prefix an Anthropic model caches, from PROVIDERS.md §3.

    Args:
        model: A model id such as `claude-sonnet-4-6`, `claude-3-5-haiku-20241022`
            or a Bedrock / Vertex id containing one.

    Returns:
        The minimum in tokens, or `None` for a model not in the table.
    """
    if not model:
        return None
    name = model.lower()
    if "claude" in name:
        name = name[name.index("claude") + len("claude") :]
    parts = [part for part in _SUFFIX.sub("", name).split("-") if part]
    family = next((part for part in parts if part in _FAMILIES), None)
    if family is None:
        return None
    numbers = [part for part in parts if part.isdigit()]
    version = "preview" if "preview" in parts else ".".join(numbers)
    return _MIN_CACHEABLE.get(f"{family} {version}")


def keep_within_limit(
    existing: Sequence[CacheBreakpoint],
) -> tuple[list[CacheBreakpoint], list[CacheBreakpoint]]:
    """Split existing markers into those kept and those dropped over the limit.

    Keeps the first three (the stable prefix the user chose to cache) and the
    last one (the longest prefix).

    Args:
        existing: The request's markers, in prefix order.

    Returns:
        `(kept, dropped)`.
    """
    ordered = sorted(existing, key=lambda marker: marker.position)
    if len(ordered) <= MAX_BREAKPOINTS:
        return ordered, []
    kept = [*ordered[: MAX_BREAKPOINTS - 1], ordered[-1]]
    return kept, ordered[MAX_BREAKPOINTS - 1 : -1]


def choose_breakpoints(
    existing: Sequence[CacheBreakpoint],
    candidates: Iterable[CacheBreakpoint],
    *,
    min_tokens: int,
) -> list[CacheBreakpoint]:
    """Pick the candidates to mark, in priority order, within the limit of four.

    A candidate is skipped when its block is already marked, its prefix is
    below `min_tokens` (Anthropic would silently not cache it), or its TTL
    would break the rule that longer TTLs come first in the prefix.

    Args:
        existing: Markers already in the request; they count toward the limit.
        candidates: Positions to mark, most valuable first.
        min_tokens: The model's minimum cacheable prefix.

    Returns:
        The chosen candidates, in priority order.
    """
    taken = list(existing)
    chosen: list[CacheBreakpoint] = []
    for candidate in candidates:
        if len(taken) >= MAX_BREAKPOINTS:
            break
        if _acceptable(candidate, taken, min_tokens):
            chosen.append(candidate)
            taken.append(candidate)
    return chosen


def _acceptable(
    candidate: CacheBreakpoint, taken: Sequence[CacheBreakpoint], min_tokens: int
) -> bool:
    if candidate.prefix_tokens < min_tokens:
        return False
    if any(marker.position == candidate.position for marker in taken):
        return False
    return all(_ttl_ordered(marker, candidate) for marker in taken)


def _ttl_ordered(marker: CacheBreakpoint, candidate: CacheBreakpoint) -> bool:
    if marker.position < candidate.position:
        return _TTL_RANK[marker.ttl] >= _TTL_RANK[candidate.ttl]
    return _TTL_RANK[marker.ttl] <= _TTL_RANK[candidate.ttl]


@dataclass(frozen=True)
class Slot:
    """A block of a request where a breakpoint could go."""

    section: CacheSection
    index: int
    block: int
    prefix_tokens: int
    """Tokens from the start of the request through this block."""
    cacheable: bool
    """Whether Anthropic accepts a marker here (not thinking, not empty text)."""
    marker: Any
    """The `cache_control` already on the block, or `None`."""
    turn: Turn
    """The role of the message holding it; `other` for tools and system."""


@dataclass(frozen=True)
class BreakpointPlan:
    """What the layout keeps, drops and adds."""

    kept: tuple[CacheBreakpoint, ...]
    """Markers already in the request that stay."""
    dropped: tuple[CacheBreakpoint, ...]
    """Markers already in the request over the limit of four, to remove."""
    added: tuple[CacheBreakpoint, ...]
    """Markers to place."""

    @property
    def breakpoints(self) -> tuple[CacheBreakpoint, ...]:
        """Every marker of the shaped request, in prefix order."""
        every = [*self.kept, *self.added]
        return tuple(sorted(every, key=lambda marker: marker.position))


def plan_breakpoints(
    slots: Sequence[Slot],
    *,
    ttl: CacheTTL,
    min_tokens: int,
    auto_marker: Any = None,
) -> BreakpointPlan:
    """Decide the breakpoints of a request described by its slots.

    Priority: the conversation tail (written this turn), the previous tail
    (written last turn, read now), the end of the system prompt, the last
    tool. Markers the user set stay and count toward the limit of four, and
    so does a top-level `cache_control` (which marks the tail itself).

    Args:
        slots: Every block of the request, in prefix order.
        ttl: TTL for the markers added.
        min_tokens: The model's minimum cacheable prefix.
        auto_marker: The request's top-level `cache_control`, if any.

    Returns:
        The plan.
    """
    existing = [_found(slot) for slot in slots if slot.marker is not None]
    auto = _auto(slots, auto_marker)
    kept, dropped = keep_within_limit([*existing, *([auto] if auto else [])])

    candidates = _candidates(slots, ttl)
    if auto is not None:
        candidates = [c for c in candidates if c.role != "tail"]
    added = choose_breakpoints(kept, candidates, min_tokens=min_tokens)
    return BreakpointPlan(tuple(kept), tuple(dropped), tuple(added))


def _found(slot: Slot) -> CacheBreakpoint:
    return _at(slot, "user", ttl_of(slot.marker))


def _at(slot: Slot, role: BreakpointRole, ttl: CacheTTL) -> CacheBreakpoint:
    return CacheBreakpoint(
        slot.section, slot.index, slot.block, role, ttl, slot.prefix_tokens
    )


def _auto(slots: Sequence[Slot], marker: Any) -> CacheBreakpoint | None:
    if marker is None:
        return None
    messages = [slot for slot in slots if slot.section == "messages"]
    cacheable = [slot for slot in messages if slot.cacheable]
    # With no block able to carry it, count it where it would land anyway:
    # overcounting costs a slot, undercounting a rejected request.
    landing = cacheable or messages
    if not landing:
        return None
    return _at(landing[-1], "auto", ttl_of(marker))


def _candidates(slots: Sequence[Slot], ttl: CacheTTL) -> list[CacheBreakpoint]:
    tail = _last_user_turn(slots, len(slots))
    previous = None
    if tail is not None:
        previous = _last_user_turn(slots, _last_assistant(slots, tail.index))
    system = _last_cacheable(slot for slot in slots if slot.section == "system")
    tools = _last_cacheable(slot for slot in slots if slot.section == "tools")

    found = [
        (tail, "tail"),
        (previous, "previous_tail"),
        (system, "system"),
        (tools, "tools"),
    ]
    return [_at(slot, role, ttl) for slot, role in found if slot is not None]  # type: ignore[arg-type]


def _last_user_turn(slots: Sequence[Slot], before: int) -> Slot | None:
    for slot in reversed(slots):
        if slot.section != "messages" or slot.index >= before:
            continue
        if slot.turn == "user" and slot.cacheable:
            return slot
    return None


def _last_assistant(slots: Sequence[Slot], before: int) -> int:
    for slot in reversed(slots):
        in_range = slot.section == "messages" and slot.index < before
        if in_range and slot.turn == "assistant":
            return slot.index
    return -1


def _last_cacheable(slots: Iterable[Slot]) -> Slot | None:
    last = None
    for slot in slots:
        if slot.cacheable:
            last = slot
    return last
