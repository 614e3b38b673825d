"""Find the spans of a system prompt that change between calls of one node."""

from __future__ import annotations

import difflib
import re
import threading
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "VolatileKind",
    "VolatileSpan",
    "VolatileSpanTracker",
    "VolatileSplit",
    "find_volatile_spans",
]

VolatileKind = Literal["timestamp", "date", "time", "uuid", "number", "text"]

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_PATTERN = re.compile(
    "|".join(
        [
            r"(?P<uuid>\b[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}\b)",
            r"(?P<timestamp>\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?"
            r"(?:Z|[+-]\d{2}:?\d{2}\b)?|\b1\d{9}(?:\d{3})?\b)",
            rf"(?P<date>\b\d{{4}}-\d{{2}}-\d{{2}}\b|\b\d{{1,2}}/\d{{1,2}}/\d{{2,4}}\b"
            rf"|\b{_MONTH} \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}\b"
            rf"|\b\d{{1,2}} {_MONTH} \d{{4}}\b)",
            r"(?P<time>\b\d{1,2}:\d{2}(?::\d{2})?(?:\s?[AaPp][Mm])?\b)",
        ]
    )
)
_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


@dataclass(frozen=True)
class VolatileSpan:
    """A part of a prompt that changes, or looks like it will, between calls."""

    start: int
    """Offset of the first character, in the current prompt."""
    end: int
    """Offset after the last character; equals `start` where text was deleted."""
    text: str
    """The span's text in the current prompt."""
    kind: VolatileKind
    """What it looks like: a timestamp, date, time, UUID, number, or other text."""
    observed: bool
    """True if it differs from the previous prompt; False if only its shape
    (a date, a UUID) predicts that it will."""


@dataclass(frozen=True)
class VolatileSplit:
    """A system prompt split into its stable lines and its volatile lines."""

    stable: str
    """The prompt without the volatile lines, for the cached prefix."""
    volatile: str
    """The volatile lines, to send after the stable prefix; empty if none."""
    spans: tuple[VolatileSpan, ...]
    """The spans found in the prompt, positions in the original text."""


def find_volatile_spans(
    current: str, previous: str | None = None
) -> tuple[VolatileSpan, ...]:
    """Find the spans of `current` that changed since `previous` or look volatile.

    Timestamps, dates, times and UUIDs are reported even without a previous
    prompt (`observed=False`). With one, every changed span is reported
    (`observed=True`), widened to the whole timestamp or date it falls in.

    Args:
        current: The system prompt of this call.
        previous: The system prompt of the previous call of the same node.

    Returns:
        Non-overlapping spans, ordered by position.
    """
    shaped = [_shaped_span(match) for match in _PATTERN.finditer(current)]
    if previous is None or previous == current:
        return tuple(shaped)

    changed = [_widen(span, shaped, current) for span in _changed(previous, current)]
    return _merge([*shaped, *changed], current)


def _shaped_span(match: re.Match[str]) -> VolatileSpan:
    kind = match.lastgroup or "text"
    start, end = match.span()
    return VolatileSpan(start, end, match.group(), kind, observed=False)  # type: ignore[arg-type]


def _changed(previous: str, current: str) -> list[tuple[int, int]]:
    old = _TOKEN.findall(previous)
    new = _TOKEN.findall(current)
    head = _common_prefix(old, new)
    tail = _common_prefix(old[head:][::-1], new[head:][::-1])
    offsets = [0]
    for token in new:
        offsets.append(offsets[-1] + len(token))

    matcher = difflib.SequenceMatcher(
        None, old[head : len(old) - tail], new[head : len(new) - tail], autojunk=False
    )
    return [
        (offsets[head + new_start], offsets[head + new_end])
        for tag, _, _, new_start, new_end in matcher.get_opcodes()
        if tag != "equal"
    ]


def _common_prefix(first: list[str], second: list[str]) -> int:
    length = 0
    for one, other in zip(first, second, strict=False):
        if one != other:
            break
        length += 1
    return length


def _widen(
    change: tuple[int, int], shaped: list[VolatileSpan], current: str
) -> VolatileSpan:
    start, end = change
    kind: VolatileKind = "number" if current[start:end].strip().isdigit() else "text"
    for span in shaped:
        if span.start <= end and start <= span.end and span.start < span.end:
            start, end, kind = min(start, span.start), max(end, span.end), span.kind
    return VolatileSpan(start, end, current[start:end], kind, observed=True)


def _merge(spans: list[VolatileSpan], current: str) -> tuple[VolatileSpan, ...]:
    merged: list[VolatileSpan] = []
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if merged and _touches(merged[-1], span):
            span = _join(merged.pop(), span, current)
        merged.append(span)
    return tuple(merged)


def _touches(first: VolatileSpan, second: VolatileSpan) -> bool:
    return second.start < first.end or second.start == first.start


def _join(first: VolatileSpan, second: VolatileSpan, current: str) -> VolatileSpan:
    end = max(first.end, second.end)
    kind = first.kind if first.kind not in ("text", "number") else second.kind
    observed = first.observed or second.observed
    return VolatileSpan(first.start, end, current[first.start : end], kind, observed)


class VolatileSpanTracker:
    """Remembers each node's system prompts and splits off what changes.

    A line is volatile once it held a volatile span or differed from an
    earlier prompt of the same key, and stays volatile afterwards, so the
    stable part does not flip back and forth between calls. Safe to share
    between threads.
    """

    def __init__(self) -> None:
        """Start with no prompts seen."""
        self._previous: dict[str, str] = {}
        self._stable_lines: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()

    def observe(self, key: str, prompt: str) -> tuple[VolatileSpan, ...]:
        """Record `prompt` for `key` and return its spans; see `split`."""
        return self.split(key, prompt).spans

    def split(self, key: str, prompt: str) -> VolatileSplit:
        """Record `prompt` for `key` and split it into stable and volatile lines.

        Args:
            key: The agent and node the prompt belongs to.
            prompt: The system prompt of this call.

        Returns:
            The split; `stable` keeps the line order of `prompt`.
        """
        with self._lock:
            spans = find_volatile_spans(prompt, self._previous.get(key))
            lines = prompt.split("\n")
            volatile = _span_lines(prompt, spans)
            known = self._stable_lines.get(key)
            if known is not None:
                volatile |= {i for i, line in enumerate(lines) if line not in known}
            stable_now = {line for i, line in enumerate(lines) if i not in volatile}
            self._stable_lines[key] = frozenset(
                stable_now if known is None else stable_now & known
            )
            self._previous[key] = prompt

        stable = "\n".join(line for i, line in enumerate(lines) if i not in volatile)
        moved = "\n".join(line for i, line in enumerate(lines) if i in volatile)
        return VolatileSplit(stable, moved, spans)


def _span_lines(prompt: str, spans: tuple[VolatileSpan, ...]) -> set[int]:
    indices: set[int] = set()
    for span in spans:
        first = prompt.count("\n", 0, span.start)
        last = prompt.count("\n", 0, max(span.end - 1, span.start))
        indices.update(range(first, last + 1))
    return indices
