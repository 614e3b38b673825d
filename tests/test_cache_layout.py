"""`layout_anthropic_request`: breakpoints on the wire payload, case 4 of issue 4."""

from __future__ import annotations

import copy
import json
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from langgraph_tokenomics.middleware import (
    CacheLayoutWarning,
    anthropic_min_cacheable_tokens,
    layout_anthropic_request,
)

EPHEMERAL = {"type": "ephemeral"}
ONE_HOUR = {"type": "ephemeral", "ttl": "1h"}


def tool(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"The {name} tool.",
        "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}},
        **extra,
    }


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def conversation() -> dict[str, Any]:
    return {
        "model": "claude-sonnet-4-6",
        "tools": [tool("grep"), tool("read_file")],
        "system": "You are a careful assistant.",
        "messages": [
            {"role": "user", "content": "Read a.txt"},
            {"role": "assistant", "content": "It says hello."},
            {"role": "user", "content": "And b.txt?"},
        ],
    }


def markers(layout_payload: dict[str, Any]) -> list[tuple[str, int, int]]:
    """Where a payload carries `cache_control`, found by walking it."""
    found = [
        ("tools", i, 0)
        for i, t in enumerate(layout_payload.get("tools") or [])
        if "cache_control" in t
    ]
    system = layout_payload.get("system")
    if isinstance(system, list):
        found += [
            ("system", i, 0) for i, b in enumerate(system) if "cache_control" in b
        ]
    for index, message in enumerate(layout_payload["messages"]):
        content = message["content"]
        if isinstance(content, list):
            found += [
                ("messages", index, b)
                for b, block in enumerate(content)
                if isinstance(block, dict) and "cache_control" in block
            ]
    if "cache_control" in layout_payload and layout_payload["messages"]:
        found.append(("auto", 0, 0))
    return found


def test_case_4_four_markers_already_set_means_nothing_is_added() -> None:
    payload = {
        "model": "claude-sonnet-4-6",
        "tools": [tool("grep"), tool("read_file", cache_control=EPHEMERAL)],
        "system": [
            text("Static instructions. " * 400, cache_control=ONE_HOUR),
            text("Team handbook. " * 400, cache_control=EPHEMERAL),
        ],
        "messages": [
            {"role": "user", "content": [text("Question?", cache_control=EPHEMERAL)]}
        ],
    }

    layout = layout_anthropic_request(payload)

    assert layout.added == ()
    assert layout.payload == payload
    assert [(m.role, m.ttl) for m in layout.breakpoints] == [
        ("user", "5m"),
        ("user", "1h"),
        ("user", "5m"),
        ("user", "5m"),
    ]


def test_a_fresh_request_gets_tail_previous_tail_system_and_tools() -> None:
    layout = layout_anthropic_request(conversation(), min_cacheable_tokens=0)

    placed = [(m.role, m.section, m.index, m.block) for m in layout.added]
    assert placed == [
        ("tail", "messages", 2, 0),
        ("previous_tail", "messages", 0, 0),
        ("system", "system", 0, 0),
        ("tools", "tools", 1, 0),
    ]


def test_string_content_becomes_a_marked_text_block() -> None:
    layout = layout_anthropic_request(conversation(), min_cacheable_tokens=0)

    assert layout.payload["system"] == [
        text("You are a careful assistant.", cache_control=EPHEMERAL)
    ]
    assert layout.payload["messages"][2]["content"] == [
        text("And b.txt?", cache_control=EPHEMERAL)
    ]


def test_below_the_model_minimum_nothing_is_marked() -> None:
    layout = layout_anthropic_request(conversation())

    assert (layout.min_tokens, layout.added) == (1024, ())


def test_only_prefixes_past_the_minimum_are_marked() -> None:
    payload = conversation()
    payload["messages"][2]["content"] = "long question " * 600

    layout = layout_anthropic_request(payload)

    assert [m.role for m in layout.added] == ["tail"]


def test_no_five_minute_marker_goes_before_a_user_one_hour_marker() -> None:
    payload = conversation()
    payload["system"] = [text("You are a careful assistant.", cache_control=ONE_HOUR)]

    layout = layout_anthropic_request(payload, min_cacheable_tokens=0)

    assert [m.role for m in layout.added] == ["tail", "previous_tail"]


def test_one_hour_markers_only_go_before_five_minute_ones() -> None:
    payload = conversation()
    payload["system"] = [text("You are a careful assistant.", cache_control=EPHEMERAL)]

    layout = layout_anthropic_request(payload, ttl="1h", min_cacheable_tokens=0)

    assert [(m.role, m.ttl) for m in layout.added] == [("tools", "1h")]


def test_more_than_four_user_markers_keep_the_first_three_and_the_last() -> None:
    payload = conversation()
    payload["tools"] = [tool(n, cache_control=EPHEMERAL) for n in ("a", "b", "c", "d")]
    payload["messages"][2]["content"] = [text("And b.txt?", cache_control=EPHEMERAL)]

    with pytest.warns(CacheLayoutWarning) as caught:
        layout = layout_anthropic_request(payload, min_cacheable_tokens=0)

    assert str(caught[0].message) == (
        "the request holds 5 cache_control breakpoints and Anthropic accepts 4; "
        "keeping the first three and the last"
    )
    assert markers(layout.payload) == [
        ("tools", 0, 0),
        ("tools", 1, 0),
        ("tools", 2, 0),
        ("messages", 2, 0),
    ]


