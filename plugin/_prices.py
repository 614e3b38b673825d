"""Prices of model calls, from genai-prices' bundled data and user overrides.

Model names are resolved the way a LangChain user writes them
(``openai:gpt-4.1``, ``openai/gpt-4.1``, dated snapshots, Bedrock ids such as
``us.anthropic.claude-sonnet-4-5-20250929-v1:0``, aliases for Azure
deployments). A name that cannot be resolved is never priced as a
neighbour: its cost is ``None`` and a warning names it once.
"""

from __future__ import annotations

import re
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import genai_prices
from genai_prices import data_snapshot
from genai_prices.types import TieredPrices, calc_unit_price

from ._errors import ConfigurationError, UnpricedModelWarning
from ._usage import TokenUsage

__all__ = ["CallCost", "ModelPrice", "PriceBook"]

_PER_MILLION = 1_000_000
_GENAI_SOURCE = f"genai-prices {genai_prices.__version__}"

# LangChain's init_chat_model provider names, mapped to genai-prices' ids.
_PROVIDER_IDS = {
    "openai": "openai",
    "azure_openai": "azure",
    "azure": "azure",
    "anthropic": "anthropic",
    "google_genai": "google",
    "google_vertexai": "google",
    "google": "google",
    "gemini": "google",
    "vertex_ai": "google",
    "bedrock": "aws",
    "bedrock_converse": "aws",
    "aws": "aws",
    "mistralai": "mistral",
    "mistral": "mistral",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x-ai",
    "x-ai": "x-ai",
    "cohere": "cohere",
    "fireworks": "fireworks",
    "together": "together",
    "openrouter": "openrouter",
}
_BEDROCK_ID = re.compile(
    r"^(?:(?:us|eu|apac|ap|jp|au|ca|us-gov|global)\.)?"
    r"(?P<vendor>anthropic|meta|amazon|mistral|cohere|ai21|deepseek|openai|qwen)\."
    r"(?P<model>.+?)(?:-v\d+(?::\d+)?)?$"
)
_DATE_SUFFIX = re.compile(r"-(?:\d{4}-\d{2}-\d{2}|\d{8})$")
# What may follow a genai-prices name prefix and still be the same model: dated
# snapshots, -latest, preview dates, version tags; not "-turbo", "0" or "-foo".
_SNAPSHOT_SUFFIX = re.compile(
    r"(?:[-@](?:\d{8}|\d{4}-\d{2}-\d{2}|latest|preview(?:-\d{2}-\d{2,4})?"
    r"|v\d+(?::\d+)?|exp(?:-\d{4})?|\d{3}))*"
)

