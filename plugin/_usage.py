"""Token usage of one model call, read from whatever shape the provider sent.

LangChain's normalized ``usage_metadata`` is authoritative. Its
``input_tokens`` is the whole prompt (cache reads and writes included) and
its ``output_tokens`` includes reasoning. When it is absent, the raw usage
of the OpenAI, Anthropic, Gemini and Bedrock APIs is read from
``llm_output`` or ``response_metadata`` and brought to the same meaning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["TokenUsage", "usage_from_metadata", "usage_from_raw"]

_SERVICE_TIERS = ("priority", "flex")


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Tokens of one call, as disjoint parts plus the whole prompt.

    Attributes:
        input_tokens: The whole prompt: uncached input, cache reads and
            cache writes together.
        cache_read_tokens: Prompt tokens read from the provider's cache.
        cache_write_5m_tokens: Prompt tokens written to a 5-minute cache
            (also where a provider does not say the TTL).
        cache_write_1h_tokens: Prompt tokens written to a 1-hour cache.
        output_tokens: All output, reasoning included.
        reasoning_tokens: The reasoning part of ``output_tokens``.
        service_tier: ``"priority"`` or ``"flex"`` when the provider billed
            the call on that tier, else ``None``.
    """

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    service_tier: str | None = None

    @property
    def cache_write_tokens(self) -> int:
        """All cache writes, whatever their TTL."""
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def uncached_input_tokens(self) -> int:
        """Prompt tokens billed at the plain input rate."""
        return self.input_tokens - self.cache_read_tokens - self.cache_write_tokens

    @property
    def total_tokens(self) -> int:
        """Prompt and output together."""
        return self.input_tokens + self.output_tokens


def usage_from_metadata(usage_metadata: Mapping[str, Any]) -> TokenUsage:
    """Read LangChain's ``usage_metadata`` (the authoritative shape).

    Handles the 5-minute/1-hour write keys of langchain-anthropic (which set
    ``cache_creation`` to 0 when they are present), the ``priority_``/``flex_``
    keys of langchain-openai, and integrations that leave reasoning outside
    ``output_tokens`` (detected by ``total_tokens``).
    """
    input_details = usage_metadata.get("input_token_details") or {}
    output_details = usage_metadata.get("output_token_details") or {}
    tier = _service_tier(input_details, output_details)
    prefix = f"{tier}_" if tier else ""

    input_tokens = _int(usage_metadata.get("input_tokens"))
    output_tokens = _int(usage_metadata.get("output_tokens"))
    reasoning = _int(output_details.get("reasoning")) or _int(
        output_details.get(f"{prefix}reasoning")
    )
    cache_read = _int(input_details.get("cache_read")) or _int(
        input_details.get(f"{prefix}cache_read")
    )
    write_5m, write_1h = _cache_writes(input_details, prefix)

    total = usage_metadata.get("total_tokens")
    if (
        reasoning
        and total is not None
        and _int(total) == input_tokens + output_tokens + reasoning
    ):
        output_tokens += reasoning

    return TokenUsage(
        input_tokens=input_tokens,
        cache_read_tokens=cache_read,
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        output_tokens=output_tokens,
        reasoning_tokens=reasoning,
        service_tier=tier,
    )


def _service_tier(*details: Mapping[str, Any]) -> str | None:
    keys = [key for part in details for key in part]
    for tier in _SERVICE_TIERS:
        if any(key == tier or key.startswith(f"{tier}_") for key in keys):
            return tier
    return None


def _cache_writes(details: Mapping[str, Any], prefix: str) -> tuple[int, int]:
    write_5m = _int(details.get("ephemeral_5m_input_tokens"))
    write_1h = _int(details.get("ephemeral_1h_input_tokens"))
    if write_5m or write_1h:
        return write_5m, write_1h
    creation = _int(details.get("cache_creation")) or _int(
        details.get(f"{prefix}cache_creation")
    )
    return creation, 0


def usage_from_raw(
    usage: Mapping[str, Any], *, provider: str | None = None
) -> TokenUsage | None:
    """Read a provider's raw usage payload, or ``None`` if the shape is unknown.

    Args:
        usage: The usage object as the provider's API returned it (OpenAI chat
            completions or responses, Anthropic messages, Gemini
            ``usageMetadata``, Bedrock Converse).
        provider: A hint (``"anthropic"``, ``"openai"``, ...) used only where
            two shapes share key names.
    """
    for reader in (_gemini, _bedrock, _anthropic, _openai_chat, _openai_responses):
        result = reader(usage, provider)
        if result is not None:
            return result
    return None


