"""Trimming with hysteresis: cut rarely and deep, so the cached prefix survives."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from langchain_core.messages import AIMessage, BaseMessage

from langgraph_tokenomics import PriceBook, TokenUsage
from langgraph_tokenomics._errors import ConfigurationError

from ._counting import MessageTokenCounter
from ._window import WindowMeasure, WindowPlan

__all__ = ["HysteresisTrim", "HysteresisTrimmer", "TrimCut", "cut_cost"]


@dataclass(frozen=True)
class TrimCut:
    """One cut made by a `HysteresisTrimmer`.

    Indices refer to the untrimmed history the trimmer was given.
    """

    at: int
    """History length when the window first passed the high watermark."""
    first_kept: int
    """Index of the first message kept after the pinned ones."""
    tokens_before: int
    """Tokens of the window just before the cut (above the high watermark)."""
    tokens_after: int
    """Tokens of the window just after the cut (at most the low watermark,
    unless nothing but the pinned messages fits)."""
    pinned_tokens: int
    """Tokens of the pinned messages, which stay cached across the cut."""
    summary_tokens: int = 0
    """Tokens of the summary message sent in place of the cut part, between
    the pinned messages and the window (0 without summarization). Not part of
    `tokens_after`, which the watermarks bound."""

    @property
    def removed_tokens(self) -> int:
        """Tokens the cut removed from every later request."""
        return self.tokens_before - self.tokens_after

    @property
    def rewritten_tokens(self) -> int:
        """Tokens the provider must write to its cache again after the cut.

        Everything after the pinned messages, the summary included, is a new
        prefix; `cut_cost` prices it.
        """
        return self.tokens_after - self.pinned_tokens + self.summary_tokens


@dataclass(frozen=True)
class HysteresisTrim:
    """The window a `HysteresisTrimmer` keeps, and the cuts that led to it."""

    messages: list[BaseMessage]
    """The messages to send."""
    tokens: int
    """Their token count."""
    cuts: tuple[TrimCut, ...]
    """Every cut over the history, oldest first."""

    def cuts_after(self, index: int) -> tuple[TrimCut, ...]:
        """The cuts triggered after the history held `index` messages."""
        return tuple(cut for cut in self.cuts if cut.at > index)


class HysteresisTrimmer:
    """Trim only past a high watermark, and then down to a low one.

    Between cuts the kept window only grows at its end, so every request
    repeats the previous one byte for byte and the provider's prompt cache
    keeps hitting. The trimmer holds no state: it replays the growth of the
    history, checking the watermark at every point where the history is
    complete (no unanswered tool call), so the same history always gives the
    same window, in any process, for any thread.
    """

    def __init__(
        self,
        *,
        high_watermark: int,
        low_watermark: int,
        token_counter: MessageTokenCounter | None = None,
        keep_system: bool = True,
        keep_first_human: bool = False,
    ) -> None:
        """Configure the watermarks.

        Args:
            high_watermark: Cut when the window passes this many tokens.
            low_watermark: Cut down to at most this many tokens.
            token_counter: As in `trim_messages_safe`.
            keep_system: As in `trim_messages_safe`.
            keep_first_human: As in `trim_messages_safe`.

        Raises:
            ValueError: If the watermarks are not `0 <= low <= high`.
        """
        if not 0 <= low_watermark <= high_watermark:
            msg = (
                "watermarks must satisfy 0 <= low <= high, got "
                f"low={low_watermark}, high={high_watermark}"
            )
            raise ConfigurationError(msg)
        self.high_watermark = high_watermark
        self.low_watermark = low_watermark
        self.token_counter = token_counter
        self.keep_system = keep_system
        self.keep_first_human = keep_first_human

    def __call__(self, messages: Sequence[BaseMessage]) -> list[BaseMessage]:
        """Return the messages to send; see `trim`."""
        return self.trim(messages).messages

    def trim(self, messages: Sequence[BaseMessage]) -> HysteresisTrim:
        """Replay the history's growth and return the window it ends with.

        Args:
            messages: A valid history.

        Returns:
            The kept messages, their tokens and the cuts made on the way.

        Raises:
            InvalidHistoryError: If `messages` pairs tool calls wrongly.
        """
        plan = WindowPlan.of(
            messages,
            keep_system=self.keep_system,
            keep_first_human=self.keep_first_human,
        )
        measure = WindowMeasure(plan, self.token_counter)

        cut = plan.pinned
        cuts: list[TrimCut] = []
        for end in plan.cuts:
            tokens = measure.tokens(cut, end)
            if end > cut and tokens > self.high_watermark:
                made = self._cut(plan, measure, cut, end, tokens)
                cuts.append(made)
                cut = made.first_kept

        kept = plan.window(cut)
        return HysteresisTrim(kept, measure.tokens(cut), tuple(cuts))

    def _cut(
        self,
        plan: WindowPlan,
        measure: WindowMeasure,
        cut: int,
        end: int,
        tokens: int,
    ) -> TrimCut:
        candidates = plan.cuts_between(cut + 1, end)
        new_cut = measure.smallest_fitting_cut(candidates, self.low_watermark, end)
        if new_cut is None:
            new_cut = end

        return TrimCut(
            at=end,
            first_kept=new_cut,
            tokens_before=tokens,
            tokens_after=measure.tokens(new_cut, end),
            pinned_tokens=measure.tokens(end, end),
        )


def last_call_length(messages: Sequence[BaseMessage]) -> int:
    """How many messages the previous model call was sent.

    In an agent loop the last assistant message answers the previous call,
    whose input was everything before it.

    Args:
        messages: The full history, system message(s) included.

    Returns:
        The index of the last `AIMessage`, or 0 when there is none.
    """
    for index in range(len(messages) - 1, -1, -1):
        if isinstance(messages[index], AIMessage):
            return index
    return 0


def cut_cost(
    cut: TrimCut, model: str, *, prices: PriceBook | None = None
) -> Decimal | None:
    """What a cut cost in cache writes, in USD.

    After a cut, the `rewritten_tokens` are written to the provider's cache
    (5-minute TTL) on the next call instead of being read from it. The cost
    of the cut is that write minus the read it replaces, both at the price
    tier of the whole prompt after the cut. It is paid once; `removed_tokens`
    are then saved on every later call. For a provider without cache writes
    (OpenAI) the write is billed as input.

    Example:
        On `claude-sonnet-4-6` (write $3.75, read $0.30 per million), a cut
        rewriting 10,000 tokens costs 10,000 x $3.45 / 1M = $0.0345.

    Args:
        cut: The cut, as reported by `ContextTrimMiddleware(on_cut=...)`.
        model: The model the trimmed calls go to, as `PriceBook` names it.
        prices: The prices to use; defaults to genai-prices' data.

    Returns:
        The extra cost, or `None` when the model has no known price (warned
        once with `UnpricedModelWarning`).
    """
    book = prices if prices is not None else _default_prices()
    prompt = cut.tokens_after + cut.summary_tokens
    rewritten = cut.rewritten_tokens
    written = book.cost(
        model,
        TokenUsage(
            input_tokens=prompt,
            cache_read_tokens=prompt - rewritten,
            cache_write_5m_tokens=rewritten,
        ),
    )
    read = book.cost(model, TokenUsage(input_tokens=prompt, cache_read_tokens=prompt))
    if written is None or read is None:
        return None
    return written.total - read.total


@functools.cache
def _default_prices() -> PriceBook:
    return PriceBook()