def test_a_top_level_cache_control_takes_the_tail() -> None:
    payload = {**conversation(), "cache_control": EPHEMERAL}

    layout = layout_anthropic_request(payload, min_cacheable_tokens=0)

    assert [m.role for m in layout.breakpoints] == [
        "tools",
        "system",
        "previous_tail",
        "auto",
    ]


def test_tools_serialize_the_same_whatever_order_they_come_in() -> None:
    first = conversation()
    second = conversation()
    second["tools"] = [
        dict(reversed(list(t.items()))) for t in reversed(second["tools"])
    ]

    one = layout_anthropic_request(first, min_cacheable_tokens=0).payload["tools"]
    two = layout_anthropic_request(second, min_cacheable_tokens=0).payload["tools"]

    assert json.dumps(one) == json.dumps(two)


def test_the_input_payload_is_not_modified() -> None:
    payload = conversation()
    before = copy.deepcopy(payload)

    layout_anthropic_request(payload, min_cacheable_tokens=0)

    assert payload == before


def test_the_next_turn_repeats_the_bytes_up_to_the_earlier_breakpoint() -> None:
    first = conversation()
    second = conversation()
    second["messages"] += [
        {"role": "assistant", "content": "It says goodbye."},
        {"role": "user", "content": "Thanks."},
    ]

    one = layout_anthropic_request(first, min_cacheable_tokens=0).payload
    two = layout_anthropic_request(second, min_cacheable_tokens=0).payload

    prefix = ("tools", "system")
    assert json.dumps([one[k] for k in prefix]) == json.dumps([two[k] for k in prefix])
    assert json.dumps(one["messages"][2]) == json.dumps(two["messages"][2])
    assert two["messages"][2]["content"][0]["cache_control"] == EPHEMERAL


def test_thinking_and_empty_text_blocks_are_never_marked() -> None:
    payload = conversation()
    payload["messages"][2]["content"] = [text("And b.txt?"), text("")]
    payload["messages"][1]["content"] = [
        {"type": "thinking", "thinking": "hmm", "signature": "s"}
    ]

    layout = layout_anthropic_request(payload, min_cacheable_tokens=0)

    assert ("messages", 2, 0) in markers(layout.payload)
    assert ("messages", 2, 1) not in markers(layout.payload)


@pytest.mark.parametrize(
    ("model", "minimum"),
    [
        ("claude-opus-5", 512),
        ("claude-sonnet-4-6", 1024),
        ("claude-sonnet-4-5-20250929", 1024),
        ("us.anthropic.claude-sonnet-4-20250514-v1:0", 1024),
        ("claude-opus-4-1@20250805", 1024),
        ("claude-3-5-haiku-20241022", 2048),
        ("claude-3-haiku-20240307", 2048),
        ("claude-mythos-preview", 2048),
        ("claude-opus-4-5", 4096),
        ("claude-haiku-4-5-latest", 4096),
        ("claude-3-7-sonnet-20250219", None),
        ("gpt-5.4", None),
    ],
)
def test_minimum_cacheable_length_per_model(model: str, minimum: int | None) -> None:
    assert anthropic_min_cacheable_tokens(model) == minimum


MARKER = st.sampled_from([None, EPHEMERAL, ONE_HOUR])


def maybe_marked(value: dict[str, Any], marker: dict[str, str] | None) -> Any:
    return value if marker is None else {**value, "cache_control": marker}


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    """Requests with tools, system blocks and turns, markers anywhere."""
    names = draw(st.lists(st.sampled_from("abcdef"), max_size=4))
    tools = [maybe_marked(tool(n), draw(MARKER)) for n in names]
    system = [
        maybe_marked(text("s" * 20), draw(MARKER))
        for _ in range(draw(st.integers(0, 3)))
    ]
    messages = []
    for turn in range(draw(st.integers(0, 6))):
        blocks = [
            maybe_marked(
                text(draw(st.sampled_from(["", "word", "words " * 9]))), draw(MARKER)
            )
            for _ in range(draw(st.integers(1, 3)))
        ]
        messages.append({"role": ("user", "assistant")[turn % 2], "content": blocks})
    payload: dict[str, Any] = {
        "model": "claude-sonnet-4-6",
        "tools": tools,
        "messages": messages,
    }
    if system:
        payload["system"] = system
    if draw(st.booleans()):
        payload["cache_control"] = EPHEMERAL
    return payload


@settings(max_examples=200, deadline=None)
@given(payloads(), st.sampled_from(["5m", "1h"]), st.integers(0, 60))
def test_any_request_ends_with_at_most_four_breakpoints(
    payload: dict[str, Any], ttl: Any, minimum: int
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheLayoutWarning)
        layout = layout_anthropic_request(
            payload, ttl=ttl, min_cacheable_tokens=minimum
        )

    assert len(markers(layout.payload)) <= 4
    assert len(layout.breakpoints) <= 4
