"""Windows over a history that keep its pinned head and a safe tail."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages import BaseMessage, HumanMessage

from ._counting import MessageTokenCounter, count_message_tokens
from ._history import leading_system_count, safe_cut_points, tool_call_spans

__all__ = ["WindowMeasure", "WindowPlan"]


@dataclass(frozen=True)
class WindowPlan:
    """The ways a history may be cut.

    A window keeps `history[:pinned]`, the first human message when asked
    (and not already in the tail), and `history[cut:end]` for safe `cut` and
    `end`. Every such window is a valid history when `history` is.
    """

    history: list[BaseMessage]
    pinned: int
    """Leading system messages that every window keeps."""
    first_human: int | None
    """Index of the first human message kept in every window, if asked."""
    cuts: list[int]
    """Safe cut points from `pinned` to `len(history)`, increasing."""

    @classmethod
    def of(
        cls,
        messages: Sequence[BaseMessage],
        *,
        keep_system: bool,
        keep_first_human: bool,
    ) -> WindowPlan:
        """Plan the windows of a history, validating it first.

        Args:
            messages: The history.
            keep_system: Whether the leading system messages are pinned.
            keep_first_human: Whether the first human message is pinned.

        Returns:
            The plan.

        Raises:
            InvalidHistoryError: If the history pairs tool calls wrongly.
        """
        history = list(messages)
        spans = tool_call_spans(history)
        pinned = leading_system_count(history) if keep_system else 0
        first_human = _first_human(history, pinned) if keep_first_human else None
        cuts = safe_cut_points(history, spans, pinned)
        return cls(history, pinned, first_human, cuts)

    def window(self, cut: int, end: int | None = None) -> list[BaseMessage]:
        """The messages kept when cutting at `cut` and stopping at `end`."""
        stop = len(self.history) if end is None else end
        head = self.history[: self.pinned]
        if self.first_human is not None and self.first_human < min(cut, stop):
            head = [*head, self.history[self.first_human]]
        return [*head, *self.history[cut:stop]]

    def cuts_between(self, low: int, high: int) -> list[int]:
        """The safe cut points `c` with `low <= c <= high`."""
        start = bisect.bisect_left(self.cuts, low)
        stop = bisect.bisect_right(self.cuts, high)
        return self.cuts[start:stop]


class WindowMeasure:
    """Counts the tokens of a plan's windows.

    With the default counter, per-message counts are summed from prefix sums;
    a custom counter is called on the window itself, which is always valid.
    """

    def __init__(
        self, plan: WindowPlan, token_counter: MessageTokenCounter | None
    ) -> None:
        """Prepare to measure `plan`'s windows with `token_counter`."""
        self._plan = plan
        self._counter = token_counter
        self._sums: list[int] = []
        if token_counter is None:
            counts = [count_message_tokens(message) for message in plan.history]
            self._sums = [0, *itertools.accumulate(counts)]

    def tokens(self, cut: int, end: int | None = None) -> int:
        """Tokens of `plan.window(cut, end)`."""
        if self._counter is not None:
            return self._counter(self._plan.window(cut, end))
        stop = len(self._plan.history) if end is None else end
        total = self._sums[self._plan.pinned] + self._sums[stop] - self._sums[cut]
        first_human = self._plan.first_human
        if first_human is not None and first_human < min(cut, stop):
            total += self._sums[first_human + 1] - self._sums[first_human]
        return total

    def smallest_fitting_cut(
        self, cuts: Sequence[int], limit: int, end: int | None = None
    ) -> int | None:
        """The first cut in `cuts` whose window fits `limit`, by binary search.

        Assumes a window never grows when its cut moves later, which holds
        for any counter that adds up per-message costs.

        Args:
            cuts: Candidate cut points, increasing.
            limit: The token limit, inclusive.
            end: Where the windows stop; `None` for the end of the history.

        Returns:
            The cut, or `None` when no candidate fits.
        """
        low, high = 0, len(cuts)
        while low < high:
            middle = (low + high) // 2
            if self.tokens(cuts[middle], end) <= limit:
                high = middle
            else:
                low = middle + 1
        return cuts[low] if low < len(cuts) else None


def _first_human(history: Sequence[BaseMessage], start: int) -> int | None:
    for index in range(start, len(history)):
        if isinstance(history[index], HumanMessage):
            return index
    return None
