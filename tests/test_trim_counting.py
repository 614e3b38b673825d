"""The default token counter: tiktoken `o200k_base`, cached, chars/4 fallback."""

from __future__ import annotations

import warnings

import pytest
import tiktoken
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from langgraph_tokenomics.middleware import (
    TokenizerFallbackWarning,
    count_message_tokens,
    count_text_tokens,
    count_tokens,
)
from langgraph_tokenomics.middleware._counting import _count_key, _Tokenizer


def test_text_is_counted_with_o200k() -> None:
    assert count_text_tokens("hello world") == 2


def test_a_message_adds_four_tokens_of_framing() -> None:
    assert count_message_tokens(HumanMessage("hello world")) == 6


def test_tool_call_name_and_arguments_are_counted() -> None:
    message = AIMessage(
        "", tool_calls=[{"name": "read_file", "args": {"path": "a.txt"}, "id": "c1"}]
    )

    assert count_message_tokens(message) == 19


def test_tool_use_blocks_mirroring_tool_calls_are_not_counted_twice() -> None:
    tool_call = {"name": "read_file", "args": {"path": "a.txt"}, "id": "c1"}
    block = {"type": "tool_use", "name": "read_file", "input": {"path": "a.txt"}}
    message = AIMessage([{**block, "id": "c1"}], tool_calls=[tool_call])

    assert count_message_tokens(message) == 19


def test_an_image_block_counts_a_flat_thousand_tokens() -> None:
    image = {"type": "image", "base64": "A" * 100_000, "mime_type": "image/png"}
    message = HumanMessage([{"type": "text", "text": "hello world"}, image])

    assert count_message_tokens(message) == 1_006


def test_list_of_messages_sums_the_messages() -> None:
    messages = [HumanMessage("hello world"), ToolMessage("hello", tool_call_id="c1")]

    assert count_tokens(messages) == 11


def test_counting_the_same_message_again_hits_the_cache() -> None:
    message = HumanMessage("a message counted twice")
    count_message_tokens(message)
    hits = _count_key.cache_info().hits

    count_message_tokens(HumanMessage("a message counted twice"))

    assert _count_key.cache_info().hits == hits + 1


def failing_get_encoding(name: str) -> object:
    raise OSError("no network")


def test_without_an_encoding_counts_fall_back_to_chars_over_four(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tiktoken, "get_encoding", failing_get_encoding)
    tokenizer = _Tokenizer()

    with pytest.warns(TokenizerFallbackWarning, match="no network"):
        counted = tokenizer.count("abcdefghi")

    assert counted == 3


def test_the_fallback_is_warned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tiktoken, "get_encoding", failing_get_encoding)
    tokenizer = _Tokenizer()
    with pytest.warns(TokenizerFallbackWarning):
        tokenizer.count("first")

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tokenizer.count("second text") == 3