Rate = Decimal | TieredPrices


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Prices of one model in USD per million tokens.

    A field left ``None`` falls back to genai-prices' data for the model; for
    a model genai-prices does not know, cache reads and writes left ``None``
    are billed at the input rate (no cache discount) and 1-hour writes at the
    5-minute write rate.

    Attributes:
        input: Uncached prompt tokens.
        output: Output tokens, reasoning included.
        cache_read: Prompt tokens read from the provider's cache.
        cache_write: Prompt tokens written to a 5-minute cache.
        cache_write_1h: Prompt tokens written to a 1-hour cache.
    """

    input: Decimal | None = None
    output: Decimal | None = None
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None
    cache_write_1h: Decimal | None = None

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value is None:
                continue
            amount = _to_decimal(value, field.name)
            object.__setattr__(self, field.name, amount)


def _to_decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise ConfigurationError(
            f"ModelPrice.{name} must be a Decimal (USD per million tokens), "
            f"got {value!r}"
        )
    try:
        amount = Decimal(str(value))
    except ArithmeticError as error:
        raise ConfigurationError(
            f"ModelPrice.{name} is not a number: {value!r}"
        ) from error
    if not amount.is_finite() or amount < 0:
        raise ConfigurationError(
            f"ModelPrice.{name} must be a finite amount >= 0, got {value!r}"
        )
    return amount


@dataclass(frozen=True, slots=True)
class CallCost:
    """The dollar cost of one call, by part. Parts sum to ``total``.

    Attributes:
        input: Uncached prompt tokens.
        cache_read: Cache reads.
        cache_write: Cache writes, 5-minute and 1-hour.
        output: Output, reasoning included.
        total: The sum of the parts.
        model_id: The canonical model the price came from.
        source: Where the rates came from: ``"override"``,
            ``"genai-prices <version>"`` or both joined by ``+``.
    """

    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal
    total: Decimal
    model_id: str
    source: str


@dataclass(frozen=True, slots=True)
class _Rates:
    model_id: str
    source: str
    input: Rate
    output: Rate
    cache_read: Rate
    cache_write: Rate
    cache_write_1h: Rate
    genai_model: Any = None


class PriceBook:
    """Resolves model names and prices calls.

    Args:
        overrides: Prices by model name, taking precedence over genai-prices;
            a field left ``None`` falls back to genai-prices' data.
        aliases: Names to resolve as other names, e.g. an Azure deployment
            name to the model it serves: ``{"prod-gpt": "gpt-4.1"}``.
        use_genai_prices: Set to ``False`` to price only the overrides.

    Raises:
        ConfigurationError: An override of a model genai-prices does not know
            lacks its input or output price.
    """

    def __init__(
        self,
        *,
        overrides: Mapping[str, ModelPrice] | None = None,
        aliases: Mapping[str, str] | None = None,
        use_genai_prices: bool = True,
    ) -> None:
        self._overrides = {_key(name): p for name, p in (overrides or {}).items()}
        self._aliases = {_key(name): target for name, target in (aliases or {}).items()}
        self._use_genai = use_genai_prices
        self._resolved: dict[tuple[str, str | None], _Rates | None] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()
        self._check_overrides()

    def _check_overrides(self) -> None:
        for name, price in self._overrides.items():
            if not isinstance(price, ModelPrice):
                raise ConfigurationError(
                    f"override for {name!r} must be a ModelPrice, got {price!r}"
                )
            if price.input is not None and price.output is not None:
                continue
            if self._genai_lookup(name, None) is None:
                missing = "input" if price.input is None else "output"
                raise ConfigurationError(
                    f"override for {name!r} has no {missing} price and "
                    "genai-prices does not know the model to fill it in"
                )

    def is_priced(self, model: str | None, provider: str | None = None) -> bool:
        """Whether calls to ``model`` can be priced."""
        return self._rates(model, provider) is not None

    def model_id(self, model: str | None, provider: str | None = None) -> str | None:
        """The canonical id ``model`` resolves to, or ``None``."""
        rates = self._rates(model, provider)
        return rates.model_id if rates else None

    def cost(
        self,
        model: str | None,
        usage: TokenUsage,
        *,
        provider: str | None = None,
        at: datetime | None = None,
    ) -> CallCost | None:
        """Price one call; ``None`` (with a warning once per model) if unpriced.

        The tier of a tiered (long-context) price is decided by the whole
        prompt of this request, cache reads and writes included.
        """
        rates = self._rates(model, provider)
        if rates is None:
            self._warn_unpriced(model)
            return None
        if usage.service_tier and rates.genai_model is not None:
            rates = self._tier_rates(rates, usage.service_tier, at)

        prompt = usage.input_tokens
        write_1h = _part(rates.cache_write_1h, usage.cache_write_1h_tokens, prompt)
        parts = {
            "input": _part(rates.input, usage.uncached_input_tokens, prompt),
            "cache_read": _part(rates.cache_read, usage.cache_read_tokens, prompt),
            "cache_write": _part(rates.cache_write, usage.cache_write_5m_tokens, prompt)
            + write_1h,
            "output": _part(rates.output, usage.output_tokens, prompt),
        }
        return CallCost(
            **parts,
            total=sum(parts.values(), Decimal(0)),
            model_id=rates.model_id,
            source=rates.source,
        )

    def estimate(
        self,
        model: str | None,
        *,
        input_tokens: int,
        output_tokens: int,
        provider: str | None = None,
    ) -> Decimal | None:
        """The cost of a call not yet sent, all input taken as uncached."""
        usage = TokenUsage(input_tokens=input_tokens, output_tokens=output_tokens)
        rates = self._rates(model, provider)
        if rates is None:
            return None
        return self.cost(model, usage, provider=provider).total  # type: ignore[union-attr]

    def _warn_unpriced(self, model: str | None) -> None:
        name = model or "<unknown model>"
        with self._lock:
            if name in self._warned:
                return
            self._warned.add(name)
        warnings.warn(
            f"no price is known for model {name!r}: its calls are recorded with "
            "cost=None. Add PriceBook(overrides={...: ModelPrice(...)}) or an "
            "alias to a known model to price them.",
            UnpricedModelWarning,
            stacklevel=3,
        )

    def _rates(self, model: str | None, provider: str | None) -> _Rates | None:
        if not model:
            return None
        key = (model, provider)
        if key not in self._resolved:
            rates = self._resolve(model, provider)
            with self._lock:
                self._resolved[key] = rates
        return self._resolved[key]

    def _resolve(self, model: str, provider: str | None) -> _Rates | None:
        candidates = _candidates(model, provider, self._aliases)
        override_name, override = next(
            (
                (name, self._overrides[_key(name)])
                for name, _ in candidates
                if _key(name) in self._overrides
            ),
            (None, None),
        )
        genai = None
        if self._use_genai:
            genai = next(
                (
                    found
                    for name, hint in candidates
                    if (found := self._genai_lookup(name, hint)) is not None
                ),
                None,
            )
        if override is None and genai is None:
            return None
        return _merge(override_name or model, override, genai)

    def _genai_lookup(self, name: str, provider: str | None) -> Any:
        snapshot = data_snapshot.get_snapshot()
        provider_ids = [_PROVIDER_IDS.get(provider or ""), None]
        for provider_id in dict.fromkeys(provider_ids):
            try:
                model = snapshot.find_provider_model(name, None, provider_id, None)[1]
            except LookupError:
                continue
            return model if _same_model(model.match, name.lower()) else None
        return None

    def _tier_rates(
        self, rates: _Rates, service_tier: str, at: datetime | None
    ) -> _Rates:
        when = at or datetime.now(tz=UTC)
        prices = rates.genai_model.get_prices(when, {"service_tier": service_tier})
        return _Rates(
            model_id=rates.model_id,
            source=f"{rates.source} ({service_tier})",
            input=prices.input_mtok or rates.input,
            output=prices.output_mtok or rates.output,
            cache_read=prices.cache_read_mtok or rates.cache_read,
            cache_write=prices.cache_write_mtok or rates.cache_write,
            cache_write_1h=prices.cache_write_1h_mtok or rates.cache_write_1h,
            genai_model=rates.genai_model,
        )


def _same_model(match: Any, name: str) -> bool:
    """Whether genai-prices matched ``name`` as the model itself, not a neighbour.

    Its prefix rules would take ``claude-sonnet-4-60`` or ``gemini-2.5-pro-foo``
    for a known model; only a dated snapshot or version tag may follow a
    prefix here.
    """
    equals, prefixes = _clauses(match)
    if name in equals:
        return True
    tails = [name[len(prefix) :] for prefix in prefixes if name.startswith(prefix)]
    if not tails:
        return not equals and not prefixes  # regex-only rules: trust them
    return any(_SNAPSHOT_SUFFIX.fullmatch(tail) for tail in tails)


def _clauses(match: Any) -> tuple[set[str], list[str]]:
    equals: set[str] = set()
    prefixes: list[str] = []
    pending = [match]
    while pending:
        clause = pending.pop()
        if isinstance(getattr(clause, "equals", None), str):
            equals.add(clause.equals.lower())
        if isinstance(getattr(clause, "starts_with", None), str):
            prefixes.append(clause.starts_with.lower())
        pending.extend(getattr(clause, "or_", None) or ())
        pending.extend(getattr(clause, "and_", None) or ())
    return equals, prefixes


def _merge(name: str, override: ModelPrice | None, genai: Any) -> _Rates:
    known: dict[str, Rate | None] = dict.fromkeys(
        ("input", "output", "cache_read", "cache_write", "cache_write_1h")
    )
    sources = []
    if genai is not None:
        prices = genai.get_prices(datetime.now(tz=UTC))
        known["input"] = prices.input_mtok
        known["output"] = prices.output_mtok
        known["cache_read"] = prices.cache_read_mtok
        known["cache_write"] = prices.cache_write_mtok
        known["cache_write_1h"] = prices.cache_write_1h_mtok
        sources.append(_GENAI_SOURCE)
    if override is not None:
        for field in known:
            value = getattr(override, field)
            if value is not None:
                known[field] = value
        sources.insert(0, "override")

    input_rate = known["input"] or Decimal(0)
    cache_write = known["cache_write"] or input_rate
    return _Rates(
        model_id=genai.id if genai is not None else name,
        source="+".join(sources),
        input=input_rate,
        output=known["output"] or Decimal(0),
        cache_read=known["cache_read"] or input_rate,
        cache_write=cache_write,
        cache_write_1h=known["cache_write_1h"] or cache_write,
        genai_model=genai,
    )


def _part(rate: Rate, tokens: int, prompt_tokens: int) -> Decimal:
    if not tokens:
        return Decimal(0)
    return calc_unit_price(rate, tokens, prompt_tokens, _PER_MILLION)


def _key(name: str) -> str:
    return name.strip().lower()


def _candidates(
    model: str, provider: str | None, aliases: Mapping[str, str]
) -> list[tuple[str, str | None]]:
    """Names to try for ``model``, most specific first, each with a provider."""
    name = model.strip()
    name = aliases.get(_key(name), name)
    found: list[tuple[str, str | None]] = [(name, provider)]

    head, sep, tail = name.partition(":")
    if sep and _key(head) in _PROVIDER_IDS:
        name, provider = tail, _key(head)
        found.append((aliases.get(_key(name), name), provider))
    head, sep, tail = name.partition("/")
    if sep and _key(head) in _PROVIDER_IDS:
        name, provider = tail, _key(head)
        found.append((aliases.get(_key(name), name), provider))

    bedrock = _BEDROCK_ID.match(name)
    if bedrock:
        name, provider = bedrock["model"], bedrock["vendor"]
        found.append((name, provider))

    undated = _DATE_SUFFIX.sub("", name)
    if undated != name:
        found.append((undated, provider))
    return list(dict.fromkeys(found))