def _openai_chat(usage: Mapping[str, Any], provider: str | None) -> TokenUsage | None:
    if "prompt_tokens" not in usage and "completion_tokens" not in usage:
        return None
    input_details = usage.get("prompt_tokens_details") or {}
    output_details = usage.get("completion_tokens_details") or {}
    return TokenUsage(
        input_tokens=_int(usage.get("prompt_tokens")),
        cache_read_tokens=_int(input_details.get("cached_tokens")),
        cache_write_5m_tokens=_int(input_details.get("cache_write_tokens")),
        output_tokens=_int(usage.get("completion_tokens")),
        reasoning_tokens=_int(output_details.get("reasoning_tokens")),
    )


def _openai_responses(
    usage: Mapping[str, Any], provider: str | None
) -> TokenUsage | None:
    if "input_tokens" not in usage and "output_tokens" not in usage:
        return None
    input_details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    return TokenUsage(
        input_tokens=_int(usage.get("input_tokens")),
        cache_read_tokens=_int(input_details.get("cached_tokens")),
        cache_write_5m_tokens=_int(input_details.get("cache_write_tokens")),
        output_tokens=_int(usage.get("output_tokens")),
        reasoning_tokens=_int(output_details.get("reasoning_tokens")),
    )


def _anthropic(usage: Mapping[str, Any], provider: str | None) -> TokenUsage | None:
    anthropic_keys = ("cache_read_input_tokens", "cache_creation_input_tokens")
    is_anthropic = any(key in usage for key in anthropic_keys) or (
        provider == "anthropic" and "input_tokens" in usage
    )
    if not is_anthropic:
        return None

    read = _int(usage.get("cache_read_input_tokens"))
    creation = usage.get("cache_creation") or {}
    write_5m = _int(creation.get("ephemeral_5m_input_tokens"))
    write_1h = _int(creation.get("ephemeral_1h_input_tokens"))
    if not (write_5m or write_1h):
        write_5m = _int(usage.get("cache_creation_input_tokens"))
    output_details = usage.get("output_tokens_details") or {}
    return TokenUsage(
        input_tokens=_int(usage.get("input_tokens")) + read + write_5m + write_1h,
        cache_read_tokens=read,
        cache_write_5m_tokens=write_5m,
        cache_write_1h_tokens=write_1h,
        output_tokens=_int(usage.get("output_tokens")),
        reasoning_tokens=_int(output_details.get("thinking_tokens")),
    )


def _gemini(usage: Mapping[str, Any], provider: str | None) -> TokenUsage | None:
    prompt = _first(usage, "promptTokenCount", "prompt_token_count")
    candidates = _first(usage, "candidatesTokenCount", "candidates_token_count")
    if prompt is None and candidates is None:
        return None
    tool_prompt = _first(
        usage, "toolUsePromptTokenCount", "tool_use_prompt_token_count"
    )
    thoughts = _int(_first(usage, "thoughtsTokenCount", "thoughts_token_count"))
    cached = _first(usage, "cachedContentTokenCount", "cached_content_token_count")
    return TokenUsage(
        input_tokens=_int(prompt) + _int(tool_prompt),
        cache_read_tokens=_int(cached),
        output_tokens=_int(candidates) + thoughts,
        reasoning_tokens=thoughts,
    )


def _bedrock(usage: Mapping[str, Any], provider: str | None) -> TokenUsage | None:
    if "inputTokens" not in usage and "outputTokens" not in usage:
        return None
    read = _int(usage.get("cacheReadInputTokens"))
    write = _int(usage.get("cacheWriteInputTokens"))
    return TokenUsage(
        input_tokens=_int(usage.get("inputTokens")) + read + write,
        cache_read_tokens=read,
        cache_write_5m_tokens=write,
        output_tokens=_int(usage.get("outputTokens")),
    )


def _first(usage: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if usage.get(key) is not None:
            return usage[key]
    return None


def _int(value: Any) -> int:
    return int(value) if value else 0
