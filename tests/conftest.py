"""Shared test set-up: offline tokenizers, no stray provider keys."""

from __future__ import annotations

import os
from pathlib import Path

_SHARED_TIKTOKEN_CACHE = (
    Path(__file__).resolve().parents[2] / "shared" / "tiktoken-cache"
)

if _SHARED_TIKTOKEN_CACHE.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_SHARED_TIKTOKEN_CACHE)

# The suite never talks to a real provider, whatever the developer's shell holds.
for _name in (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_API_BASE",
):
    os.environ.pop(_name, None)
os.environ.setdefault("LANGSMITH_TRACING", "false")
